package metrics

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/novalet/novalet/virt"
)

// errNilSource is a Watch method's answer to a nil source.
var errNilSource = errors.New("metrics: nil source")

// errProbeTimeout is a scrape-time source that did not answer before its deadline.
var errProbeTimeout = errors.New("metrics: source did not answer in time")

// probe calls a scrape-time source under a deadline with at most one call in flight. A
// scrape that finds the previous call still running waits for that call instead of starting
// another, so a source that ignores its context (a cgo call cannot be interrupted) costs one
// goroutine, not one per scrape. The scrape stops waiting at the deadline either way.
type probe[T any] struct {
	timeout time.Duration
	fetch   func(context.Context) (T, error)

	mu      sync.Mutex
	pending *probeCall[T]
}

type probeCall[T any] struct {
	done chan struct{} // closed once v and err are set
	v    T
	err  error
}

func newProbe[T any](timeout time.Duration, fetch func(context.Context) (T, error)) *probe[T] {
	return &probe[T]{timeout: timeout, fetch: fetch}
}

// get returns the source's answer, or errProbeTimeout when none came within the timeout.
func (p *probe[T]) get() (T, error) {
	p.mu.Lock()
	c := p.pending
	if c == nil {
		c = &probeCall[T]{done: make(chan struct{})}
		p.pending = c
		go p.run(c)
	}
	p.mu.Unlock()

	timer := time.NewTimer(p.timeout)
	defer timer.Stop()
	select {
	case <-c.done:
		return c.v, c.err
	case <-timer.C:
		var zero T
		return zero, errProbeTimeout
	}
}

func (p *probe[T]) run(c *probeCall[T]) {
	ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
	defer cancel()
	defer func() {
		if r := recover(); r != nil { // a panicking source must not take the agent down
			c.err = fmt.Errorf("metrics: source panicked: %v", r)
		}
		p.mu.Lock()
		p.pending = nil
		p.mu.Unlock()
		close(c.done)
	}()
	c.v, c.err = p.fetch(ctx)
}

// failureReason is the "reason" label of a failed source call.
func failureReason(err error) string {
	if errors.Is(err, errProbeTimeout) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, virt.ErrTimeout) {
		return "timeout"
	}
	return "error"
}

// newFailureCounter is the novalet_scrape_failures_total family as one scrape-time collector
// emits it: every collector describes the family with its own constant "collector" label.
func newFailureCounter(collector string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name:        "novalet_scrape_failures_total",
		Help:        "Scrape-time sources that failed or missed their deadline, by collector and reason; their series are missing from that scrape.",
		ConstLabels: prometheus.Labels{"collector": collector},
	}, []string{"reason"})
	// Both series exist from the start, so rate() sees the first failure.
	c.WithLabelValues("timeout")
	c.WithLabelValues("error")
	return c
}
