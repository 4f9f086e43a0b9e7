package virt

import "libvirt.org/go/libvirtxml"

// SMBIOS system identity nova gives its guests (nova/version.py vendor and product strings).
// Cloud-init and other tools inside the guest detect OpenStack by these.
const (
	smbiosManufacturer = "OpenStack Foundation"
	smbiosProduct      = "OpenStack Nova"
	smbiosFamily       = "Virtual Machine"
)

// configureSysinfo adds the SMBIOS system table. The serial is the instance uuid: nova's
// [libvirt] sysinfo_serial default "unique".
func configureSysinfo(s *DomainSpec, d *libvirtxml.Domain) error {
	d.SysInfo = []libvirtxml.DomainSysInfo{{SMBIOS: &libvirtxml.DomainSysInfoSMBIOS{
		System: &libvirtxml.DomainSysInfoSystem{Entry: []libvirtxml.DomainSysInfoEntry{
			{Name: "manufacturer", Value: smbiosManufacturer},
			{Name: "product", Value: smbiosProduct},
			{Name: "version", Value: s.NovaVersion},
			{Name: "serial", Value: s.UUID},
			{Name: "uuid", Value: s.UUID},
			{Name: "family", Value: smbiosFamily},
		}},
	}}}
	return nil
}
