package virt

import (
	"reflect"
	"testing"
	"time"

	"libvirt.org/go/libvirt"
)

func TestConvertDomainStats(t *testing.T) {
	const id, name = "6a7c1b2e-5f3d-4c8a-9e0f-1a2b3c4d5e6f", "instance-0000002a"
	running := &libvirt.DomainStatsState{StateSet: true, State: libvirt.DOMAIN_RUNNING}
	tests := []struct {
		name string
		rec  libvirt.DomainStats
		want DomainStats
	}{{
		name: "running, every group",
		rec: libvirt.DomainStats{
			State: running,
			Cpu:   &libvirt.DomainStatsCPU{TimeSet: true, Time: 2_500_000_000},
			Balloon: &libvirt.DomainStatsBalloon{
				MaximumSet: true, Maximum: 131072, RssSet: true, Rss: 65536, AvailableSet: true, Available: 120000,
			},
			Vcpu: []libvirt.DomainStatsVcpu{
				{StateSet: true, State: libvirt.VCPU_RUNNING, WaitSet: true, Wait: 300, DelaySet: true, Delay: 7000},
				{StateSet: true, State: libvirt.VCPU_BLOCKED, WaitSet: true, Wait: 200, DelaySet: true, Delay: 3000},
				{StateSet: true, State: libvirt.VCPU_OFFLINE}, // hot-pluggable, not plugged
			},
			Block: []libvirt.DomainStatsBlock{
				{NameSet: true, Name: "vda", RdBytesSet: true, RdBytes: 1000, WrBytesSet: true, WrBytes: 2000,
					RdReqsSet: true, RdReqs: 10, WrReqsSet: true, WrReqs: 20},
				{NameSet: true, Name: "hdd", CapacitySet: true, Capacity: 1 << 20}, // sizes only
			},
			Net: []libvirt.DomainStatsNet{{
				NameSet: true, Name: "tap1234", RxBytesSet: true, RxBytes: 1, RxPktsSet: true, RxPkts: 2,
				RxErrsSet: true, RxErrs: 3, RxDropSet: true, RxDrop: 4, TxBytesSet: true, TxBytes: 5,
				TxPktsSet: true, TxPkts: 6, TxErrsSet: true, TxErrs: 7, TxDropSet: true, TxDrop: 8,
			}},
		},
		want: DomainStats{
			UUID: id, Name: name, State: PowerRunning, VCPUs: 2, CPUTime: 2500 * time.Millisecond,
			VCPUWait: 500, VCPUDelay: 10000,
			MemoryMax: 128 << 20, MemoryRSS: 64 << 20, MemoryAvailable: 120000 * 1024,
			Disks: []DiskStats{{Device: "vda", ReadBytes: 1000, WriteBytes: 2000, ReadReqs: 10, WriteReqs: 20}},
			NICs: []NICStats{{Device: "tap1234", RxBytes: 1, RxPackets: 2, RxErrors: 3, RxDrops: 4,
				TxBytes: 5, TxPackets: 6, TxErrors: 7, TxDrops: 8}},
		},
	}, {
		name: "running but busy: no job, no resident set or disk counters",
		rec: libvirt.DomainStats{
			State:   running,
			Cpu:     &libvirt.DomainStatsCPU{TimeSet: true, Time: 1},
			Balloon: &libvirt.DomainStatsBalloon{MaximumSet: true, Maximum: 1024},
			Block:   []libvirt.DomainStatsBlock{{NameSet: true, Name: "vda"}},
		},
		want: DomainStats{UUID: id, Name: name, State: PowerRunning, CPUTime: 1, MemoryMax: 1 << 20, Incomplete: true},
	}, {
		name: "shut off: configuration only, complete",
		rec: libvirt.DomainStats{
			State:   &libvirt.DomainStatsState{StateSet: true, State: libvirt.DOMAIN_SHUTOFF},
			Cpu:     &libvirt.DomainStatsCPU{TimeSet: true, Time: 1_820_000_000}, // not the domain's
			Balloon: &libvirt.DomainStatsBalloon{MaximumSet: true, Maximum: 1024},
			Vcpu:    []libvirt.DomainStatsVcpu{{StateSet: true, State: libvirt.VCPU_OFFLINE}},
		},
		want: DomainStats{UUID: id, Name: name, State: PowerShutdown, MemoryMax: 1 << 20},
	}, {
		name: "nothing reported",
		want: DomainStats{UUID: id, Name: name, State: PowerNoState},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := convertDomainStats(id, name, &tc.rec)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("convertDomainStats:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}
