package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Inventory is one resource class of the compute node's provider as novalet last reported it
// to Placement, in Placement's units (MEMORY_MB in MiB, DISK_GB in GiB).
type Inventory struct {
	Total           int64
	Reserved        int64
	AllocationRatio float64
}

// placementUnit converts a resource class's Placement unit to Prometheus' base unit.
var placementUnit = map[string]float64{
	"MEMORY_MB": 1 << 20,
	"DISK_GB":   1 << 30,
}

// maxResourceClasses bounds the resource_class label; a host reports a handful.
const maxResourceClasses = 64

// WatchInventory adds the host inventory: at every scrape, last returns the inventory by
// resource class ("VCPU", "MEMORY_MB", "DISK_GB", ...) as last reported to Placement, nil
// before the first report. It must not block: it reads the reporter's memory, not Placement.
func (m *Metrics) WatchInventory(last func() map[string]Inventory) error {
	if m == nil {
		return nil
	}
	if last == nil {
		return errNilSource
	}
	return m.reg.Register(newInventoryCollector(last))
}

type inventoryCollector struct {
	last                      func() map[string]Inventory
	capacity, reserved, ratio *prometheus.Desc
}

func newInventoryCollector(last func() map[string]Inventory) *inventoryCollector {
	rc := []string{"resource_class"}
	return &inventoryCollector{
		last: last,
		capacity: prometheus.NewDesc("novalet_host_inventory_capacity",
			"Total of the resource class reported to Placement, in base units: bytes for MEMORY_MB and DISK_GB.", rc, nil),
		reserved: prometheus.NewDesc("novalet_host_inventory_reserved",
			"Reserved amount of the resource class reported to Placement, in base units: bytes for MEMORY_MB and DISK_GB.", rc, nil),
		ratio: prometheus.NewDesc("novalet_host_inventory_allocation_ratio",
			"Allocation ratio of the resource class reported to Placement.", rc, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *inventoryCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.capacity
	ch <- c.reserved
	ch <- c.ratio
}

// Collect implements prometheus.Collector.
func (c *inventoryCollector) Collect(ch chan<- prometheus.Metric) {
	inv := c.last()
	n := 0
	for class, i := range inv {
		if !isResourceClass(class) || n >= maxResourceClasses {
			continue
		}
		n++
		unit := placementUnit[class]
		if unit == 0 {
			unit = 1
		}
		sendConst(ch, c.capacity, prometheus.GaugeValue, float64(i.Total)*unit, class)
		sendConst(ch, c.reserved, prometheus.GaugeValue, float64(i.Reserved)*unit, class)
		sendConst(ch, c.ratio, prometheus.GaugeValue, i.AllocationRatio, class)
	}
}

// isResourceClass accepts Placement's resource class syntax, ^[A-Z0-9_]+$ (at most 255).
func isResourceClass(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
