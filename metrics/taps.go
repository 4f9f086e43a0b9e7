package metrics

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TapOp is what was done to a tap: the "operation" label of novalet_tap_operations_total.
type TapOp string

// The tap operations.
const (
	TapPlug   TapOp = "plug"
	TapUnplug TapOp = "unplug"
)

// maxOrphanKinds bounds the "kind" label (tap, domain, instance directory, ...).
const maxOrphanKinds = 16

type tapMetrics struct {
	ops    *prometheus.CounterVec
	reaped *prometheus.CounterVec
	kept   *prometheus.CounterVec
	kinds  *labelGuard
	// reasons bounds the "reason" label of novalet_orphans_kept_total.
	reasons *labelGuard
}

func newTapMetrics() tapMetrics {
	return tapMetrics{
		ops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "novalet_tap_operations_total",
			Help: "Taps plugged and unplugged, by operation and result.",
		}, []string{"operation", "result"}),
		reaped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "novalet_orphans_reaped_total",
			Help: "Leftovers no instance owns that novalet removed, by kind.",
		}, []string{"kind"}),
		kept: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "novalet_orphans_kept_total",
			Help: "Leftovers a reaper left in place because it could not be sure no instance owns them, by kind and reason.",
		}, []string{"kind", "reason"}),
		kinds:   newLabelGuard(maxOrphanKinds),
		reasons: newLabelGuard(maxOrphanKinds),
	}
}

func (t *tapMetrics) register(reg prometheus.Registerer) {
	reg.MustRegister(t.ops, t.reaped, t.kept)
}

// TapOperation counts one plug or unplug of a tap.
func (m *Metrics) TapOperation(op TapOp, result Result) {
	if m == nil || (op != TapPlug && op != TapUnplug) {
		return
	}
	m.tap.ops.WithLabelValues(string(op), string(result.valid())).Inc()
}

// OrphanReaped counts one leftover removed; kind is a constant of the caller's ("tap",
// "domain", ...).
func (m *Metrics) OrphanReaped(kind string) {
	if m != nil {
		m.tap.reaped.WithLabelValues(m.tap.kinds.value(kind)).Inc()
	}
}

// OrphanKept counts one leftover a reaper left because it was in doubt; kind and reason are
// constants of the caller's ("tap"/"held_open", "tap_pass"/"census_untrusted", ...).
func (m *Metrics) OrphanKept(kind, reason string) {
	if m != nil {
		m.tap.kept.WithLabelValues(m.tap.kinds.value(kind), m.tap.reasons.value(reason)).Inc()
	}
}

// TapCounts is the host's taps at one moment.
type TapCounts struct {
	Attached int // taps of instances on this host
	Orphaned int // novalet's taps that no instance owns (left for the reaper)
}

// TapSource reports the host's taps; it is called at scrape time with a deadline.
type TapSource interface {
	TapCounts(ctx context.Context) (TapCounts, error)
}

// WatchTaps adds the counts of attached and orphaned taps, read from src at every scrape
// under the scrape timeout.
func (m *Metrics) WatchTaps(src TapSource) error {
	if m == nil {
		return nil
	}
	if src == nil {
		return errNilSource
	}
	return m.reg.Register(newTapCollector(src, m.scrapeTimeout, m.log))
}

type tapCollector struct {
	probe    *probe[TapCounts]
	log      *slog.Logger
	failures *prometheus.CounterVec
	taps     *prometheus.Desc
}

func newTapCollector(src TapSource, timeout time.Duration, log *slog.Logger) *tapCollector {
	return &tapCollector{
		probe:    newProbe(timeout, src.TapCounts),
		log:      log,
		failures: newFailureCounter("taps"),
		taps: prometheus.NewDesc("novalet_taps",
			"novalet's taps on the host, attached to an instance or orphaned.", []string{"state"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *tapCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.taps
	c.failures.Describe(ch)
}

// Collect implements prometheus.Collector.
func (c *tapCollector) Collect(ch chan<- prometheus.Metric) {
	n, err := c.probe.get()
	if err != nil {
		c.failures.WithLabelValues(failureReason(err)).Inc()
		c.log.Warn("tap counts missing from this scrape", "error", err)
	} else {
		sendConst(ch, c.taps, prometheus.GaugeValue, float64(n.Attached), "attached")
		sendConst(ch, c.taps, prometheus.GaugeValue, float64(n.Orphaned), "orphaned")
	}
	c.failures.Collect(ch)
}
