//go:build e2e

package e2e

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/novalet/novalet/internal/testenv"
)

// libvirtdOutage is how long the test keeps libvirtd stopped (issue 16: 20 s).
const libvirtdOutage = 20 * time.Second

type serviceStatusRow struct {
	Host           string `json:"Host"`
	Status         string `json:"Status"`
	State          string `json:"State"`
	DisabledReason string `json:"Disabled Reason"`
}

// serviceStatus is this host's nova-compute row with its disabled reason.
func serviceStatus(t *testing.T, host string) serviceStatusRow {
	t.Helper()
	var rows []serviceStatusRow
	openstack(t, &rows, "compute", "service", "list", "--long", "--service", "nova-compute")
	for _, r := range rows {
		if r.Host == host {
			return r
		}
	}
	t.Fatalf("no nova-compute service on %s: %+v", host, rows)
	return serviceStatusRow{}
}

// healthz GETs novalet's /healthz ([novalet] metrics_listen default).
func healthz(t *testing.T) (int, string) {
	t.Helper()
	c := http.Client{Timeout: 30 * time.Second}
	resp, err := c.Get("http://127.0.0.1:9797/healthz")
	if err != nil {
		t.Fatalf("/healthz: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// parts runs scripts/parts.sh with one command (stop-libvirtd, start-libvirtd).
func parts(t *testing.T, cmd string) {
	t.Helper()
	script := filepath.Join(testenv.RepoRoot(t), "scripts", "parts.sh")
	if out, err := run(t, 10*time.Minute, "bash", script, cmd); err != nil {
		t.Fatalf("parts.sh %s: %v\n%s", cmd, err, out)
	}
}

// TestLibvirtdRestart is issue 16's libvirt reconnect: libvirtd stops for 20 s under a running
// novalet. Meanwhile the service shows disabled with nova's automatic reason, its provider
// has COMPUTE_STATUS_DISABLED and /healthz fails on libvirt; once libvirtd is back novalet
// reconnects by itself, the service is enabled again, and a server boots.
//
// It stops the shared libvirtd (through parts.sh, which started it): run it under the e2e lock
// (flock -o /var/tmp/sess/e2e.lock go test ...), since every test on qemu:///system fails
// during the outage.
func TestLibvirtdRestart(t *testing.T) {
	requireControlPlane(t)
	host, _ := os.Hostname()
	n := startNovalet(t)
	n.waitNotify(t, "READY=1", 3*time.Minute)
	eventually(t, 30*time.Second, "service up and enabled", func() bool {
		r := serviceStatus(t, host)
		return r.State == "up" && r.Status == "enabled"
	})
	var hyp map[string]any
	openstack(t, &hyp, "--os-compute-api-version", "2.53", "hypervisor", "show", host)
	nodeUUID, _ := hyp["id"].(string)

	parts(t, "stop-libvirtd")
	stopped := time.Now()
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			parts(t, "start-libvirtd")
		}
	})
	const reason = "AUTO: Connection to libvirt lost: 1"
	noticed := eventually(t, 15*time.Second, "service disabled with nova's automatic reason", func() bool {
		r := serviceStatus(t, host)
		return r.Status == "disabled" && r.DisabledReason == reason
	})
	t.Logf("libvirtd stopped -> service disabled %s", noticed.Round(time.Millisecond))
	if r := serviceStatus(t, host); r.State != "up" {
		t.Errorf("service state during the outage = %q, want up (the heartbeat goes on, as nova's)", r.State)
	}
	if traits := providerTraits(t, nodeUUID); !slices.Contains(traits, "COMPUTE_STATUS_DISABLED") {
		t.Errorf("provider traits during the outage = %v, want COMPUTE_STATUS_DISABLED", traits)
	}
	if code, health := healthz(t); code != http.StatusServiceUnavailable || !strings.Contains(health, "libvirt disconnected") {
		t.Errorf("/healthz during the outage = %d %s", code, health)
	}
	if v, ok := sample(scrape(t, "http://127.0.0.1:9797/metrics"), "novalet_libvirt_up"); !ok || v != 0 {
		t.Errorf("novalet_libvirt_up during the outage = %v (found %v), want 0", v, ok)
	}
	time.Sleep(time.Until(stopped.Add(libvirtdOutage)))

	parts(t, "start-libvirtd")
	restarted = true
	back := time.Now()
	t.Logf("libvirtd was down %s", back.Sub(stopped).Round(time.Millisecond))
	enabled := eventually(t, 2*time.Minute, "service enabled again", func() bool {
		r := serviceStatus(t, host)
		return r.Status == "enabled" && r.DisabledReason == "" && r.State == "up"
	})
	t.Logf("libvirtd answering -> service enabled %s", enabled.Round(time.Millisecond))
	restored := n.logRecords(t, "connection to libvirt restored")
	if len(restored) != 1 {
		t.Fatalf("novalet logged %d reconnections, want 1", len(restored))
	}
	t.Logf("novalet reconnected after %v down (attempts %v)", restored[0]["down_for"], restored[0]["attempts"])
	if len(n.logRecords(t, "power states resynced after the libvirt reconnection")) != 1 {
		t.Error("no power state resync logged after the reconnection")
	}
	eventually(t, 90*time.Second, "COMPUTE_STATUS_DISABLED removed", func() bool {
		return !slices.Contains(providerTraits(t, nodeUUID), "COMPUTE_STATUS_DISABLED")
	})
	if code, health := healthz(t); code != http.StatusOK {
		t.Errorf("/healthz after the return = %d %s", code, health)
	}

	id := createServers(t, "after-libvirtd-restart", "guest", 1)[0]
	s := waitStatus(t, id, bootTimeout, "ACTIVE", "ERROR")
	if s.Status != "ACTIVE" {
		t.Fatalf("server booted after the restart is %s, fault %v", s.Status, s.Fault)
	}
	if !hasDomain(t, id) {
		t.Errorf("no domain for %s", id)
	}
	deleteServer(t, id)
}
