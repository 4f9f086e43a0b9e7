package metrics

import (
	"encoding/json"
	"net/http"
	"sync"
	"time"
)

// health is what /healthz reports, kept beside the gauges the same recorders set.
type health struct {
	mu             sync.Mutex
	loops          func() error
	heartbeatLimit time.Duration
	libvirtSet     bool
	libvirtUp      bool
	brokerSet      bool
	brokerUp       bool
	lastBeat       time.Time
}

// HealthCheck is one row of /healthz.
type HealthCheck struct {
	OK     bool    `json:"ok"`
	Error  string  `json:"error,omitempty"`
	AgeSec float64 `json:"age_seconds,omitempty"`
}

// HealthReport is /healthz's body: an overall status and one check each for the agent's
// loops, the broker, libvirt and the last heartbeat.
type HealthReport struct {
	Status string                 `json:"status"` // "ok" or "failing"
	Checks map[string]HealthCheck `json:"checks"`
}

// WatchHealth turns /healthz on: loops says whether the agent's main loops go round (the
// watchdog's question), and a heartbeat older than heartbeatLimit (nova's service_down_time:
// the service then shows down) fails the check.
func (m *Metrics) WatchHealth(loops func() error, heartbeatLimit time.Duration) {
	if m == nil {
		return
	}
	m.health.mu.Lock()
	defer m.health.mu.Unlock()
	m.health.loops, m.health.heartbeatLimit = loops, heartbeatLimit
}

// Health is the report /healthz serves.
func (m *Metrics) Health() HealthReport {
	h := &m.health
	h.mu.Lock()
	loops, limit := h.loops, h.heartbeatLimit
	libvirtSet, libvirtUp, brokerSet, brokerUp, last := h.libvirtSet, h.libvirtUp, h.brokerSet, h.brokerUp, h.lastBeat
	h.mu.Unlock()
	r := HealthReport{Status: "ok", Checks: map[string]HealthCheck{}}
	add := func(name string, c HealthCheck) {
		if !c.OK {
			r.Status = "failing"
		}
		r.Checks[name] = c
	}
	if loops == nil {
		add("loops", HealthCheck{Error: "the agent has not started"})
	} else if err := loops(); err != nil {
		add("loops", HealthCheck{Error: err.Error()})
	} else {
		add("loops", HealthCheck{OK: true})
	}
	up := func(set, ok bool, what string) HealthCheck {
		switch {
		case !set:
			return HealthCheck{Error: what + " not connected yet"}
		case !ok:
			return HealthCheck{Error: what + " disconnected"}
		}
		return HealthCheck{OK: true}
	}
	add("broker", up(brokerSet, brokerUp, "broker"))
	add("libvirt", up(libvirtSet, libvirtUp, "libvirt"))
	switch {
	case last.IsZero():
		add("heartbeat", HealthCheck{Error: "no heartbeat yet"})
	default:
		age := m.now().Sub(last)
		c := HealthCheck{OK: limit <= 0 || age <= limit, AgeSec: age.Seconds()}
		if !c.OK {
			c.Error = "the last heartbeat is older than service_down_time: the service shows down"
		}
		add("heartbeat", c)
	}
	return r
}

func (m *Metrics) serveHealth(w http.ResponseWriter, _ *http.Request) {
	r := m.Health()
	w.Header().Set("Content-Type", "application/json")
	if r.Status != "ok" {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(r)
}
