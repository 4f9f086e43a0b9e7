//go:build e2e

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/novalet/novalet/internal/testenv"
)

type serviceRow struct {
	ID     any    `json:"ID"`
	Binary string `json:"Binary"`
	Host   string `json:"Host"`
	Zone   string `json:"Zone"`
	Status string `json:"Status"`
	State  string `json:"State"`
}

func computeServices(t *testing.T) []serviceRow {
	var rows []serviceRow
	openstack(t, &rows, "compute", "service", "list", "--service", "nova-compute")
	return rows
}

func hostState(t *testing.T, host string) string {
	for _, r := range computeServices(t) {
		if r.Host == host {
			return r.State
		}
	}
	return ""
}

func providerTraits(t *testing.T, uuid string) []string {
	var rows []struct {
		Name string `json:"name"`
	}
	openstack(t, &rows, "resource", "provider", "trait", "list", uuid)
	var out []string
	for _, r := range rows {
		out = append(out, r.Name)
	}
	return out
}

// TestPresence is issue 4's operator check list: novalet shows up as nova-compute, is mapped,
// has its hypervisor and inventory, survives a broker restart, goes down when stopped and
// comes back as the same node.
func TestPresence(t *testing.T) {
	requireControlPlane(t)
	host, _ := os.Hostname()

	n := startNovalet(t)
	n.waitNotify(t, "READY=1", 3*time.Minute)
	// The compute node's nova.conf is the reference one: novalet warns about the two options
	// nova 26 removed and nothing else.
	if warned := n.configWarnings(t); !slices.Equal(warned, []string{"firewall_driver", "use_neutron"}) {
		t.Errorf("config warnings for %v, want [firewall_driver use_neutron]", warned)
	}
	// ... and names, once each, the options nova knows that it does not act on.
	if ignored := n.configRecords(t, "config: option ignored"); !slices.Contains(ignored, "auth_strategy") || slices.Contains(ignored, "virt_type") {
		t.Errorf("options reported as ignored: %v", ignored)
	}
	up := eventually(t, 15*time.Second, "service up after READY", func() bool { return hostState(t, host) == "up" })
	t.Logf("start -> READY %s, READY -> up %s", time.Since(n.start)-up, up)
	for _, r := range computeServices(t) {
		if r.Host == host && (r.Zone != "nova" || r.Status != "enabled") {
			t.Errorf("service row %+v", r)
		}
	}

	novaManage := filepath.Join(testenv.RepoRoot(t), "controlplane", "nova-manage.sh")
	if out, err := run(t, 2*time.Minute, novaManage, "cell_v2", "discover_hosts", "--verbose"); err != nil {
		t.Fatal(err)
	} else {
		t.Logf("discover_hosts: %s", strings.TrimSpace(string(out)))
	}
	// Mapped: the host is listed in cell1 (by this discover_hosts or the scheduler's periodic one).
	if out, err := run(t, 2*time.Minute, novaManage, "cell_v2", "list_hosts"); err != nil || !strings.Contains(string(out), " "+host+" ") {
		t.Fatalf("cell_v2 list_hosts does not map %s: %v\n%s", host, err, out)
	}

	// The hypervisor matches the host.
	var hyp map[string]any
	openstack(t, &hyp, "--os-compute-api-version", "2.53", "hypervisor", "show", host)
	if hyp["hypervisor_type"] != "QEMU" || hyp["state"] != "up" || hyp["host_ip"] != "127.0.0.1" ||
		hyp["vcpus"] != float64(runtime.NumCPU()) || hyp["memory_mb"].(float64) <= 0 || hyp["local_gb"].(float64) <= 0 {
		t.Errorf("hypervisor: %v", hyp)
	}
	nodeUUID, _ := hyp["id"].(string)
	if b, err := os.ReadFile("/var/lib/nova/compute_id"); err != nil || strings.TrimSpace(string(b)) != nodeUUID {
		t.Errorf("compute_id %q (%v) vs hypervisor id %q", b, err, nodeUUID)
	}

	// Placement: the three classes with Zed's ratios and reserved memory.
	var inv []struct {
		ResourceClass   string  `json:"resource_class"`
		Total           int     `json:"total"`
		Reserved        int     `json:"reserved"`
		AllocationRatio float64 `json:"allocation_ratio"`
	}
	openstack(t, &inv, "resource", "provider", "inventory", "list", nodeUUID)
	byClass := map[string]float64{}
	for _, i := range inv {
		byClass[i.ResourceClass] = i.AllocationRatio
		if i.Total <= 0 {
			t.Errorf("inventory %+v", i)
		}
		if i.ResourceClass == "MEMORY_MB" && i.Reserved != 512 {
			t.Errorf("MEMORY_MB reserved %d", i.Reserved)
		}
	}
	if len(inv) != 3 || byClass["VCPU"] != 16 || byClass["MEMORY_MB"] != 1.5 || byClass["DISK_GB"] != 1 {
		t.Errorf("inventory %+v", inv)
	}
	if tr := providerTraits(t, nodeUUID); !slices.Contains(tr, "COMPUTE_NODE") || slices.Contains(tr, "COMPUTE_STATUS_DISABLED") {
		t.Errorf("traits %v", tr)
	}

	// nova-status upgrade check passes with novalet as the compute service.
	cmd := exec.Command("nova-status", "--config-file", "/etc/nova/nova-controller.conf", "upgrade", "check")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("nova-status upgrade check: %v\n%s", err, out)
	}

	// Disable: the provider gets COMPUTE_STATUS_DISABLED; enable: it goes.
	if _, err := run(t, time.Minute, "openstack", "compute", "service", "set", "--disable", host, "nova-compute"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 90*time.Second, "COMPUTE_STATUS_DISABLED", func() bool { return slices.Contains(providerTraits(t, nodeUUID), "COMPUTE_STATUS_DISABLED") })
	if _, err := run(t, time.Minute, "openstack", "compute", "service", "set", "--enable", host, "nova-compute"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 90*time.Second, "COMPUTE_STATUS_DISABLED removed", func() bool { return !slices.Contains(providerTraits(t, nodeUUID), "COMPUTE_STATUS_DISABLED") })

	// A broker restart while novalet runs: still up a minute later.
	testenv.RabbitMQCtl(t, "stop_app")
	testenv.RabbitMQCtl(t, "start_app")
	testenv.RabbitMQCtl(t, "await_startup", "--timeout", "60")
	time.Sleep(65 * time.Second)
	if s := hostState(t, host); s != "up" {
		t.Fatalf("after a broker restart the service is %q", s)
	}

	// Stop: down after service_down_time; start again: the same node, no duplicates.
	n.stop(t)
	eventually(t, 150*time.Second, "service down after stop", func() bool { return hostState(t, host) == "down" })
	n2 := startNovalet(t)
	n2.waitNotify(t, "READY=1", 3*time.Minute)
	eventually(t, 30*time.Second, "service up again", func() bool { return hostState(t, host) == "up" })
	var hyps []map[string]any
	openstack(t, &hyps, "--os-compute-api-version", "2.53", "hypervisor", "list")
	var provs []map[string]any
	openstack(t, &provs, "resource", "provider", "list")
	if len(hyps) != 1 || hyps[0]["ID"] != nodeUUID || len(provs) != 1 || provs[0]["uuid"] != nodeUUID {
		t.Errorf("after restart: hypervisors %v, providers %v (want one, %s)", hyps, provs, nodeUUID)
	}
	if rows := computeServices(t); len(rows) != 1 {
		t.Errorf("compute services after restart: %+v", rows)
	}
}
