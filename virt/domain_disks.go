package virt

import (
	"path/filepath"
	"strings"

	"libvirt.org/go/libvirtxml"
)

// File names inside the instance directory, as nova's image backend lays them out.
const (
	DiskFile        = "disk"        // root disk: qcow2 overlay on _base
	EphemeralFile   = "disk.local"  // flavor ephemeral disk
	SwapFile        = "disk.swap"   // flavor swap disk
	ConfigDriveFile = "disk.config" // config drive ISO

	// A legacy rescue's files (nova's _create_image(suffix=".rescue")), removed by unrescue.
	RescueDiskFile        = "disk.rescue"        // rescue boot disk: qcow2 overlay on the rescue image's base
	RescueConfigDriveFile = "disk.config.rescue" // config drive carrying the rescue password
)

// RootDiskTarget is the device the guest sees its root disk as: the first virtio disk.
const RootDiskTarget = "vda"

// configureDisks attaches the local disks in nova's blockinfo order: root vda, ephemeral vdb,
// swap on the next virtio name, then the config drive as a read-only cdrom on the machine's
// cdrom bus (ide on pc, sata on q35).
//
// A legacy rescue (blockinfo._get_rescue_disk_mapping) has the rescue disk as vda, the boot
// disk, the instance's root disk as vdb, no ephemeral or swap disk, and the rescue config
// drive in the config drive's place. A stable device rescue has the instance's own disks and
// disk.rescue after them (appendStableRescueDisk).
func configureDisks(s *DomainSpec, d *libvirtxml.Domain) error {
	virtio := 0
	next := func() string { dev := "vd" + string(rune('a'+virtio)); virtio++; return dev }
	configDrive := ConfigDriveFile
	if s.Rescue {
		d.Devices.Disks = append(d.Devices.Disks, s.fileDisk(RescueDiskFile, next()), s.fileDisk(DiskFile, next()))
		configDrive = RescueConfigDriveFile
	} else {
		d.Devices.Disks = append(d.Devices.Disks, s.fileDisk(DiskFile, next())) // RootDiskTarget
		if s.Flavor.EphemeralGB > 0 {
			d.Devices.Disks = append(d.Devices.Disks, s.fileDisk(EphemeralFile, next()))
		}
		if s.Flavor.SwapMB > 0 {
			d.Devices.Disks = append(d.Devices.Disks, s.fileDisk(SwapFile, next()))
		}
	}
	if s.ConfigDrive {
		bus, dev := "ide", "hda"
		if strings.Contains(s.MachineType, MachineQ35) {
			bus, dev = "sata", "sda"
		}
		d.Devices.Disks = append(d.Devices.Disks, libvirtxml.DomainDisk{
			Device:   "cdrom",
			Driver:   &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "raw", Cache: s.DiskCacheMode},
			Source:   &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: filepath.Join(s.InstanceDir, configDrive)}},
			Target:   &libvirtxml.DomainDiskTarget{Dev: dev, Bus: bus},
			ReadOnly: &libvirtxml.DomainDiskReadOnly{},
		})
	}
	if s.StableRescue != nil {
		return appendStableRescueDisk(s, d)
	}
	return nil
}

// fileDisk is a qcow2 virtio disk backed by a file in the instance directory.
func (s *DomainSpec) fileDisk(name, dev string) libvirtxml.DomainDisk {
	return libvirtxml.DomainDisk{
		Device: "disk",
		Driver: &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "qcow2", Cache: s.DiskCacheMode},
		Source: &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: filepath.Join(s.InstanceDir, name)}},
		Target: &libvirtxml.DomainDiskTarget{Dev: dev, Bus: "virtio"},
	}
}
