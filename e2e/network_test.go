//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The reference scenario (../shared/reference/scenario.md) on a novalet host (issue 6): a
// server on the flat network test_net with the key pair test-key, reached over SSH from the
// host side of the network.

const (
	testKey    = "/var/tmp/novalet-controlplane/test-key.pem"
	hostSideIf = "vprov1" // the host's end of the provider veth (controlplane/lib.sh)
	hostSideIP = "10.254.0.250/24"
)

// hostOnFlatNetwork gives the host an address on test_net's subnet (outside the allocation
// pool) for the test's duration.
func hostOnFlatNetwork(t *testing.T) {
	t.Helper()
	out, err := exec.Command("ip", "addr", "add", hostSideIP, "dev", hostSideIf).CombinedOutput()
	if err != nil && !strings.Contains(string(out), "File exists") {
		t.Fatalf("ip addr add %s dev %s: %v %s", hostSideIP, hostSideIf, err, out)
	}
	if err == nil {
		t.Cleanup(func() { _ = exec.Command("ip", "addr", "del", hostSideIP, "dev", hostSideIf).Run() })
	}
}

type portInfo struct {
	ID          string `json:"id"`
	Status      string `json:"status"`
	BindingHost string `json:"binding_host_id"`
	DeviceID    string `json:"device_id"`
}

func serverPorts(t *testing.T, id string) []portInfo {
	t.Helper()
	var rows []struct {
		ID string `json:"ID"`
	}
	openstack(t, &rows, "port", "list", "--device-id", id)
	var out []portInfo
	for _, r := range rows {
		var p portInfo
		openstack(t, &p, "port", "show", r.ID)
		out = append(out, p)
	}
	return out
}

func linkMTU(t *testing.T, dev string) (mtu int, master string) {
	t.Helper()
	out, err := exec.Command("ip", "-j", "link", "show", dev).Output()
	if err != nil {
		return 0, ""
	}
	var links []struct {
		MTU    int    `json:"mtu"`
		Master string `json:"master"`
	}
	if json.Unmarshal(out, &links) != nil || len(links) != 1 {
		return 0, ""
	}
	return links[0].MTU, links[0].Master
}

// createOnNetwork creates a server of the test guest on test_net with the test key, waits
// until it is ACTIVE, and deletes it when the test ends.
func createOnNetwork(t *testing.T, name string) string {
	t.Helper()
	var created struct {
		ID string `json:"id"`
	}
	openstack(t, &created, computeAPI, "server", "create", "--flavor", "test_flavor", "--network", "test_net",
		"--key-name", "test-key", "--image", "guest", name, "--wait")
	trackServer(t, created.ID)
	return created.ID
}

func TestReferenceScenario(t *testing.T) {
	requireControlPlane(t)
	hostOnFlatNetwork(t)
	n := startNovalet(t)
	n.waitNotify(t, "READY=1", 3*time.Minute)

	id := createOnNetwork(t, "cirros-VM1")
	var s struct {
		Status    string              `json:"status"`
		Addresses map[string][]string `json:"addresses"`
	}
	openstack(t, &s, computeAPI, "server", "show", id)
	if s.Status != "ACTIVE" || len(s.Addresses["test_net"]) != 1 {
		t.Fatalf("cirros-VM1: %+v", s)
	}
	addr := s.Addresses["test_net"][0]
	if !strings.HasPrefix(addr, "10.254.0.") {
		t.Errorf("address %s outside the pool", addr)
	}

	ports := serverPorts(t, id)
	if len(ports) != 1 || ports[0].Status != "ACTIVE" {
		t.Fatalf("ports of cirros-VM1: %+v", ports)
	}
	host, _ := os.Hostname()
	if ports[0].BindingHost != host {
		t.Errorf("port bound to %q, want %q", ports[0].BindingHost, host)
	}
	tap := "tap" + ports[0].ID[:11]
	var netw struct {
		ID  string `json:"id"`
		MTU int    `json:"mtu"`
	}
	openstack(t, &netw, "network", "show", "test_net")
	if mtu, master := linkMTU(t, tap); mtu != netw.MTU || master != "brq"+netw.ID[:11] {
		t.Errorf("%s: mtu %d master %q, want %d brq%s", tap, mtu, master, netw.MTU, netw.ID[:11])
	}

	out := sshEcho(t, addr)
	if !strings.Contains(out, "hello from cirros-vm1") {
		t.Errorf("ssh said %q", out)
	}

	deleteServer(t, id)
	if mtu, _ := linkMTU(t, tap); mtu != 0 {
		t.Errorf("%s left after delete", tap)
	}
	if left := serverPorts(t, id); len(left) != 0 {
		t.Errorf("ports left after delete: %+v", left)
	}
}

// With the linuxbridge agent stopped nobody reports the port up: the build fails within
// vif_plugging_timeout with a fault that says so, and nothing is left behind.
func TestPortNeverComesUp(t *testing.T) {
	requireControlPlane(t)
	if out, err := exec.Command("bash", "../controlplane/stop.sh", "neutron-linuxbridge-agent").CombinedOutput(); err != nil {
		t.Fatalf("stopping the linuxbridge agent: %v %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("bash", "../controlplane/start.sh").CombinedOutput(); err != nil {
			t.Errorf("restarting the control plane: %v %s", err, out)
		}
	})
	n := startNovalet(t, "[DEFAULT]\nvif_plugging_timeout = 20\n")
	n.waitNotify(t, "READY=1", 3*time.Minute)

	var created struct {
		ID string `json:"id"`
	}
	openstack(t, &created, computeAPI, "server", "create", "--flavor", "test_flavor", "--network", "test_net",
		"--image", "guest", fmt.Sprintf("e2e-noport-%d", time.Now().Unix()))
	id := created.ID
	trackServer(t, id)
	start := time.Now()
	srv := waitStatus(t, id, 3*time.Minute, "ACTIVE", "ERROR")
	if srv.Status != "ERROR" {
		t.Fatalf("server is %s with no L2 agent", srv.Status)
	}
	t.Logf("ERROR %s after create", time.Since(start).Round(time.Second))
	msg, _ := srv.Fault["message"].(string)
	if !strings.Contains(msg, "did not come up") && !strings.Contains(msg, "network-vif-plugged") {
		t.Errorf("fault %q does not say the port never came up", msg)
	}
	if hasDomain(t, id) || exists(instancesPath+"/"+id) {
		t.Error("failed build left its domain or directory")
	}
	if left := serverPorts(t, id); len(left) != 0 {
		t.Errorf("failed build left ports: %+v", left)
	}
	out, _ := exec.Command("ip", "-br", "link").Output()
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], "tap") && !strings.Contains(f[0], "@") {
			t.Errorf("tap left after the failed build: %s", f[0])
		}
	}
}
