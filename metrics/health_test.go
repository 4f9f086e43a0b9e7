package metrics

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestHealthz(t *testing.T) {
	m := New(Options{Version: "test", Logger: slog.New(slog.DiscardHandler)})
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	m.now = func() time.Time { return now }
	srv := httptest.NewServer(m.Handler())
	t.Cleanup(srv.Close)
	get := func() (int, HealthReport) {
		t.Helper()
		resp, err := http.Get(srv.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r HealthReport
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, r
	}
	// Before the agent runs: failing, every check says why.
	if code, r := get(); code != 503 || r.Status != "failing" || r.Checks["loops"].Error == "" || r.Checks["heartbeat"].Error == "" {
		t.Fatalf("before start: %d %+v", code, r)
	}
	var loopsErr error
	m.WatchHealth(func() error { return loopsErr }, 60*time.Second)
	m.SetBrokerConnected(true)
	m.SetLibvirtUp(true)
	m.HeartbeatSucceeded(now.Add(-10 * time.Second))
	if code, r := get(); code != 200 || r.Status != "ok" || r.Checks["heartbeat"].AgeSec != 10 {
		t.Fatalf("running: %d %+v", code, r)
	}
	for name, breakIt := range map[string]func(){
		"broker":    func() { m.SetBrokerConnected(false) },
		"libvirt":   func() { m.SetLibvirtUp(false) },
		"loops":     func() { loopsErr = errors.New("resource loop has not run for 5m0s") },
		"heartbeat": func() { m.HeartbeatSucceeded(now.Add(-61 * time.Second)) },
	} {
		breakIt()
		code, r := get()
		if code != 503 || r.Status != "failing" || r.Checks[name].OK || r.Checks[name].Error == "" {
			t.Errorf("%s broken: %d %+v", name, code, r)
		}
		m.SetBrokerConnected(true)
		m.SetLibvirtUp(true)
		loopsErr = nil
		m.HeartbeatSucceeded(now)
	}
}
