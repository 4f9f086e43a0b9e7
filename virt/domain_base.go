package virt

import "libvirt.org/go/libvirtxml"

// configureBase sets the domain's identity and size: nova's _get_guest_config head. Memory is
// in KiB (libvirt's default unit), as nova writes it.
func configureBase(s *DomainSpec, d *libvirtxml.Domain) error {
	d.Type = s.VirtType
	d.Name = s.Name
	d.UUID = s.UUID
	d.Memory = &libvirtxml.DomainMemory{Value: uint(s.Flavor.MemoryMB) * 1024}
	d.VCPU = &libvirtxml.DomainVCPU{Value: uint(s.Flavor.VCPUs)}
	return nil
}
