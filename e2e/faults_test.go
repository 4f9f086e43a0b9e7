//go:build e2e

package e2e

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/novalet/novalet/internal/failpoint"
	"github.com/novalet/novalet/internal/testenv"
)

// The fault suite (`make faults`; also part of `make test`): the real daemon on the control
// plane, one fault per case. After each case, with novalet restarted where the case killed
// it, every server of the case is in a settled state nova would reach, and the host census
// (census_test.go) finds no domain, instance directory, tap, allocation or temporary file
// without its owner. The table of cases is printed at the end and written to
// .cache/faults.txt.

// faultRow is one line of the suite's table.
type faultRow struct{ name, settled, leaks string }

// killCase interrupts one operation with kill -9 at a failpoint (internal/failpoint).
type killCase struct {
	fp     string   // the failpoint novalet holds at
	action []string // the server action after the build ("" for the build itself)
	want   string   // the settled status nova reaches after the restart ("" = deleted)
}

var killCases = []killCase{
	// nova's _init_instance: a build interrupted on this host ends in ERROR.
	{fp: "build.image", want: "ERROR"},
	{fp: "build.disk", want: "ERROR"},
	{fp: "build.defined", want: "ERROR"},
	{fp: "build.started", want: "ERROR"},
	// task_state deleting: the delete is finished.
	{fp: "delete.removed", action: []string{"delete"}},
	{fp: "delete.deallocated", action: []string{"delete"}},
	// powering-off: the stop is retried.
	{fp: "stop.off", action: []string{"stop"}, want: "SHUTOFF"},
	// reboot_started_hard with the guest off: the hard reboot is retried.
	{fp: "reboot.destroyed", action: []string{"reboot", "--hard"}, want: "ACTIVE"},
	// suspending with the guest saved: settled on what the hypervisor shows.
	{fp: "suspend.saved", action: []string{"suspend"}, want: "SUSPENDED"},
	// shelving_offloading with the host side removed: the offload is finished.
	{fp: "shelve.offload.removed", action: []string{"shelve"}, want: "SHELVED_OFFLOADED"},
}

func TestFaults(t *testing.T) {
	requireControlPlane(t)
	var table []faultRow
	t.Cleanup(func() { writeFaultTable(t, table) })
	record := func(name, settled string, leaks []string) {
		l := "none"
		if len(leaks) > 0 {
			l = strings.Join(leaks, "; ")
		}
		table = append(table, faultRow{name, settled, l})
	}

	// each runs one case; its row is recorded even when the case fails.
	each := func(sub, name string, fn func(t *testing.T) string) {
		t.Run(sub, func(t *testing.T) {
			settled := "FAILED"
			defer func() { record(name, settled, hostLeaks(t)) }()
			settled = fn(t)
		})
	}
	for _, c := range killCases {
		each(c.fp, "kill -9 at "+c.fp, func(t *testing.T) string { return faultKill(t, c) })
	}
	each("second-novalet", "a second novalet started", faultSecondNovalet)
	each("sigterm-five-builds", "SIGTERM during five builds", faultSigtermBuilds)
	each("placement-neutron-stopped", fmt.Sprintf("Placement and Neutron stopped for %s", serviceStopFor), faultPlacementNeutronStopped)
	each("broker-restart", "RabbitMQ restarted during a build", faultBrokerRestart)
	each("instances-path-full", fmt.Sprintf("instances_path filled to leave %d MiB, then freed", fullLeft>>20), faultDiskFull)
	each("libvirtd-restart", "libvirtd restarted under a running guest", faultLibvirtdRestart)
	each("libvirtd-sigstop", fmt.Sprintf("libvirtd SIGSTOPped for %s", libvirtdStopFor), faultLibvirtdStopped)
}

// faultKill runs one kill case and returns the settled status it saw.
func faultKill(t *testing.T, c killCase) string {
	n := startNovaletEnv(t, []string{failpoint.Env + "=" + c.fp})
	n.waitNotify(t, "READY=1", 3*time.Minute)
	id := createServers(t, "e2e-fault-"+strings.ReplaceAll(c.fp, ".", "-"), "guest", 1)[0]
	if len(c.action) > 0 {
		waitStatus(t, id, 3*time.Minute, "ACTIVE")
		serverAction(t, c.action[0], append(c.action[1:], id)...)
	}
	n2 := killAtFailpoint(t, n, id, c.fp)
	if c.want == "" {
		eventually(t, 3*time.Minute, "server "+id+" deleted after the restart", func() bool { return showServer(t, id) == nil })
		if hasDomain(t, id) || exists(filepath.Join(instancesPath, id)) {
			t.Error("the finished delete left a domain or a directory")
		}
		n2.stop(t)
		return "deleted"
	}
	s := settledServer(t, id)
	if s.Status != c.want {
		t.Errorf("after the restart the server is %s (fault %v), want %s", s.Status, s.Fault, c.want)
	}
	checkHypervisorAgrees(t, s)
	deleteServer(t, id)
	n2.stop(t)
	return s.Status
}

// killAtFailpoint waits until n holds at fp for the instance, kills it -9 and starts a new
// novalet (no failpoints), which recovers.
func killAtFailpoint(t *testing.T, n *novalet, id, fp string) *novalet {
	t.Helper()
	return n.killWhen(t, failpoint.Msg, func(rec map[string]any) bool {
		return rec["instance_uuid"] == id && rec["failpoint"] == fp
	})
}

// buildsAndDeletes builds a server named name, wants it ACTIVE (after what: why), deletes
// it and returns the status the build reached.
func buildsAndDeletes(t *testing.T, name, after string) string {
	t.Helper()
	id := createServers(t, name, "guest", 1)[0]
	s := waitStatus(t, id, 3*time.Minute, "ACTIVE", "ERROR")
	if s.Status != "ACTIVE" {
		t.Errorf("the build %s ended %s: %v", after, s.Status, s.Fault)
	}
	deleteServer(t, id)
	return s.Status
}

// settledServer waits until the server has no task state and a status that is not a
// transition, and returns it.
func settledServer(t *testing.T, id string) *serverInfo {
	t.Helper()
	var s *serverInfo
	eventually(t, 3*time.Minute, "server "+id+" settled", func() bool {
		s = showServer(t, id)
		if s == nil {
			t.Fatalf("server %s vanished", id)
		}
		switch s.Status {
		case "ACTIVE", "SHUTOFF", "PAUSED", "SUSPENDED", "SHELVED", "SHELVED_OFFLOADED", "ERROR":
			return s.TaskState == nil
		}
		return false
	})
	return s
}

// checkHypervisorAgrees checks that libvirt shows what the server's status says. An offloaded
// server has nothing left on the host: no domain, no directory, no allocations.
func checkHypervisorAgrees(t *testing.T, s *serverInfo) {
	t.Helper()
	if s.Status == "SHELVED_OFFLOADED" {
		if hasDomain(t, s.ID) || exists(filepath.Join(instancesPath, s.ID)) {
			t.Errorf("offloaded server %s left a domain or a directory", s.ID)
		}
		if a := allocations(t, s.ID); len(a) > 0 {
			t.Errorf("offloaded server %s keeps allocations %v", s.ID, a)
		}
		return
	}
	out, _ := exec.Command("virsh", "-c", "qemu:///system", "domstate", s.ID).CombinedOutput()
	state := strings.TrimSpace(string(out))
	want := map[string]string{"ACTIVE": "running", "SHUTOFF": "shut off", "SUSPENDED": "shut off", "PAUSED": "paused"}[s.Status]
	if want != "" && state != want {
		t.Errorf("server %s is %s but its domain is %q", s.ID, s.Status, state)
	}
	if s.Status == "SUSPENDED" {
		if out, _ := exec.Command("virsh", "-c", "qemu:///system", "dominfo", s.ID).CombinedOutput(); !strings.Contains(string(out), "Managed save:   yes") {
			t.Errorf("server %s is SUSPENDED without a managed save:\n%s", s.ID, out)
		}
	}
}

// faultSecondNovalet starts a second novalet beside a working one: it must exit non-zero
// naming the first one's PID, and the first one must go on serving.
func faultSecondNovalet(t *testing.T) string {
	n := startNovalet(t)
	n.waitNotify(t, "READY=1", 3*time.Minute)
	cmd := exec.Command(testenv.Novalet(t), "run", "--use-json", "--config-file", computeConf)
	out, err := runWithDeadline(cmd, time.Minute)
	if err == nil {
		t.Fatalf("a second novalet on the host exited 0:\n%s", tail(out, 20))
	}
	if pid := fmt.Sprint(n.cmd.Process.Pid); !strings.Contains(out, pid) {
		t.Errorf("the second novalet's refusal does not name the holder's PID %s:\n%s", pid, tail(out, 20))
	}
	st := buildsAndDeletes(t, "e2e-fault-second", "on the first novalet after the second one's attempt")
	n.stop(t)
	return "second exited " + exitText(err) + "; first builds: " + st
}

// faultSigtermBuilds sends SIGTERM while five builds run, then starts novalet again: each
// server settles, ACTIVE or ERROR with a fault, and nothing is left.
func faultSigtermBuilds(t *testing.T) string {
	n := startNovaletEnv(t, []string{failpoint.Env + "=build.defined"})
	n.waitNotify(t, "READY=1", 3*time.Minute)
	ids := createServers(t, "e2e-fault-term", "guest", 5)
	// Hold the builds at their domain definition until the five have reached it (or the
	// two-at-a-time ones have), so the SIGTERM lands in the middle of every one of them.
	eventually(t, 3*time.Minute, "a build to hold after its domain definition", func() bool {
		return len(n.logRecords(t, failpoint.Msg)) > 0
	})
	start := time.Now()
	n.stop(t)
	took := time.Since(start).Round(time.Second)
	n2 := startNovalet(t)
	n2.waitNotify(t, "READY=1", 3*time.Minute)
	counts := map[string]int{}
	for _, id := range ids {
		s := settledServer(t, id)
		counts[s.Status]++
		if s.Status == "ERROR" && s.Fault == nil {
			t.Errorf("server %s in ERROR without a fault", id)
		}
		if s.Status != "ERROR" {
			checkHypervisorAgrees(t, s)
		}
	}
	for _, id := range ids {
		deleteServer(t, id)
	}
	n2.stop(t)
	var settled []string
	for _, st := range slices.Sorted(maps.Keys(counts)) {
		settled = append(settled, fmt.Sprintf("%d %s", counts[st], st))
	}
	return fmt.Sprintf("exit after %s; %s", took, strings.Join(settled, ", "))
}

// serviceStopFor is how long Placement and Neutron stay stopped (the 60 s).
const serviceStopFor = 60 * time.Second

// faultPlacementNeutronStopped stops placement-api and neutron-server under a running
// novalet and restarts novalet in the outage: it comes up (READY) and heartbeats without
// them; once they are back, a server builds and deletes.
func faultPlacementNeutronStopped(t *testing.T) string {
	n := startNovalet(t)
	n.waitNotify(t, "READY=1", 3*time.Minute)
	controlplane(t, "stop.sh", "placement-api", "neutron-server")
	down := true
	defer func() {
		if down {
			controlplane(t, "start.sh")
		}
	}()
	stopped := time.Now()
	n.stop(t)
	n2 := startNovalet(t)
	n2.waitNotify(t, "READY=1", 3*time.Minute)
	ready := time.Since(stopped).Round(time.Second)
	time.Sleep(time.Until(stopped.Add(serviceStopFor)))
	if st := hostState(t, testHost); st != "up" {
		t.Errorf("compute service %s with Placement and Neutron stopped, want up", st)
	}
	controlplane(t, "start.sh")
	down = false
	st := buildsAndDeletes(t, "e2e-fault-cpdown", "after Placement and Neutron returned")
	n2.stop(t)
	return fmt.Sprintf("restarted novalet READY %s into the outage, up; then a build %s", ready, st)
}

// libvirtdStopFor is how long libvirtd stays SIGSTOPped (the 60 s).
const libvirtdStopFor = 60 * time.Second

// faultLibvirtdStopped freezes libvirtd under a running novalet with one server: /metrics
// and the service's heartbeat go on meanwhile, and once libvirtd runs again the server
// stops and starts.
func faultLibvirtdStopped(t *testing.T) string {
	n := startNovalet(t)
	n.waitNotify(t, "READY=1", 3*time.Minute)
	id := createServers(t, "e2e-fault-lvstop", "guest", 1)[0]
	waitStatus(t, id, 3*time.Minute, "ACTIVE")

	pid := libvirtdPID(t)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	cont := func() { _ = syscall.Kill(pid, syscall.SIGCONT) }
	defer cont()
	stopped := time.Now()
	var scrapes, slow int
	for time.Since(stopped) < libvirtdStopFor {
		t0 := time.Now()
		body := scrape(t, "http://127.0.0.1:9797/metrics")
		if time.Since(t0) > 10*time.Second {
			slow++
		}
		if !strings.Contains(body, "novalet_build_info") {
			t.Errorf("/metrics answered without novalet's metrics while libvirtd was stopped")
		}
		scrapes++
		time.Sleep(5 * time.Second)
	}
	if st := hostState(t, testHost); st != "up" {
		t.Errorf("compute service %s after %s with libvirtd stopped, want up (heartbeats go on)", st, libvirtdStopFor)
	}
	cont()
	if slow > 0 {
		t.Errorf("%d of %d /metrics scrapes took over 10 s while libvirtd was stopped", slow, scrapes)
	}
	serverAction(t, "stop", id)
	settle(t, id, "SHUTOFF", "stopped", 4)
	serverAction(t, "start", id)
	settle(t, id, "ACTIVE", "active", 1)
	deleteServer(t, id)
	n.stop(t)
	return fmt.Sprintf("ACTIVE→SHUTOFF→ACTIVE after; %d /metrics scrapes answered, %d slow", scrapes, slow)
}

// libvirtdPID is the host's libvirtd: the one scripts/parts.sh recorded, else libvirtd's own
// pid file (parts.sh records tini, libvirtd's reaper, whose comm is not libvirtd).
func libvirtdPID(t *testing.T) int {
	t.Helper()
	for _, f := range []string{"/var/tmp/novalet-parts/pids/libvirtd", "/run/libvirtd.pid"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var pid int
		if _, err := fmt.Sscan(string(b), &pid); err == nil && pid > 1 {
			if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); strings.TrimSpace(string(comm)) == "libvirtd" {
				return pid
			}
		}
	}
	t.Fatal("no running libvirtd recorded by scripts/parts.sh or in /run/libvirtd.pid")
	return 0
}

// runWithDeadline runs cmd and returns its combined output; the process is killed at the
// deadline.
func runWithDeadline(cmd *exec.Cmd, d time.Duration) (string, error) {
	var b strings.Builder
	cmd.Stdout, cmd.Stderr = &b, &b
	if err := cmd.Start(); err != nil {
		return "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return b.String(), err
	case <-time.After(d):
		_ = cmd.Process.Kill()
		<-done
		return b.String(), fmt.Errorf("still running after %s", d)
	}
}

func exitText(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return fmt.Sprint(ee.ExitCode())
	}
	return err.Error()
}

// writeFaultTable prints the suite's table and writes it to .cache/faults.txt.
func writeFaultTable(t *testing.T, rows []faultRow) {
	var b strings.Builder
	w := len("case")
	for _, r := range rows {
		w = max(w, len(r.name))
	}
	fmt.Fprintf(&b, "%-*s | %-66s | %s\n", w, "case", "settled states", "leaks found")
	for _, r := range rows {
		fmt.Fprintf(&b, "%-*s | %-66s | %s\n", w, r.name, r.settled, r.leaks)
	}
	t.Logf("fault suite:\n%s", b.String())
	dir := filepath.Join(testenv.RepoRoot(t), ".cache")
	if err := os.MkdirAll(dir, 0o755); err == nil {
		_ = os.WriteFile(filepath.Join(dir, "faults.txt"), []byte(b.String()), 0o644)
	}
}
