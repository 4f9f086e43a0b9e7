//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/novalet/novalet/internal/testenv"
)

// TestServiceDeletedAndReAdded is what an operator does to a misbehaving node: `openstack
// compute service delete`, then a restart of the agent. nova-api soft-deletes the service and
// its compute node, deletes the host mapping and the resource provider; Zed's nova-compute
// then registers a new service and a new, unmapped compute node (new uuid), which
// `nova-manage cell_v2 discover_hosts` maps. novalet must end the same: mapped, listed and
// schedulable. (It used to re-create the node with its kept uuid, which nova's
// compute_node_create answers by reviving the soft-deleted row with mapped = 1: discover_hosts
// found "0 unmapped computes" and every boot failed with "Host is not mapped to any cell".)
func TestServiceDeletedAndReAdded(t *testing.T) {
	requireControlPlane(t)
	host, _ := os.Hostname()
	novaManage := filepath.Join(testenv.RepoRoot(t), "controlplane", "nova-manage.sh")
	discover := func() string {
		out, err := run(t, 2*time.Minute, novaManage, "cell_v2", "discover_hosts", "--verbose")
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(out))
	}
	hypervisorID := func() string {
		var hyps []map[string]any
		openstack(t, &hyps, "--os-compute-api-version", "2.53", "hypervisor", "list")
		for _, h := range hyps {
			if h["Hypervisor Hostname"] == host {
				id, _ := h["ID"].(string)
				return id
			}
		}
		return ""
	}

	n := startNovalet(t)
	n.waitNotify(t, "READY=1", 3*time.Minute)
	eventually(t, 30*time.Second, "service up", func() bool { return hostState(t, host) == "up" })
	discover()
	old := hypervisorID()
	if old == "" {
		t.Fatalf("no hypervisor row for %s", host)
	}
	var svcID any
	for _, r := range computeServices(t) {
		if r.Host == host {
			svcID = r.ID
		}
	}
	// Stopped first, so that no resource pass of the old process can put the provider that
	// nova-api deletes back in the meantime.
	n.stop(t)
	if _, err := run(t, 2*time.Minute, "openstack", "compute", "service", "delete", fmt.Sprint(svcID)); err != nil {
		t.Fatal(err)
	}
	if rows := computeServices(t); len(rows) != 0 {
		t.Fatalf("compute services after delete: %+v", rows)
	}

	n2 := startNovalet(t)
	n2.waitNotify(t, "READY=1", 3*time.Minute)
	eventually(t, 30*time.Second, "service up again", func() bool { return hostState(t, host) == "up" })
	// nova-api lists a compute node only once it is mapped: discover_hosts must find it.
	out := discover()
	t.Logf("discover_hosts after the re-add: %s", out)
	// Either this discover_hosts maps it, or the scheduler's periodic one
	// (discover_hosts_in_cells_interval) did already: the mapping must exist now.
	if lh, err := run(t, 2*time.Minute, novaManage, "cell_v2", "list_hosts"); err != nil || !strings.Contains(string(lh), " "+host+" ") {
		t.Errorf("host %s not mapped after the re-add (%v):\n%s\ndiscover_hosts said:\n%s", host, err, lh, out)
	}
	id := hypervisorID()
	if id == "" || id == old {
		t.Fatalf("hypervisor after the re-add: %q (before: %q): want a new compute node", id, old)
	}
	if b, err := os.ReadFile("/var/lib/nova/compute_id"); err != nil || strings.TrimSpace(string(b)) != id {
		t.Errorf("compute_id %q (%v), want the new node's uuid %s", b, err, id)
	}
	// Other nodes' providers (a second node, the scale bench's) may exist; this host has one.
	var provs []map[string]any
	openstack(t, &provs, "resource", "provider", "list", "--name", host)
	if len(provs) != 1 || provs[0]["uuid"] != id {
		t.Errorf("resource providers named %s: %v, want one, %s", host, provs, id)
	}

	// Schedulable: a server builds on the host.
	sid := createServers(t, "e2e-readd", "guest", 1)[0]
	s := waitStatus(t, sid, bootTimeout, "ACTIVE", "ERROR")
	if s.Status != "ACTIVE" || s.Host != host {
		t.Fatalf("server on the re-added host: status %s host %q fault %v", s.Status, s.Host, s.Fault)
	}
	deleteServer(t, sid)
}
