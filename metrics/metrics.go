// Package metrics owns what novalet exposes to Prometheus: its own registry with the agent's,
// the image cache's and the taps' counters (recorded through the methods of Metrics), and
// collectors that read the image cache, the taps, the host inventory and every instance's
// libvirt statistics at scrape time, each under a deadline so one stuck source cannot stall
// the scrape.
//
// Names follow Prometheus conventions: the novalet_ prefix, base units, counters ending in
// _total, label values from bounded sets. README.md in this directory lists them.
package metrics

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/novalet/novalet/virt"
)

// DefaultScrapeTimeout bounds each scrape-time source (instance stats, image cache, taps):
// well under Prometheus' default 10 s scrape timeout.
const DefaultScrapeTimeout = 3 * time.Second

// Options configure New; the zero value works.
type Options struct {
	// Version is novalet's version for novalet_build_info ("dev" when empty).
	Version string
	// ScrapeTimeout bounds each scrape-time source; 0 means DefaultScrapeTimeout.
	ScrapeTimeout time.Duration
	// Logger receives scrape-time source failures and HTTP server errors; nil means
	// slog.Default().
	Logger *slog.Logger
	// Now is the clock for last-success timestamps; nil means time.Now. For tests.
	Now func() time.Time
}

// Metrics is novalet's registry with its recorders. A nil *Metrics records nothing, so a
// component may be built without metrics. Methods are safe for concurrent use.
type Metrics struct {
	reg           *prometheus.Registry
	log           *slog.Logger
	now           func() time.Time
	scrapeTimeout time.Duration

	agent  agentMetrics
	image  imageMetrics
	tap    tapMetrics
	health health
}

// New returns a Metrics with its own registry holding the Go runtime and process collectors,
// novalet_build_info and the recorders' series.
func New(opts Options) *Metrics {
	m := &Metrics{
		reg:           prometheus.NewRegistry(),
		log:           opts.Logger,
		now:           opts.Now,
		scrapeTimeout: opts.ScrapeTimeout,
	}
	if m.log == nil {
		m.log = slog.Default()
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.scrapeTimeout <= 0 {
		m.scrapeTimeout = DefaultScrapeTimeout
	}
	version := opts.Version
	if version == "" {
		version = "dev"
	}
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "novalet_build_info",
		Help:        "Always 1; the labels say which novalet build runs.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()},
	})
	buildInfo.Set(1)
	m.agent = newAgentMetrics()
	m.image = newImageMetrics()
	m.tap = newTapMetrics()
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfo,
	)
	m.agent.register(m.reg)
	m.image.register(m.reg)
	m.tap.register(m.reg)
	return m
}

// Registry returns the registry, for tests and for a caller adding collectors of its own.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Result is how a recorded request or operation ended: the "result" label.
type Result string

// The results; callers map their errors with ResultOf, or pick one.
const (
	ResultSuccess  Result = "success"
	ResultError    Result = "error"
	ResultTimeout  Result = "timeout"
	ResultConflict Result = "conflict" // e.g. a Placement generation conflict
)

// ResultOf maps err to a Result: nil is success, a deadline (context's or virt's class) a
// timeout, anything else an error. Callers that know conflicts map them themselves.
func ResultOf(err error) Result {
	switch {
	case err == nil:
		return ResultSuccess
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, virt.ErrTimeout):
		return ResultTimeout
	}
	return ResultError
}

// valid keeps an unknown Result out of the label's value set.
func (r Result) valid() Result {
	switch r {
	case ResultSuccess, ResultError, ResultTimeout, ResultConflict:
		return r
	}
	return ResultError
}
