package virt

import "libvirt.org/go/libvirtxml"

// configureCPU sets the guest CPU model and topology. With [libvirt] cpu_mode unset nova uses
// host-model for qemu as well as kvm on x86_64 (libvirt computes a TCG-capable model for qemu);
// "none" keeps only the topology. Nova's default topology puts every vCPU in its own socket.
func configureCPU(s *DomainSpec, d *libvirtxml.Domain) error {
	cpu := &libvirtxml.DomainCPU{
		Match:    "exact",
		Topology: &libvirtxml.DomainCPUTopology{Sockets: s.Flavor.VCPUs, Cores: 1, Threads: 1},
	}
	switch s.CPUMode {
	case "none":
	case "custom":
		cpu.Mode = s.CPUMode
		cpu.Model = &libvirtxml.DomainCPUModel{Value: s.CPUModel}
	default:
		cpu.Mode = s.CPUMode
	}
	d.CPU = cpu
	return nil
}
