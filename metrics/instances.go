package metrics

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/novalet/novalet/virt"
)

// StatsSource reports the statistics of every instance domain on the host; *virt.Conn and
// virttest.Fake implement it. It is called at scrape time with a deadline.
type StatsSource interface {
	DomainStats(ctx context.Context) ([]virt.DomainStats, error)
}

// MetadataSource reads back the nova metadata a domain was defined with; a StatsSource that
// also implements it (*virt.Conn, virttest.Fake) gives novalet_instance_info the instance's
// display name, flavor, project and user.
type MetadataSource interface {
	Metadata(ctx context.Context, uuid string) (virt.InstanceMetadata, error)
}

// instanceStats is one scrape's statistics with each domain's descriptive labels.
type instanceStats struct {
	stats  []virt.DomainStats
	labels map[string]instanceLabels
}

// instanceLabels are novalet_instance_info's labels from the domain's nova metadata.
type instanceLabels struct{ displayName, flavor, projectID, userID string }

// labelCache keeps each domain's labels: the metadata is read once per domain (and again only
// when it could not be read), not at every scrape.
type labelCache struct {
	mu     sync.Mutex
	labels map[string]instanceLabels
}

func (c *labelCache) fetch(ctx context.Context, src StatsSource) (instanceStats, error) {
	stats, err := src.DomainStats(ctx)
	out := instanceStats{stats: stats, labels: map[string]instanceLabels{}}
	md, ok := src.(MetadataSource)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.labels == nil {
		c.labels = map[string]instanceLabels{}
	}
	for _, s := range stats {
		l, known := c.labels[s.UUID]
		if !known && ok && ctx.Err() == nil {
			if m, err := md.Metadata(ctx, s.UUID); err == nil {
				l = instanceLabels{displayName: m.Name, flavor: m.Flavor.Name, projectID: m.Owner.Project.UUID, userID: m.Owner.User.UUID}
				c.labels[s.UUID] = l
			}
		}
		out.labels[s.UUID] = l
	}
	for id := range c.labels { // domains gone: forget them
		if _, ok := out.labels[id]; !ok {
			delete(c.labels, id)
		}
	}
	return out, err
}

// WatchInstances adds the per-instance series, read from src at every scrape under the
// scrape timeout. When src does not answer in time the scrape goes on without them and
// novalet_scrape_failures_total{collector="instances"} counts it.
func (m *Metrics) WatchInstances(src StatsSource) error {
	if m == nil {
		return nil
	}
	if src == nil {
		return errNilSource
	}
	return m.reg.Register(newInstanceCollector(src, m.scrapeTimeout, m.log))
}

// Per-instance series carry only instance_uuid (and device or interface);
// novalet_instance_info carries the descriptive labels, for joins.
var (
	uuidLabel   = []string{"instance_uuid"}
	deviceLabel = []string{"instance_uuid", "device"}
	nicLabel    = []string{"instance_uuid", "interface"}
)

type instanceCollector struct {
	probe      *probe[instanceStats]
	log        *slog.Logger
	failures   *prometheus.CounterVec
	incomplete prometheus.Counter

	info, vcpus, cpu, vcpuWait, vcpuDelay            *prometheus.Desc
	memConfigured, memResident, memAvailable         *prometheus.Desc
	diskRead, diskWrite, diskReadReqs, diskWriteReqs *prometheus.Desc
	rxBytes, rxPackets, rxErrors, rxDrops            *prometheus.Desc
	txBytes, txPackets, txErrors, txDrops            *prometheus.Desc
}

func newInstanceCollector(src StatsSource, timeout time.Duration, log *slog.Logger) *instanceCollector {
	d := func(name, help string, labels []string) *prometheus.Desc {
		return prometheus.NewDesc("novalet_instance_"+name, help, labels, nil)
	}
	cache := &labelCache{}
	return &instanceCollector{
		probe:    newProbe(timeout, func(ctx context.Context) (instanceStats, error) { return cache.fetch(ctx, src) }),
		log:      log,
		failures: newFailureCounter("instances"),
		incomplete: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "novalet_instance_stats_incomplete_total",
			Help: "Instances reported without memory and disk counters because another job held the domain when the stats were read.",
		}),
		info: d("info", "Always 1 per instance domain on the host; the labels describe it.",
			[]string{"instance_uuid", "name", "state", "display_name", "flavor", "project_id", "user_id"}),
		vcpus:         d("vcpus", "vCPUs online in the instance.", uuidLabel),
		cpu:           d("cpu_seconds_total", "CPU time used by the instance's QEMU process since it started.", uuidLabel),
		vcpuWait:      d("vcpu_wait_seconds_total", "Time the instance's vCPUs waited on I/O, summed over vCPUs.", uuidLabel),
		vcpuDelay:     d("vcpu_delay_seconds_total", "Time the instance's vCPUs were runnable but waited for a host CPU (steal), summed over vCPUs.", uuidLabel),
		memConfigured: d("memory_configured_bytes", "Memory configured for the instance.", uuidLabel),
		memResident:   d("memory_resident_bytes", "Resident memory of the instance's QEMU process on the host.", uuidLabel),
		memAvailable:  d("memory_available_bytes", "Memory the guest sees, as its balloon driver reports it.", uuidLabel),
		diskRead:      d("disk_read_bytes_total", "Bytes read from the instance's disk.", deviceLabel),
		diskWrite:     d("disk_write_bytes_total", "Bytes written to the instance's disk.", deviceLabel),
		diskReadReqs:  d("disk_read_requests_total", "Read requests to the instance's disk.", deviceLabel),
		diskWriteReqs: d("disk_write_requests_total", "Write requests to the instance's disk.", deviceLabel),
		rxBytes:       d("network_receive_bytes_total", "Bytes the instance received on the interface.", nicLabel),
		rxPackets:     d("network_receive_packets_total", "Packets the instance received on the interface.", nicLabel),
		rxErrors:      d("network_receive_errors_total", "Receive errors on the instance's interface.", nicLabel),
		rxDrops:       d("network_receive_packets_dropped_total", "Received packets dropped on the instance's interface.", nicLabel),
		txBytes:       d("network_transmit_bytes_total", "Bytes the instance sent on the interface.", nicLabel),
		txPackets:     d("network_transmit_packets_total", "Packets the instance sent on the interface.", nicLabel),
		txErrors:      d("network_transmit_errors_total", "Transmit errors on the instance's interface.", nicLabel),
		txDrops:       d("network_transmit_packets_dropped_total", "Sent packets dropped on the instance's interface.", nicLabel),
	}
}

// Describe implements prometheus.Collector.
func (c *instanceCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.info, c.vcpus, c.cpu, c.vcpuWait, c.vcpuDelay, c.memConfigured, c.memResident,
		c.memAvailable, c.diskRead, c.diskWrite, c.diskReadReqs, c.diskWriteReqs, c.rxBytes,
		c.rxPackets, c.rxErrors, c.rxDrops, c.txBytes, c.txPackets, c.txErrors, c.txDrops} {
		ch <- d
	}
	c.failures.Describe(ch)
	c.incomplete.Describe(ch)
}

// Collect implements prometheus.Collector. The failure counters are sent last, after this
// scrape's outcome is counted.
func (c *instanceCollector) Collect(ch chan<- prometheus.Metric) {
	got, err := c.probe.get()
	stats := got.stats
	if err != nil {
		c.failures.WithLabelValues(failureReason(err)).Inc()
		c.log.Warn("instance stats missing from this scrape", "error", err)
	}
	seen := make(map[string]bool, len(stats))
	for i := range stats {
		s := &stats[i]
		if s.UUID == "" || seen[s.UUID] {
			continue // two series sets for one uuid would fail the whole scrape
		}
		seen[s.UUID] = true
		if s.Incomplete {
			c.incomplete.Inc()
		}
		c.collectOne(ch, s, got.labels[s.UUID])
	}
	c.failures.Collect(ch)
	c.incomplete.Collect(ch)
}

func (c *instanceCollector) collectOne(ch chan<- prometheus.Metric, s *virt.DomainStats, l instanceLabels) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		sendConst(ch, d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		sendConst(ch, d, prometheus.CounterValue, float64(v), labels...)
	}
	id := s.UUID
	gauge(c.info, 1, id, s.Name, s.State.String(), l.displayName, l.flavor, l.projectID, l.userID)
	// A value libvirt did not report is left out rather than shown as 0.
	if s.VCPUs > 0 {
		gauge(c.vcpus, float64(s.VCPUs), id)
	}
	if s.CPUTime > 0 {
		sendConst(ch, c.cpu, prometheus.CounterValue, s.CPUTime.Seconds(), id)
	}
	if s.VCPUWait > 0 {
		sendConst(ch, c.vcpuWait, prometheus.CounterValue, s.VCPUWait.Seconds(), id)
	}
	if s.VCPUDelay > 0 {
		sendConst(ch, c.vcpuDelay, prometheus.CounterValue, s.VCPUDelay.Seconds(), id)
	}
	if s.MemoryMax > 0 {
		gauge(c.memConfigured, float64(s.MemoryMax), id)
	}
	if s.MemoryRSS > 0 {
		gauge(c.memResident, float64(s.MemoryRSS), id)
	}
	if s.MemoryAvailable > 0 {
		gauge(c.memAvailable, float64(s.MemoryAvailable), id)
	}
	devs := map[string]bool{}
	for _, d := range s.Disks {
		if d.Device == "" || devs[d.Device] {
			continue
		}
		devs[d.Device] = true
		counter(c.diskRead, d.ReadBytes, id, d.Device)
		counter(c.diskWrite, d.WriteBytes, id, d.Device)
		counter(c.diskReadReqs, d.ReadReqs, id, d.Device)
		counter(c.diskWriteReqs, d.WriteReqs, id, d.Device)
	}
	nics := map[string]bool{}
	for _, n := range s.NICs {
		if n.Device == "" || nics[n.Device] {
			continue
		}
		nics[n.Device] = true
		counter(c.rxBytes, n.RxBytes, id, n.Device)
		counter(c.rxPackets, n.RxPackets, id, n.Device)
		counter(c.rxErrors, n.RxErrors, id, n.Device)
		counter(c.rxDrops, n.RxDrops, id, n.Device)
		counter(c.txBytes, n.TxBytes, id, n.Device)
		counter(c.txPackets, n.TxPackets, id, n.Device)
		counter(c.txErrors, n.TxErrors, id, n.Device)
		counter(c.txDrops, n.TxDrops, id, n.Device)
	}
}

// sendConst sends a constant metric, dropping it when a label value is not valid UTF-8: a
// source's odd device name must not panic the scrape.
func sendConst(ch chan<- prometheus.Metric, d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) {
	if m, err := prometheus.NewConstMetric(d, t, v, labels...); err == nil {
		ch <- m
	}
}
