package virt

import "libvirt.org/go/libvirtxml"

// memStatsPeriod is [libvirt] mem_stats_period_seconds' default: how often the balloon
// driver refreshes the guest memory statistics.
const memStatsPeriod = 10

// configureDevices adds the remaining devices nova gives every qemu/kvm guest: a virtio RNG
// fed from the host's /dev/urandom (flavor hw_rng:allowed defaults to true), the USB
// controller the tablet needs (or none when nothing uses USB), and the memory balloon.
func configureDevices(s *DomainSpec, d *libvirtxml.Domain) error {
	d.Devices.RNGs = append(d.Devices.RNGs, libvirtxml.DomainRNG{
		Model:   "virtio",
		Backend: &libvirtxml.DomainRNGBackend{Random: &libvirtxml.DomainRNGBackendRandom{Device: "/dev/urandom"}},
	})
	usb := libvirtxml.DomainController{Type: "usb", Index: new(uint)}
	if len(d.Devices.Inputs) == 0 {
		usb.Model = "none" // x86 machines get a USB controller by default; nova turns it off
	}
	d.Devices.Controllers = append(d.Devices.Controllers, usb)
	d.Devices.MemBalloon = &libvirtxml.DomainMemBalloon{
		Model: "virtio",
		Stats: &libvirtxml.DomainMemBalloonStats{Period: memStatsPeriod},
	}
	return nil
}
