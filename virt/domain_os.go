package virt

import "libvirt.org/go/libvirtxml"

// configureOS boots a full-virtualised x86_64 guest from its first disk, with the SMBIOS table
// from <sysinfo>.
func configureOS(s *DomainSpec, d *libvirtxml.Domain) error {
	d.OS = &libvirtxml.DomainOS{
		Type:        &libvirtxml.DomainOSType{Arch: guestArch, Machine: s.MachineType, Type: "hvm"},
		BootDevices: []libvirtxml.DomainBootDevice{{Dev: "hd"}},
		SMBios:      &libvirtxml.DomainSMBios{Mode: "sysinfo"},
	}
	configureRescueBoot(s, d)
	return nil
}
