package virt

import "libvirt.org/go/libvirtxml"

// configureClock keeps the guest clock in UTC (nova uses localtime only for os_type windows,
// which novalet does not model). The timer tuning is nova's _set_kvm_timers: only for kvm,
// where the guest runs at host speed; a TCG guest gets QEMU's defaults, as under nova.
func configureClock(s *DomainSpec, d *libvirtxml.Domain) error {
	d.Clock = &libvirtxml.DomainClock{Offset: "utc"}
	if s.VirtType == VirtTypeKVM {
		d.Clock.Timer = []libvirtxml.DomainTimer{
			{Name: "pit", TickPolicy: "delay"},
			{Name: "rtc", TickPolicy: "catchup"},
			{Name: "hpet", Present: "no"}, // image hw_time_hpet defaults to false
		}
	}
	return nil
}
