package metrics

import (
	"context"
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestTapRecorders(t *testing.T) {
	m := newTestMetrics(t)
	m.TapOperation(TapPlug, ResultSuccess)
	m.TapOperation(TapPlug, ResultSuccess)
	m.TapOperation(TapPlug, ResultError)
	m.TapOperation(TapUnplug, ResultSuccess)
	m.TapOperation(TapOp("bogus"), ResultSuccess) // ignored
	m.OrphanReaped("tap")
	m.OrphanReaped("tap")
	m.OrphanReaped("domain")
	compare(t, m, `
# HELP novalet_tap_operations_total Taps plugged and unplugged, by operation and result.
# TYPE novalet_tap_operations_total counter
novalet_tap_operations_total{operation="plug",result="error"} 1
novalet_tap_operations_total{operation="plug",result="success"} 2
novalet_tap_operations_total{operation="unplug",result="success"} 1
# HELP novalet_orphans_reaped_total Leftovers no instance owns that novalet removed, by kind.
# TYPE novalet_orphans_reaped_total counter
novalet_orphans_reaped_total{kind="domain"} 1
novalet_orphans_reaped_total{kind="tap"} 2
`, "novalet_tap_operations_total", "novalet_orphans_reaped_total")
}

type stubTaps struct {
	n   TapCounts
	err error
}

func (s *stubTaps) TapCounts(context.Context) (TapCounts, error) { return s.n, s.err }

func TestTapCollector(t *testing.T) {
	m := newTestMetrics(t)
	src := &stubTaps{n: TapCounts{Attached: 5, Orphaned: 1}}
	if err := m.WatchTaps(src); err != nil {
		t.Fatal(err)
	}
	compare(t, m, `
# HELP novalet_taps novalet's taps on the host, attached to an instance or orphaned.
# TYPE novalet_taps gauge
novalet_taps{state="attached"} 5
novalet_taps{state="orphaned"} 1
`, "novalet_taps")
	src.err = fmt.Errorf("netlink: %w", context.DeadlineExceeded)
	if n := testutil.CollectAndCount(m.Registry(), "novalet_taps"); n != 0 {
		t.Errorf("%d tap series from a failing source, want none", n)
	}
	if got := scrapeFailures(t, m, "taps", "timeout"); got != 2 { // both scrapes above
		t.Errorf(`failures{collector="taps",reason="timeout"} = %v, want 2`, got)
	}
}

func TestInventoryCollector(t *testing.T) {
	m := newTestMetrics(t)
	var inv map[string]Inventory // nothing reported yet
	if err := m.WatchInventory(func() map[string]Inventory { return inv }); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(m.Registry(), "novalet_host_inventory_capacity"); n != 0 {
		t.Errorf("%d inventory series before the first report", n)
	}
	inv = map[string]Inventory{
		"VCPU":      {Total: 16, Reserved: 2, AllocationRatio: 4},
		"MEMORY_MB": {Total: 32768, Reserved: 512, AllocationRatio: 1.5},
		"DISK_GB":   {Total: 100, Reserved: 1, AllocationRatio: 1},
		"bad class": {Total: 1},
	}
	compare(t, m, `
# HELP novalet_host_inventory_capacity Total of the resource class reported to Placement, in base units: bytes for MEMORY_MB and DISK_GB.
# TYPE novalet_host_inventory_capacity gauge
novalet_host_inventory_capacity{resource_class="DISK_GB"} 1.073741824e+11
novalet_host_inventory_capacity{resource_class="MEMORY_MB"} 3.4359738368e+10
novalet_host_inventory_capacity{resource_class="VCPU"} 16
# HELP novalet_host_inventory_reserved Reserved amount of the resource class reported to Placement, in base units: bytes for MEMORY_MB and DISK_GB.
# TYPE novalet_host_inventory_reserved gauge
novalet_host_inventory_reserved{resource_class="DISK_GB"} 1.073741824e+09
novalet_host_inventory_reserved{resource_class="MEMORY_MB"} 5.36870912e+08
novalet_host_inventory_reserved{resource_class="VCPU"} 2
# HELP novalet_host_inventory_allocation_ratio Allocation ratio of the resource class reported to Placement.
# TYPE novalet_host_inventory_allocation_ratio gauge
novalet_host_inventory_allocation_ratio{resource_class="DISK_GB"} 1
novalet_host_inventory_allocation_ratio{resource_class="MEMORY_MB"} 1.5
novalet_host_inventory_allocation_ratio{resource_class="VCPU"} 4
`, "novalet_host_inventory_capacity", "novalet_host_inventory_reserved", "novalet_host_inventory_allocation_ratio")
}
