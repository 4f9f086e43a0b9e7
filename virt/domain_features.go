package virt

import "libvirt.org/go/libvirtxml"

// configureFeatures enables what nova enables for qemu and kvm x86_64 guests: ACPI (so a
// graceful shutdown reaches the guest), the APIC, and vmcoreinfo (guest crash dumps).
func configureFeatures(s *DomainSpec, d *libvirtxml.Domain) error {
	d.Features = &libvirtxml.DomainFeatureList{
		ACPI:       &libvirtxml.DomainFeature{},
		APIC:       &libvirtxml.DomainFeatureAPIC{},
		VMCoreInfo: &libvirtxml.DomainFeatureState{},
	}
	return nil
}
