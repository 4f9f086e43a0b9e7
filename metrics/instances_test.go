package metrics

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/novalet/novalet/virt"
	"github.com/novalet/novalet/virt/virttest"
)

const (
	uuidRunning = "11111111-1111-4111-8111-111111111111"
	uuidStopped = "22222222-2222-4222-8222-222222222222"
)

// newFakeHost returns a fake hypervisor with a running instance carrying counters and a
// shut-off one.
func newFakeHost(t *testing.T) *virttest.Fake {
	t.Helper()
	ctx := context.Background()
	f := virttest.NewFake()
	t.Cleanup(func() { f.CheckClean(t) })
	for _, d := range []struct{ name, id string }{
		{virt.InstanceNamePrefix + "00000001", uuidRunning}, {virt.InstanceNamePrefix + "00000002", uuidStopped},
	} {
		x, err := virt.BuildDomainXML(virttest.TestSpec(d.name, d.id, t.TempDir()))
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Define(ctx, x); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = f.Destroy(ctx, d.id)
			if err := f.Undefine(ctx, d.id); err != nil {
				t.Error(err)
			}
		})
	}
	if err := f.Start(ctx, uuidRunning, false); err != nil {
		t.Fatal(err)
	}
	f.SetStats(uuidRunning, virt.DomainStats{
		CPUTime: 1500 * time.Millisecond, VCPUWait: 250 * time.Millisecond, VCPUDelay: 2 * time.Second,
		MemoryRSS: 100 << 20, MemoryAvailable: 120 << 20,
		Disks: []virt.DiskStats{{Device: "vda", ReadBytes: 4096, WriteBytes: 512, ReadReqs: 8, WriteReqs: 1}},
		NICs: []virt.NICStats{{Device: "tap0123abcd-ef", RxBytes: 1000, RxPackets: 10, RxErrors: 1, RxDrops: 2,
			TxBytes: 2000, TxPackets: 20, TxErrors: 3, TxDrops: 4}},
	})
	return f
}

const wantInstanceSeries = `
# HELP novalet_instance_info Always 1 per instance domain on the host; the labels describe it.
# TYPE novalet_instance_info gauge
novalet_instance_info{display_name="conformance instance-00000001",flavor="test.tiny",instance_uuid="11111111-1111-4111-8111-111111111111",name="instance-00000001",project_id="1c0e4b5d6e7f8091a2b3c4d5e6f70819",state="running",user_id="0b9f3a4c5d6e7f8091a2b3c4d5e6f708"} 1
novalet_instance_info{display_name="conformance instance-00000002",flavor="test.tiny",instance_uuid="22222222-2222-4222-8222-222222222222",name="instance-00000002",project_id="1c0e4b5d6e7f8091a2b3c4d5e6f70819",state="shutdown",user_id="0b9f3a4c5d6e7f8091a2b3c4d5e6f708"} 1
# HELP novalet_instance_vcpus vCPUs online in the instance.
# TYPE novalet_instance_vcpus gauge
novalet_instance_vcpus{instance_uuid="11111111-1111-4111-8111-111111111111"} 1
# HELP novalet_instance_cpu_seconds_total CPU time used by the instance's QEMU process since it started.
# TYPE novalet_instance_cpu_seconds_total counter
novalet_instance_cpu_seconds_total{instance_uuid="11111111-1111-4111-8111-111111111111"} 1.5
# HELP novalet_instance_vcpu_wait_seconds_total Time the instance's vCPUs waited on I/O, summed over vCPUs.
# TYPE novalet_instance_vcpu_wait_seconds_total counter
novalet_instance_vcpu_wait_seconds_total{instance_uuid="11111111-1111-4111-8111-111111111111"} 0.25
# HELP novalet_instance_vcpu_delay_seconds_total Time the instance's vCPUs were runnable but waited for a host CPU (steal), summed over vCPUs.
# TYPE novalet_instance_vcpu_delay_seconds_total counter
novalet_instance_vcpu_delay_seconds_total{instance_uuid="11111111-1111-4111-8111-111111111111"} 2
# HELP novalet_instance_memory_configured_bytes Memory configured for the instance.
# TYPE novalet_instance_memory_configured_bytes gauge
novalet_instance_memory_configured_bytes{instance_uuid="11111111-1111-4111-8111-111111111111"} 1.34217728e+08
novalet_instance_memory_configured_bytes{instance_uuid="22222222-2222-4222-8222-222222222222"} 1.34217728e+08
# HELP novalet_instance_memory_resident_bytes Resident memory of the instance's QEMU process on the host.
# TYPE novalet_instance_memory_resident_bytes gauge
novalet_instance_memory_resident_bytes{instance_uuid="11111111-1111-4111-8111-111111111111"} 1.048576e+08
# HELP novalet_instance_memory_available_bytes Memory the guest sees, as its balloon driver reports it.
# TYPE novalet_instance_memory_available_bytes gauge
novalet_instance_memory_available_bytes{instance_uuid="11111111-1111-4111-8111-111111111111"} 1.2582912e+08
# HELP novalet_instance_disk_read_bytes_total Bytes read from the instance's disk.
# TYPE novalet_instance_disk_read_bytes_total counter
novalet_instance_disk_read_bytes_total{device="vda",instance_uuid="11111111-1111-4111-8111-111111111111"} 4096
# HELP novalet_instance_disk_write_bytes_total Bytes written to the instance's disk.
# TYPE novalet_instance_disk_write_bytes_total counter
novalet_instance_disk_write_bytes_total{device="vda",instance_uuid="11111111-1111-4111-8111-111111111111"} 512
# HELP novalet_instance_disk_read_requests_total Read requests to the instance's disk.
# TYPE novalet_instance_disk_read_requests_total counter
novalet_instance_disk_read_requests_total{device="vda",instance_uuid="11111111-1111-4111-8111-111111111111"} 8
# HELP novalet_instance_disk_write_requests_total Write requests to the instance's disk.
# TYPE novalet_instance_disk_write_requests_total counter
novalet_instance_disk_write_requests_total{device="vda",instance_uuid="11111111-1111-4111-8111-111111111111"} 1
# HELP novalet_instance_network_receive_bytes_total Bytes the instance received on the interface.
# TYPE novalet_instance_network_receive_bytes_total counter
novalet_instance_network_receive_bytes_total{instance_uuid="11111111-1111-4111-8111-111111111111",interface="tap0123abcd-ef"} 1000
# HELP novalet_instance_network_receive_packets_total Packets the instance received on the interface.
# TYPE novalet_instance_network_receive_packets_total counter
novalet_instance_network_receive_packets_total{instance_uuid="11111111-1111-4111-8111-111111111111",interface="tap0123abcd-ef"} 10
# HELP novalet_instance_network_receive_errors_total Receive errors on the instance's interface.
# TYPE novalet_instance_network_receive_errors_total counter
novalet_instance_network_receive_errors_total{instance_uuid="11111111-1111-4111-8111-111111111111",interface="tap0123abcd-ef"} 1
# HELP novalet_instance_network_receive_packets_dropped_total Received packets dropped on the instance's interface.
# TYPE novalet_instance_network_receive_packets_dropped_total counter
novalet_instance_network_receive_packets_dropped_total{instance_uuid="11111111-1111-4111-8111-111111111111",interface="tap0123abcd-ef"} 2
# HELP novalet_instance_network_transmit_bytes_total Bytes the instance sent on the interface.
# TYPE novalet_instance_network_transmit_bytes_total counter
novalet_instance_network_transmit_bytes_total{instance_uuid="11111111-1111-4111-8111-111111111111",interface="tap0123abcd-ef"} 2000
# HELP novalet_instance_network_transmit_packets_total Packets the instance sent on the interface.
# TYPE novalet_instance_network_transmit_packets_total counter
novalet_instance_network_transmit_packets_total{instance_uuid="11111111-1111-4111-8111-111111111111",interface="tap0123abcd-ef"} 20
# HELP novalet_instance_network_transmit_errors_total Transmit errors on the instance's interface.
# TYPE novalet_instance_network_transmit_errors_total counter
novalet_instance_network_transmit_errors_total{instance_uuid="11111111-1111-4111-8111-111111111111",interface="tap0123abcd-ef"} 3
# HELP novalet_instance_network_transmit_packets_dropped_total Sent packets dropped on the instance's interface.
# TYPE novalet_instance_network_transmit_packets_dropped_total counter
novalet_instance_network_transmit_packets_dropped_total{instance_uuid="11111111-1111-4111-8111-111111111111",interface="tap0123abcd-ef"} 4
`

var instanceSeriesNames = []string{
	"novalet_instance_info", "novalet_instance_vcpus", "novalet_instance_cpu_seconds_total",
	"novalet_instance_vcpu_wait_seconds_total", "novalet_instance_vcpu_delay_seconds_total",
	"novalet_instance_memory_configured_bytes", "novalet_instance_memory_resident_bytes",
	"novalet_instance_memory_available_bytes", "novalet_instance_disk_read_bytes_total",
	"novalet_instance_disk_write_bytes_total", "novalet_instance_disk_read_requests_total",
	"novalet_instance_disk_write_requests_total", "novalet_instance_network_receive_bytes_total",
	"novalet_instance_network_receive_packets_total", "novalet_instance_network_receive_errors_total",
	"novalet_instance_network_receive_packets_dropped_total", "novalet_instance_network_transmit_bytes_total",
	"novalet_instance_network_transmit_packets_total", "novalet_instance_network_transmit_errors_total",
	"novalet_instance_network_transmit_packets_dropped_total",
}

// scrapeFailures reads novalet_scrape_failures_total for one collector and reason.
func scrapeFailures(t *testing.T, m *Metrics, collector, reason string) float64 {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != "novalet_scrape_failures_total" {
			continue
		}
		for _, s := range f.GetMetric() {
			if hasLabels(s, map[string]string{"collector": collector, "reason": reason}) {
				return s.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no novalet_scrape_failures_total{collector=%q,reason=%q}", collector, reason)
	return 0
}

func TestInstanceSeriesFromFake(t *testing.T) {
	m := newTestMetrics(t)
	if err := m.WatchInstances(newFakeHost(t)); err != nil {
		t.Fatal(err)
	}
	compare(t, m, wantInstanceSeries, instanceSeriesNames...)
	if got := scrapeFailures(t, m, "instances", "timeout") + scrapeFailures(t, m, "instances", "error"); got != 0 {
		t.Errorf("%v scrape failures on a healthy fake", got)
	}
	if err := m.WatchInstances(newFakeHost(t)); err == nil {
		t.Error("a second WatchInstances was accepted")
	}
}

func TestInstanceStatsErrorAndIncomplete(t *testing.T) {
	m := newTestMetrics(t)
	f := newFakeHost(t)
	if err := m.WatchInstances(f); err != nil {
		t.Fatal(err)
	}
	f.InjectError("DomainStats", errors.New("libvirt: internal error"))
	if n := testutil.CollectAndCount(m.Registry(), "novalet_instance_info"); n != 0 {
		t.Errorf("%d info series after a failed stats call, want none", n)
	}
	if got := scrapeFailures(t, m, "instances", "error"); got != 1 {
		t.Errorf(`failures{reason="error"} = %v, want 1`, got)
	}

	// A busy domain still shows what libvirt gave without waiting, and is counted.
	f.SetStats(uuidRunning, virt.DomainStats{CPUTime: time.Second, Incomplete: true})
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var cpuSeries int
	incomplete := -1.0
	for _, fam := range fams {
		switch fam.GetName() {
		case "novalet_instance_cpu_seconds_total":
			cpuSeries = len(fam.GetMetric())
		case "novalet_instance_stats_incomplete_total":
			incomplete = fam.GetMetric()[0].GetCounter().GetValue()
		}
	}
	if cpuSeries != 1 || incomplete != 1 {
		t.Errorf("busy domain: %d cpu series, incomplete counter %v; want 1 and 1", cpuSeries, incomplete)
	}
}

// stubSource answers with canned stats, or blocks until released ignoring its context, as a
// cgo call into a stuck libvirtd would.
type stubSource struct {
	stats   []virt.DomainStats
	release chan struct{}
	calls   atomic.Int32
}

func (s *stubSource) DomainStats(ctx context.Context) ([]virt.DomainStats, error) {
	s.calls.Add(1)
	if s.release != nil {
		<-s.release
	}
	return s.stats, nil
}

func TestInstanceCollectorDropsDuplicatesAndBadLabels(t *testing.T) {
	m := newTestMetrics(t)
	src := &stubSource{stats: []virt.DomainStats{
		{UUID: uuidRunning, Name: "instance-00000001", State: virt.PowerRunning, CPUTime: time.Second,
			Disks: []virt.DiskStats{{Device: "vda"}, {Device: "vda"}, {Device: ""}, {Device: "bad\xff"}}},
		{UUID: uuidRunning, Name: "instance-00000001", State: virt.PowerRunning, CPUTime: 2 * time.Second},
		{UUID: ""},
	}}
	if err := m.WatchInstances(src); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Registry().Gather(); err != nil {
		t.Fatalf("gather: %v", err)
	}
	if n := testutil.CollectAndCount(m.Registry(), "novalet_instance_disk_read_bytes_total"); n != 1 {
		t.Errorf("%d disk series, want 1 (duplicates, empty and invalid devices dropped)", n)
	}
	compare(t, m, `
# HELP novalet_instance_cpu_seconds_total CPU time used by the instance's QEMU process since it started.
# TYPE novalet_instance_cpu_seconds_total counter
novalet_instance_cpu_seconds_total{instance_uuid="11111111-1111-4111-8111-111111111111"} 1
`, "novalet_instance_cpu_seconds_total")
}

// TestScrapeReturnsWhileStatsHang is the acceptance test: with the hypervisor stuck on
// stats, a scrape over HTTP still answers, without the per-instance series, and the timeout
// is counted.
func TestScrapeReturnsWhileStatsHang(t *testing.T) {
	m := newTestMetrics(t) // 200 ms scrape timeout
	f := newFakeHost(t)
	if err := m.WatchInstances(f); err != nil {
		t.Fatal(err)
	}
	m.SetLibvirtUp(true)
	release := f.HangStats()
	defer release()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()

	body := scrape(t, srv.URL)
	if strings.Contains(body, "novalet_instance_info{") {
		t.Error("per-instance series present although the stats call hung")
	}
	for _, want := range []string{
		"novalet_libvirt_up 1",
		`novalet_scrape_failures_total{collector="instances",reason="timeout"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}

	release()
	if body := scrape(t, srv.URL); !strings.Contains(body, "novalet_instance_cpu_seconds_total{") {
		t.Error("no per-instance series once the hang ended")
	}
}

// A source that ignores its context is called once however many scrapes pile up behind it.
func TestStuckSourceIsCalledOnce(t *testing.T) {
	m := newTestMetrics(t)
	src := &stubSource{release: make(chan struct{}), stats: []virt.DomainStats{{UUID: uuidRunning, Name: "instance-00000001"}}}
	if err := m.WatchInstances(src); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := m.Registry().Gather(); err != nil {
				t.Errorf("gather: %v", err)
			}
		}()
	}
	waitOrFail(t, &wg, "scrapes blocked by a stuck source")
	// scrapeFailures scrapes too: the fourth timeout.
	if got := scrapeFailures(t, m, "instances", "timeout"); got != 4 {
		t.Errorf(`failures{reason="timeout"} = %v, want 4`, got)
	}
	if got := src.calls.Load(); got != 1 {
		t.Errorf("stuck source called %d times, want 1", got)
	}
	close(src.release)
	deadline := time.Now().Add(30 * time.Second)
	for testutil.CollectAndCount(m.Registry(), "novalet_instance_info") != 1 {
		if time.Now().After(deadline) {
			t.Fatal("no info series after the source recovered")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: status %d, %v\n%s", resp.StatusCode, err, b)
	}
	return string(b)
}

func waitOrFail(t *testing.T, wg *sync.WaitGroup, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal(what)
	}
}
