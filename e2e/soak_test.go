//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/novalet/novalet/internal/testenv"
)

// TestSoak creates and deletes servers on the flat network, soakBatch at a time, and takes the
// host census (census_test.go) after every batch: nothing may leak. novalet's RSS and
// goroutine count are sampled after each batch; the least-squares slope of each over the
// batches is printed and written with the table to .cache/soak.txt (`make soak` records it
// in bench/results). NOVALET_SOAK_CYCLES sets the number of servers (default 20 in `make
// test`; `make soak` runs 100).
func TestSoak(t *testing.T) {
	requireControlPlane(t)
	cycles := 20
	if v := os.Getenv("NOVALET_SOAK_CYCLES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < soakBatch {
			t.Fatalf("NOVALET_SOAK_CYCLES=%q: want a number ≥ %d", v, soakBatch)
		}
		cycles = n
	}
	n := startNovalet(t)
	n.waitNotify(t, "READY=1", 3*time.Minute)
	pid := n.cmd.Process.Pid

	var b strings.Builder
	fmt.Fprintf(&b, "%-6s | %-8s | %-7s | %-9s | %-10s | %s\n", "batch", "servers", "active", "build", "RSS MiB", "goroutines / leaks")
	var rss, gor []float64
	leaked := 0
	for batch := 1; batch*soakBatch <= cycles; batch++ {
		start := time.Now()
		ids := createBatchOnNetwork(t, fmt.Sprintf("e2e-soak-%d", batch))
		active := 0
		for _, id := range ids {
			if s := waitStatus(t, id, 5*time.Minute, "ACTIVE", "ERROR"); s.Status == "ACTIVE" {
				active++
			} else {
				t.Errorf("soak server %s: %s %v", id, s.Status, s.Fault)
			}
		}
		built := time.Since(start).Round(time.Second)
		for _, id := range ids {
			deleteServer(t, id)
		}
		leaks := hostLeaks(t)
		leaked += len(leaks)
		r, g := processRSSMiB(t, pid), goroutines(t)
		rss, gor = append(rss, r), append(gor, g)
		fmt.Fprintf(&b, "%-6d | %-8d | %-7d | %-9s | %-10.1f | %.0f / %d\n", batch, batch*soakBatch, active, built, r, g, len(leaks))
	}
	fmt.Fprintf(&b, "leaks found: %d; slope per batch: RSS %+.2f MiB, goroutines %+.2f\n", leaked, slope(rss), slope(gor))
	t.Logf("soak:\n%s", b.String())
	dir := filepath.Join(testenv.RepoRoot(t), ".cache")
	if err := os.MkdirAll(dir, 0o755); err == nil {
		_ = os.WriteFile(filepath.Join(dir, "soak.txt"), []byte(b.String()), 0o644)
	}
	n.stop(t)
}

// soakBatch servers are created at once (the "10 at a time").
const soakBatch = 10

// createBatchOnNetwork creates soakBatch servers on test_net with one request and returns
// their ids; they are deleted when the test ends if the test has not done it.
func createBatchOnNetwork(t *testing.T, name string) []string {
	t.Helper()
	var created struct {
		ID string `json:"id"`
	}
	openstack(t, &created, computeAPI, "server", "create", "--flavor", "test_flavor", "--network", "test_net",
		"--image", "guest", "--host", testHost, "--min", fmt.Sprint(soakBatch), "--max", fmt.Sprint(soakBatch), name)
	return serversNamed(t, name, soakBatch)
}

// processRSSMiB reads VmRSS of pid.
func processRSSMiB(t *testing.T, pid int) float64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// goroutines reads go_goroutines from novalet's /metrics.
func goroutines(t *testing.T) float64 {
	t.Helper()
	v, ok := sample(scrape(t, "http://127.0.0.1:9797/metrics"), "go_goroutines")
	if !ok {
		t.Fatal("no go_goroutines in /metrics")
	}
	return v
}

// slope is the least-squares slope of ys over their indices.
func slope(ys []float64) float64 {
	n := float64(len(ys))
	if n < 2 {
		return 0
	}
	var sx, sy, sxx, sxy float64
	for i, y := range ys {
		x := float64(i)
		sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
	}
	return (n*sxy - sx*sy) / (n*sxx - sx*sx)
}
