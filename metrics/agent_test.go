package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/novalet/novalet/virt"
)

var testNow = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func newTestMetrics(t *testing.T) *Metrics {
	t.Helper()
	return New(Options{
		Version: "1.2.3", ScrapeTimeout: 200 * time.Millisecond, Now: func() time.Time { return testNow },
		Logger: slog.New(slog.DiscardHandler),
	})
}

// compare checks the named families against the expected exposition text.
func compare(t *testing.T, m *Metrics, want string, names ...string) {
	t.Helper()
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
}

// histogram returns the sample count and sum of the series of family name with labels.
func histogram(t *testing.T, m *Metrics, name string, labels map[string]string) (uint64, float64) {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, s := range f.GetMetric() {
			if hasLabels(s, labels) {
				return s.GetHistogram().GetSampleCount(), s.GetHistogram().GetSampleSum()
			}
		}
	}
	t.Fatalf("no %s%v gathered", name, labels)
	return 0, 0
}

func hasLabels(s *dto.Metric, want map[string]string) bool {
	got := map[string]string{}
	for _, l := range s.GetLabel() {
		got[l.GetName()] = l.GetValue()
	}
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

func TestBuildInfo(t *testing.T) {
	m := newTestMetrics(t)
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var found, goStats bool
	for _, f := range fams {
		switch {
		case f.GetName() == "novalet_build_info":
			s := f.GetMetric()[0]
			found = s.GetGauge().GetValue() == 1 && hasLabels(s, map[string]string{"version": "1.2.3", "goversion": runtime.Version()})
		case strings.HasPrefix(f.GetName(), "go_goroutines"):
			goStats = true
		}
	}
	if !found {
		t.Error("no novalet_build_info{version=\"1.2.3\",goversion=...} 1")
	}
	if !goStats {
		t.Error("no Go runtime metrics (go_goroutines)")
	}
	if New(Options{}).Registry() == nil {
		t.Error("New with zero options has no registry")
	}
}

func TestAgentGaugesAndCounters(t *testing.T) {
	m := newTestMetrics(t)
	m.SetLibvirtUp(true)
	m.SetBrokerConnected(true)
	m.SetBrokerConnected(false)
	m.BrokerReconnected()
	m.BrokerReconnected()
	m.HeartbeatSucceeded(time.Unix(1700000000, 500_000_000))
	m.InstanceFault("RescheduledException")
	m.InstanceFault("RescheduledException")
	m.InstanceFault("BuildAbortException")
	m.PlacementRequest(ResultSuccess)
	m.PlacementRequest(ResultConflict)
	m.PlacementRequest(Result("bogus")) // counted as an error, not a new label value
	compare(t, m, `
# HELP novalet_libvirt_up 1 while the connection to libvirtd works, else 0.
# TYPE novalet_libvirt_up gauge
novalet_libvirt_up 1
# HELP novalet_broker_connected 1 while connected to the RabbitMQ broker, else 0.
# TYPE novalet_broker_connected gauge
novalet_broker_connected 0
# HELP novalet_broker_reconnects_total Reconnections to the RabbitMQ broker after a lost connection.
# TYPE novalet_broker_reconnects_total counter
novalet_broker_reconnects_total 2
# HELP novalet_heartbeat_last_success_timestamp_seconds Unix time of the last service heartbeat the conductor accepted.
# TYPE novalet_heartbeat_last_success_timestamp_seconds gauge
novalet_heartbeat_last_success_timestamp_seconds 1.7000000005e+09
# HELP novalet_instance_faults_total Instance faults recorded, by reason (the exception class reported to nova).
# TYPE novalet_instance_faults_total counter
novalet_instance_faults_total{reason="BuildAbortException"} 1
novalet_instance_faults_total{reason="RescheduledException"} 2
# HELP novalet_placement_requests_total Requests to the Placement API, by result.
# TYPE novalet_placement_requests_total counter
novalet_placement_requests_total{result="conflict"} 1
novalet_placement_requests_total{result="error"} 1
novalet_placement_requests_total{result="success"} 1
`, "novalet_libvirt_up", "novalet_broker_connected", "novalet_broker_reconnects_total",
		"novalet_heartbeat_last_success_timestamp_seconds", "novalet_instance_faults_total",
		"novalet_placement_requests_total")
}

func TestRPCAndOperations(t *testing.T) {
	m := newTestMetrics(t)
	m.ObserveRPC("build_and_run_instance", ResultSuccess, 2*time.Second)
	m.ObserveRPC("build_and_run_instance", ResultError, time.Second)
	m.ObserveRPC("get_console_output", ResultSuccess, 10*time.Millisecond)
	if got := testutil.ToFloat64(m.agent.rpcRequests.WithLabelValues("build_and_run_instance", "error")); got != 1 {
		t.Errorf("rpc requests {build_and_run_instance,error} = %v, want 1", got)
	}
	if n, sum := histogram(t, m, "novalet_rpc_request_duration_seconds", map[string]string{"method": "build_and_run_instance"}); n != 2 || sum != 3 {
		t.Errorf("rpc duration of build_and_run_instance: %d samples, sum %v; want 2, 3", n, sum)
	}

	done := m.StartOperation("spawn")
	other := m.StartOperation("spawn")
	if got := testutil.ToFloat64(m.agent.opsInFlight.WithLabelValues("spawn")); got != 2 {
		t.Errorf("spawns in flight = %v, want 2", got)
	}
	done(ResultSuccess)
	other(ResultError)
	if got := testutil.ToFloat64(m.agent.opsInFlight.WithLabelValues("spawn")); got != 0 {
		t.Errorf("spawns in flight after both ended = %v, want 0", got)
	}
	for _, r := range []string{"success", "error"} {
		if n, _ := histogram(t, m, "novalet_operation_duration_seconds", map[string]string{"operation": "spawn", "result": r}); n != 1 {
			t.Errorf("operation duration {spawn,%s}: %d samples, want 1", r, n)
		}
	}

	for i, p := range []SpawnPhase{PhaseImage, PhaseDisk, PhaseNetwork, PhaseDefine, PhaseStart, PhaseVIFWait} {
		m.ObserveSpawnPhase(p, time.Duration(i+1)*time.Second)
	}
	if n, sum := histogram(t, m, "novalet_spawn_phase_duration_seconds", map[string]string{"phase": "vif_wait"}); n != 1 || sum != 6 {
		t.Errorf("vif_wait phase: %d samples, sum %v; want 1, 6", n, sum)
	}
}

func TestRPCMethodLabelIsBounded(t *testing.T) {
	m := newTestMetrics(t)
	for i := range maxRPCMethods + 10 {
		m.ObserveRPC(fmt.Sprintf("method_%d", i), ResultSuccess, time.Millisecond)
	}
	m.ObserveRPC("bad\xff", ResultSuccess, time.Millisecond) // not UTF-8: must not panic
	m.ObserveRPC("method_0", ResultSuccess, time.Millisecond)
	if got := testutil.CollectAndCount(m.agent.rpcRequests); got != maxRPCMethods+1 {
		t.Errorf("%d rpc request series, want %d methods + other", got, maxRPCMethods+1)
	}
	if got := testutil.ToFloat64(m.agent.rpcRequests.WithLabelValues(otherLabel, "success")); got != 11 {
		t.Errorf(`{method="other"} = %v, want 11`, got)
	}
	if got := testutil.ToFloat64(m.agent.rpcRequests.WithLabelValues("method_0", "success")); got != 2 {
		t.Errorf(`{method="method_0"} = %v, want 2 (known methods stay themselves)`, got)
	}
}

func TestPeriodicTasks(t *testing.T) {
	m := newTestMetrics(t)
	m.ObservePeriodicTask("update_available_resource", ResultSuccess, 1500*time.Millisecond)
	m.ObservePeriodicTask("update_available_resource", ResultError, time.Second)
	m.ObservePeriodicTask("image_cache_manager", ResultError, time.Second) // never succeeded: no timestamp
	compare(t, m, fmt.Sprintf(`
# HELP novalet_periodic_task_last_success_timestamp_seconds Unix time the periodic task last finished successfully.
# TYPE novalet_periodic_task_last_success_timestamp_seconds gauge
novalet_periodic_task_last_success_timestamp_seconds{task="update_available_resource"} %d
`, testNow.Unix()), "novalet_periodic_task_last_success_timestamp_seconds")
	if n, sum := histogram(t, m, "novalet_periodic_task_duration_seconds", map[string]string{"task": "update_available_resource"}); n != 2 || sum != 2.5 {
		t.Errorf("task duration: %d samples, sum %v; want 2, 2.5", n, sum)
	}
}

func TestQueueDepth(t *testing.T) {
	m := newTestMetrics(t)
	depth := 3
	if err := m.WatchQueueDepth(func() int { return depth }); err != nil {
		t.Fatal(err)
	}
	compare(t, m, `
# HELP novalet_operation_queue_depth Instance operations queued and not yet started.
# TYPE novalet_operation_queue_depth gauge
novalet_operation_queue_depth 3
`, "novalet_operation_queue_depth")
	if err := m.WatchQueueDepth(func() int { return 0 }); err == nil {
		t.Error("a second WatchQueueDepth was accepted")
	}
}

func TestResultOf(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want Result
	}{
		{nil, ResultSuccess},
		{errors.New("boom"), ResultError},
		{fmt.Errorf("wait: %w", context.DeadlineExceeded), ResultTimeout},
		{fmt.Errorf("virt: start: %w", virt.ErrTimeout), ResultTimeout},
	} {
		if got := ResultOf(tc.err); got != tc.want {
			t.Errorf("ResultOf(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
}

// A nil *Metrics is a valid "metrics off": every method is a no-op.
func TestNilMetricsRecordsNothing(t *testing.T) {
	var m *Metrics
	m.SetLibvirtUp(true)
	m.SetBrokerConnected(true)
	m.BrokerReconnected()
	m.HeartbeatSucceeded(time.Now())
	m.ObserveRPC("x", ResultSuccess, 0)
	m.StartOperation("spawn")(ResultSuccess)
	m.ObserveSpawnPhase(PhaseImage, 0)
	m.InstanceFault("x")
	m.ObservePeriodicTask("x", ResultSuccess, 0)
	m.PlacementRequest(ResultSuccess)
	m.ImageCacheLookup(LookupHit)
	m.ImageDownloaded(1, 0, ResultSuccess)
	m.ImageEvicted(EvictUnused)
	m.TapOperation(TapPlug, ResultSuccess)
	m.OrphanReaped("tap")
	for _, err := range []error{
		m.WatchQueueDepth(func() int { return 0 }),
		m.WatchImageCache(stubImageCache{}),
		m.WatchTaps(nil),
		m.WatchInventory(nil),
		m.WatchInstances(nil),
	} {
		if err != nil {
			t.Errorf("Watch on nil Metrics: %v", err)
		}
	}
}

var _ prometheus.Collector = (*instanceCollector)(nil)

func TestWatchRejectsNilSources(t *testing.T) {
	m := newTestMetrics(t)
	for name, err := range map[string]error{
		"queue depth": m.WatchQueueDepth(nil),
		"image cache": m.WatchImageCache(nil),
		"taps":        m.WatchTaps(nil),
		"inventory":   m.WatchInventory(nil),
		"instances":   m.WatchInstances(nil),
	} {
		if !errors.Is(err, errNilSource) {
			t.Errorf("%s: Watch(nil) = %v, want errNilSource", name, err)
		}
	}
}
