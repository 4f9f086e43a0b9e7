package metrics

import (
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// populated returns a Metrics whose every recorder holds a series and whose every scrape-time
// collector is watched, with the collectors themselves for linting one by one.
func populated(t *testing.T) (*Metrics, map[string]prometheus.Collector) {
	t.Helper()
	m := newTestMetrics(t)
	m.SetLibvirtUp(true)
	m.SetBrokerConnected(true)
	m.BrokerReconnected()
	m.HeartbeatSucceeded(testNow)
	m.ObserveRPC("build_and_run_instance", ResultSuccess, time.Second)
	m.StartOperation("spawn")(ResultSuccess)
	m.ObserveSpawnPhase(PhaseVIFWait, time.Second)
	m.InstanceFault("RescheduledException")
	m.ObservePeriodicTask("update_available_resource", ResultSuccess, time.Second)
	m.PlacementRequest(ResultSuccess)
	m.ImageCacheLookup(LookupHit)
	m.ImageDownloaded(1, time.Second, ResultSuccess)
	m.ImageUploaded(1)
	m.ImageEvicted(EvictUnused)
	m.TapOperation(TapPlug, ResultSuccess)
	m.OrphanReaped("tap")
	m.OrphanKept("tap", "held_open")

	log := slog.New(slog.DiscardHandler)
	scrapeTime := map[string]prometheus.Collector{
		"instances":   newInstanceCollector(newFakeHost(t), time.Second, log),
		"image_cache": newImageCacheCollector(&stubImageCache{u: ImageCacheUsage{SizeBytes: 1, ImagesInUse: 1, PathFreeBytes: 1}}, time.Second, log),
		"taps":        newTapCollector(&stubTaps{n: TapCounts{Attached: 1}}, time.Second, log),
		"inventory": newInventoryCollector(func() map[string]Inventory {
			return map[string]Inventory{"VCPU": {Total: 1, AllocationRatio: 1}, "MEMORY_MB": {Total: 1, AllocationRatio: 1}}
		}),
	}
	for _, c := range scrapeTime {
		if err := m.Registry().Register(c); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.WatchQueueDepth(func() int { return 1 }); err != nil {
		t.Fatal(err)
	}
	all := map[string]prometheus.Collector{
		"libvirt_up": m.agent.libvirtUp, "broker_connected": m.agent.brokerConnected,
		"broker_reconnects": m.agent.brokerReconnects, "heartbeat": m.agent.heartbeat,
		"rpc_requests": m.agent.rpcRequests, "rpc_duration": m.agent.rpcDuration,
		"operation_duration": m.agent.opDuration, "operations_in_flight": m.agent.opsInFlight,
		"spawn_phase": m.agent.spawnPhase, "faults": m.agent.faults,
		"task_last_success": m.agent.taskLastSuccess, "task_duration": m.agent.taskDuration,
		"placement": m.agent.placement, "image_lookups": m.image.lookups,
		"image_download_bytes": m.image.downloadBytes, "image_upload_bytes": m.image.uploadBytes,
		"image_download_time": m.image.downloadTime,
		"image_evictions":     m.image.evictions, "tap_operations": m.tap.ops, "orphans": m.tap.reaped,
	}
	for k, c := range scrapeTime {
		all[k] = c
	}
	return m, all
}

func TestEveryCollectorPassesLint(t *testing.T) {
	_, all := populated(t)
	for name, c := range all {
		if n := testutil.CollectAndCount(c); n == 0 {
			t.Errorf("%s: no series to lint", name)
		}
		problems, err := testutil.CollectAndLint(c)
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
		for _, p := range problems {
			t.Errorf("%s: lint: %s: %s", name, p.Metric, p.Text)
		}
	}
}

func TestRegistryPassesLintAndNaming(t *testing.T) {
	m, _ := populated(t)
	problems, err := testutil.GatherAndLint(m.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	ours := 0
	for _, f := range fams {
		name := f.GetName()
		if strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") {
			continue
		}
		ours++
		if !strings.HasPrefix(name, "novalet_") {
			t.Errorf("%s lacks the novalet_ prefix", name)
		}
	}
	// The README's table lists every family; keep them in step.
	if ours != len(readmeFamilies) {
		t.Errorf("%d novalet families gathered, README lists %d", ours, len(readmeFamilies))
	}
	gathered := map[string]bool{}
	for _, f := range fams {
		gathered[f.GetName()] = true
	}
	for _, name := range readmeFamilies {
		if !gathered[name] {
			t.Errorf("README lists %s, which was not gathered", name)
		}
	}
}

// readmeFamilies are the families README.md's table documents (scrape failures included).
var readmeFamilies = []string{
	"novalet_build_info", "novalet_libvirt_up", "novalet_broker_connected",
	"novalet_broker_reconnects_total", "novalet_heartbeat_last_success_timestamp_seconds",
	"novalet_rpc_requests_total", "novalet_rpc_request_duration_seconds",
	"novalet_operation_duration_seconds", "novalet_operations_in_flight",
	"novalet_spawn_phase_duration_seconds", "novalet_operation_queue_depth",
	"novalet_instance_faults_total", "novalet_periodic_task_last_success_timestamp_seconds",
	"novalet_periodic_task_duration_seconds", "novalet_placement_requests_total",
	"novalet_image_cache_lookups_total", "novalet_image_download_bytes_total", "novalet_image_upload_bytes_total",
	"novalet_image_download_duration_seconds", "novalet_image_cache_evictions_total",
	"novalet_image_cache_size_bytes", "novalet_image_cache_images", "novalet_instances_path_free_bytes",
	"novalet_tap_operations_total", "novalet_orphans_reaped_total", "novalet_orphans_kept_total", "novalet_taps",
	"novalet_host_inventory_capacity", "novalet_host_inventory_reserved",
	"novalet_host_inventory_allocation_ratio",
	"novalet_instance_info", "novalet_instance_vcpus", "novalet_instance_cpu_seconds_total",
	"novalet_instance_vcpu_wait_seconds_total", "novalet_instance_vcpu_delay_seconds_total",
	"novalet_instance_memory_configured_bytes", "novalet_instance_memory_resident_bytes",
	"novalet_instance_memory_available_bytes", "novalet_instance_disk_read_bytes_total",
	"novalet_instance_disk_write_bytes_total", "novalet_instance_disk_read_requests_total",
	"novalet_instance_disk_write_requests_total", "novalet_instance_network_receive_bytes_total",
	"novalet_instance_network_receive_packets_total", "novalet_instance_network_receive_errors_total",
	"novalet_instance_network_receive_packets_dropped_total", "novalet_instance_network_transmit_bytes_total",
	"novalet_instance_network_transmit_packets_total", "novalet_instance_network_transmit_errors_total",
	"novalet_instance_network_transmit_packets_dropped_total", "novalet_instance_stats_incomplete_total",
	"novalet_scrape_failures_total",
}

// TestREADMETableMatches keeps the repository README's metrics table and readmeFamilies equal.
func TestREADMETableMatches(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	inTable := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "| `novalet_") {
			name := strings.SplitN(strings.TrimPrefix(line, "| `"), "`", 2)[0]
			inTable[name] = true
		}
	}
	for _, name := range readmeFamilies {
		if !inTable[name] {
			t.Errorf("README's metrics table lacks %s", name)
		}
		delete(inTable, name)
	}
	for name := range inTable {
		t.Errorf("README's metrics table lists %s, which readmeFamilies does not", name)
	}
}
