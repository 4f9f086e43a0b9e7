package virt

import "libvirt.org/go/libvirtxml"

// configureInterfaces adds one virtio NIC per VIF on the tap netplug created and enslaved
// beforehand. type='ethernet' with managed='no' makes libvirt use that tap as it is and leave it
// in place when the domain stops, so the bridge wiring and the tap's life stay netplug's (nova
// with os-vif's linuxbridge plugin uses type='bridge' and lets libvirt make the tap instead).
func configureInterfaces(s *DomainSpec, d *libvirtxml.Domain) error {
	for _, v := range s.VIFs {
		iface := libvirtxml.DomainInterface{
			MAC:    &libvirtxml.DomainInterfaceMAC{Address: v.MAC},
			Source: &libvirtxml.DomainInterfaceSource{Ethernet: &libvirtxml.DomainInterfaceSourceEthernet{}},
			Target: &libvirtxml.DomainInterfaceTarget{Dev: v.TapName, Managed: "no"},
			Model:  &libvirtxml.DomainInterfaceModel{Type: "virtio"},
		}
		// libvirt would pick vhost-net even for TCG guests; nova forces the userspace backend.
		if s.VirtType == VirtTypeQEMU {
			iface.Driver = &libvirtxml.DomainInterfaceDriver{Name: "qemu"}
		}
		if v.MTU > 0 {
			iface.MTU = &libvirtxml.DomainInterfaceMTU{Size: uint(v.MTU)}
		}
		d.Devices.Interfaces = append(d.Devices.Interfaces, iface)
	}
	return nil
}
