package virt

import "libvirt.org/go/libvirtxml"

// configureGraphics adds the VNC console on an automatic port (read back with VNCPort), a
// virtio video card (nova's Zed default for x86), and a USB tablet so the pointer in a VNC
// viewer tracks the guest's ([DEFAULT] pointer_model usbtablet). Without VNC nova adds none
// of them.
func configureGraphics(s *DomainSpec, d *libvirtxml.Domain) error {
	if s.VNCListen == "" {
		return nil
	}
	d.Devices.Graphics = append(d.Devices.Graphics, libvirtxml.DomainGraphic{
		VNC: &libvirtxml.DomainGraphicVNC{AutoPort: "yes", Listen: s.VNCListen},
	})
	d.Devices.Videos = append(d.Devices.Videos, libvirtxml.DomainVideo{
		Model: libvirtxml.DomainVideoModel{Type: "virtio"},
	})
	d.Devices.Inputs = append(d.Devices.Inputs, libvirtxml.DomainInput{Type: "tablet", Bus: "usb"})
	return nil
}
