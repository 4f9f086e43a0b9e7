//go:build e2e

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Taking over a node (issue 7): Debian's nova-compute runs a server, the operator stops it and
// starts novalet in its place; the server keeps running in the same QEMU process, and novalet
// stops, starts and deletes it. The records are adopted, not duplicated.

// qemuPID is the running domain's QEMU process, from libvirt's pid file.
func qemuPID(t *testing.T, instName string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/run/libvirt/qemu", instName+".pid"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func controlplane(t *testing.T, script string, args ...string) {
	t.Helper()
	cmd := exec.Command("bash", append([]string{filepath.Join("..", "controlplane", script)}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("controlplane/%s %v: %v\n%s", script, args, err, tail(string(out), 20))
	}
}

// debianNovaCompute is Debian's nova-compute on this host, run as user nova by
// controlplane/start.sh --with-nova-compute (its PID recorded; start.sh returns once the
// service row is written after the launch) and ended by controlplane/stop.sh nova-compute.
type debianNovaCompute struct {
	running bool
	logFrom int64 // size of its log when it was started
}

// novaComputeLog is where controlplane/lib.sh's launch sends nova-compute's output.
const novaComputeLog = "/var/log/novalet-controlplane/nova-compute.log"

// startDebianNovaCompute starts it; the test's cleanup stops it if the test did not.
func startDebianNovaCompute(t *testing.T) *debianNovaCompute {
	t.Helper()
	d := &debianNovaCompute{running: true}
	if fi, err := os.Stat(novaComputeLog); err == nil {
		d.logFrom = fi.Size()
	}
	t.Cleanup(func() {
		if d.running {
			d.stop(t)
		}
	})
	controlplane(t, "start.sh", "--with-nova-compute")
	return d
}

func (d *debianNovaCompute) stop(t *testing.T) {
	t.Helper()
	controlplane(t, "stop.sh", "nova-compute")
	d.running = false
}

// logLines returns the lines it logged since it was started that contain any of the words.
func (d *debianNovaCompute) logLines(t *testing.T, words ...string) []string {
	t.Helper()
	b, err := os.ReadFile(novaComputeLog)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(b)) >= d.logFrom {
		b = b[d.logFrom:]
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		for _, w := range words {
			if strings.Contains(l, w) {
				out = append(out, l)
				break
			}
		}
	}
	return out
}

func countRows(t *testing.T, args ...string) int {
	t.Helper()
	var rows []map[string]any
	openstack(t, &rows, args...)
	return len(rows)
}

func TestTakeoverFromDebianNovaCompute(t *testing.T) {
	requireControlPlane(t)
	host, _ := os.Hostname()
	hostOnFlatNetwork(t)

	// Debian's nova-compute first, with a server on the flat network.
	debian := startDebianNovaCompute(t)
	eventually(t, 3*time.Minute, "Debian's nova-compute up", func() bool { return hostState(t, host) == "up" })
	var created struct {
		ID string `json:"id"`
	}
	openstack(t, &created, computeAPI, "server", "create", "--flavor", "test_flavor", "--network", "test_net",
		"--key-name", "test-key", "--image", "guest", "e2e-takeover", "--wait")
	id := created.ID
	s := showServer(t, id)
	if s == nil || s.Status != "ACTIVE" {
		t.Fatalf("Debian's nova-compute did not build the server: %+v", s)
	}
	pid := qemuPID(t, s.InstName)
	if pid == "" {
		t.Fatalf("no QEMU pid for %s", s.InstName)
	}
	hypervisors := countRows(t, "hypervisor", "list")
	providers := countRows(t, "resource", "provider", "list")

	// The operator's switch: stop the distribution's service, start novalet.
	debian.stop(t)
	n := startNovalet(t)
	n.waitNotify(t, "READY=1", 3*time.Minute)
	eventually(t, 30*time.Second, "novalet up", func() bool { return hostState(t, host) == "up" })
	if got := countRows(t, "hypervisor", "list"); got != hypervisors {
		t.Errorf("hypervisors %d after the takeover, %d before", got, hypervisors)
	}
	if got := countRows(t, "resource", "provider", "list"); got != providers {
		t.Errorf("resource providers %d after the takeover, %d before", got, providers)
	}
	if got := countRows(t, "compute", "service", "list", "--service", "nova-compute", "--host", host); got != 1 {
		t.Errorf("%d nova-compute services, want 1", got)
	}

	s = showServer(t, id)
	if s.Status != "ACTIVE" || s.TaskState != nil {
		t.Fatalf("server after the takeover: %+v", s)
	}
	if now := qemuPID(t, s.InstName); now != pid {
		t.Fatalf("QEMU pid %s after the takeover, %s before: the guest was restarted", now, pid)
	}
	addr := ""
	var full struct {
		Addresses map[string][]string `json:"addresses"`
	}
	openstack(t, &full, computeAPI, "server", "show", id)
	if a := full.Addresses["test_net"]; len(a) == 1 {
		addr = a[0]
	}
	ssh := func() bool {
		return exec.Command("ssh", "-i", testKey, "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
			"-o", "ConnectTimeout=5", "-o", "BatchMode=yes", "cirros@"+addr, "true").Run() == nil
	}
	eventually(t, 2*time.Minute, "ssh into the adopted guest", ssh)

	serverAction(t, "stop", id)
	settle(t, id, "SHUTOFF", "stopped", 4)
	serverAction(t, "start", id)
	settle(t, id, "ACTIVE", "active", 1)
	eventually(t, 3*time.Minute, "ssh after novalet restarted the guest", ssh)

	ports := serverPorts(t, id)
	deleteServer(t, id)
	if hasDomain(t, id) || exists(filepath.Join(instancesPath, id)) {
		t.Error("the adopted server left its domain or directory")
	}
	for _, p := range ports {
		if mtu, _ := linkMTU(t, "tap"+p.ID[:11]); mtu != 0 {
			t.Errorf("tap of port %s left", p.ID)
		}
	}
	if left := serverPorts(t, id); len(left) != 0 {
		t.Errorf("ports left: %+v", left)
	}
}
