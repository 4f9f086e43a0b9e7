package virt

import (
	"fmt"
	"path/filepath"

	"libvirt.org/go/libvirtxml"
)

// A rescue's kernel and ramdisk (nova's _create_image(suffix=".rescue") with kernel_id and
// ramdisk_id), copies of their images' base files, removed by unrescue.
const (
	RescueKernelFile  = "kernel.rescue"
	RescueRamdiskFile = "ramdisk.rescue"
)

// rescueCmdline is nova's os_cmdline for a kernel boot on virt_type qemu and kvm: the root
// device and nova's CONSOLE, plus no_timer_check on qemu.
func rescueCmdline(s *DomainSpec, rootDev string) string {
	cmdline := "root=/dev/" + rootDev + " console=tty0 console=ttyS0 console=hvc0"
	if s.VirtType == VirtTypeQEMU {
		cmdline += " no_timer_check"
	}
	return cmdline
}

// RescueDevice is the extra device of a stable device rescue (nova's
// blockinfo._get_stable_device_rescue_mapping): the instance keeps its own disks where they
// are and gets disk.rescue as one more device, the one it boots from (<boot order='1'/>).
type RescueDevice struct {
	Device string // hw_rescue_device: disk, cdrom, floppy or lun
	Bus    string // the rescue bus the caller resolved: virtio, scsi, ide, usb, fdc or sata
}

// rescueBusPrefix is nova's get_dev_prefix_for_disk_bus; ide has 4 device names
// (get_dev_count_for_disk_bus), the others as many as letters here.
var rescueBusPrefix = map[string]string{"virtio": "vd", "scsi": "sd", "usb": "sd", "sata": "sd", "ide": "hd", "fdc": "fd"}

// rescueDevices are nova's SUPPORTED_DEVICE_TYPES.
var rescueDevices = map[string]bool{"disk": true, "cdrom": true, "floppy": true, "lun": true}

func (r *RescueDevice) validate() error {
	if !rescueDevices[r.Device] {
		return fmt.Errorf("device %q (supported: disk, cdrom, floppy, lun)", r.Device)
	}
	if rescueBusPrefix[r.Bus] == "" {
		return fmt.Errorf("bus %q (supported: virtio, scsi, ide, usb, fdc, sata)", r.Bus)
	}
	return nil
}

// appendStableRescueDisk adds disk.rescue after every other device of the instance, on the
// first device name of its bus that no disk uses (nova's find_disk_dev_for_disk_bus), and
// boots from it.
func appendStableRescueDisk(s *DomainSpec, d *libvirtxml.Domain) error {
	r := s.StableRescue
	prefix := rescueBusPrefix[r.Bus]
	used := map[string]bool{}
	for _, disk := range d.Devices.Disks {
		used[disk.Target.Dev] = true
	}
	limit := 26
	if r.Bus == "ide" {
		limit = 4
	}
	dev := ""
	for i := 0; i < limit && dev == ""; i++ {
		if name := prefix + string(rune('a'+i)); !used[name] {
			dev = name
		}
	}
	if dev == "" {
		return fmt.Errorf("virt: no free %s device name for the rescue disk: %w", r.Bus, ErrInvalid)
	}
	d.Devices.Disks = append(d.Devices.Disks, libvirtxml.DomainDisk{
		Device: r.Device,
		Driver: &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "qcow2", Cache: s.DiskCacheMode},
		Source: &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: filepath.Join(s.InstanceDir, RescueDiskFile)}},
		Target: &libvirtxml.DomainDiskTarget{Dev: dev, Bus: r.Bus},
		Boot:   &libvirtxml.DomainDeviceBoot{Order: 1},
	})
	return nil
}

// configureRescueBoot is nova's _set_guest_for_rescue: a rescue domain has no <boot dev>
// (a stable rescue boots by device order, which libvirt refuses beside <boot dev>), and boots
// kernel.rescue and ramdisk.rescue when the rescue has them. The legacy rescue without a
// kernel keeps <boot dev='hd'/>, what libvirt writes in its place anyway.
func configureRescueBoot(s *DomainSpec, d *libvirtxml.Domain) {
	if s.StableRescue != nil || s.RescueKernel || s.RescueRamdisk {
		d.OS.BootDevices = nil
	}
	if s.RescueKernel {
		d.OS.Kernel = filepath.Join(s.InstanceDir, RescueKernelFile)
		d.OS.Cmdline = rescueCmdline(s, RootDiskTarget)
	}
	if s.RescueRamdisk {
		d.OS.Initrd = filepath.Join(s.InstanceDir, RescueRamdiskFile)
	}
}
