//go:build e2e

package e2e

import (
	"bufio"
	"fmt"
	"net"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Day-2 operations on a running server (issue 7): every command an operator uses, checked
// through the API the way they would read it.

// day2Conf shortens the waits so the test sees the sync and the shutdown fallback quickly.
const day2Conf = `[DEFAULT]
sync_power_state_interval = 5
shutdown_timeout = 10
`

// serverAction runs `openstack server <verb> id` (no output expected).
func serverAction(t *testing.T, verb string, args ...string) {
	t.Helper()
	if _, err := run(t, 2*time.Minute, "openstack", append([]string{computeAPI, "server", verb}, args...)...); err != nil {
		t.Fatal(err)
	}
}

// settle waits for status with no task state and checks vm_state and power_state.
func settle(t *testing.T, id, status, vmState string, power int) {
	t.Helper()
	var s *serverInfo
	eventually(t, 3*time.Minute, fmt.Sprintf("server %s %s with no task", id, status), func() bool {
		s = showServer(t, id)
		return s != nil && s.Status == status && s.TaskState == nil
	})
	if s.VMState != vmState || fmt.Sprint(s.PowerState) != fmt.Sprint(power) {
		t.Errorf("server %s: vm_state %q power_state %v, want %q %d", id, s.VMState, s.PowerState, vmState, power)
	}
}

// actionEvent is one event of a server action, as `openstack server event show` lists it.
type actionEvent struct {
	Event  string `json:"event"`
	Result string `json:"result"`
}

// newestActionEvents returns the events of the newest action of the given kind; ok is false
// when the server has no such action.
func newestActionEvents(t *testing.T, id, action string) (events []actionEvent, ok bool) {
	t.Helper()
	var actions []struct {
		RequestID string `json:"Request ID"`
		Action    string `json:"Action"`
	}
	openstack(t, &actions, computeAPI, "server", "event", "list", id)
	for _, a := range actions { // newest first
		if a.Action != action {
			continue
		}
		var detail struct {
			Events []actionEvent `json:"events"`
		}
		openstack(t, &detail, computeAPI, "server", "event", "show", id, a.RequestID)
		return detail.Events, true
	}
	return nil, false
}

// lastEvent returns the event and result of the newest action of the given kind.
func lastEvent(t *testing.T, id, action string) (string, string) {
	t.Helper()
	events, _ := newestActionEvents(t, id, action)
	if len(events) == 0 {
		return "", ""
	}
	return events[0].Event, events[0].Result
}

// loginPrompt waits for the test guest's login prompt on the server's console log.
func loginPrompt(t *testing.T, id string, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, "the login prompt of "+id, func() bool {
		out, _ := run(t, time.Minute, "openstack", computeAPI, "console", "log", "show", id)
		return strings.Contains(string(out), "guest-init: login prompt ready")
	})
}

func checkEvent(t *testing.T, id, action, wantEvent string) {
	t.Helper()
	ev, res := lastEvent(t, id, action)
	if ev != wantEvent || res != "Success" {
		t.Errorf("action %s: event %q result %q, want %s Success", action, ev, res, wantEvent)
	}
}

func TestServerDay2(t *testing.T) {
	requireControlPlane(t)
	n := startNovalet(t, day2Conf)
	n.waitNotify(t, "READY=1", 3*time.Minute)

	id := createServers(t, "e2e-day2", "guest", 1)[0]
	settle(t, id, "ACTIVE", "active", 1)
	eventually(t, 2*time.Minute, "the guest's login prompt", func() bool {
		out, _ := run(t, time.Minute, "openstack", computeAPI, "console", "log", "show", id)
		return strings.Contains(string(out), "guest-init: login prompt ready")
	})
	out, err := run(t, time.Minute, "openstack", computeAPI, "console", "log", "show", "--lines", "2", id)
	if err != nil || strings.Count(strings.TrimRight(string(out), "\n"), "\n") > 1 {
		t.Errorf("console log show --lines 2: %q %v", out, err)
	}

	var console struct {
		URL string `json:"url"`
	}
	openstack(t, &console, computeAPI, "console", "url", "show", "--novnc", id)
	u, err := url.Parse(console.URL)
	if err != nil || !strings.Contains(u.RawQuery, "token") {
		t.Errorf("console url %q has no token", console.URL)
	}
	xml, _ := exec.Command("virsh", "-c", "qemu:///system", "dumpxml", id).Output()
	port := ""
	if i := strings.Index(string(xml), "<graphics type='vnc' port='"); i >= 0 {
		port = strings.SplitN(string(xml)[i+len("<graphics type='vnc' port='"):], "'", 2)[0]
	}
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, 5*time.Second)
	if err != nil {
		t.Fatalf("VNC port %s: %v", port, err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	greeting, _ := bufio.NewReader(c).ReadString('\n')
	c.Close()
	if !strings.HasPrefix(greeting, "RFB ") {
		t.Errorf("VNC port %s greets %q, want RFB", port, greeting)
	}

	serverAction(t, "stop", id)
	settle(t, id, "SHUTOFF", "stopped", 4)
	checkEvent(t, id, "stop", "compute_stop_instance")
	serverAction(t, "start", id)
	settle(t, id, "ACTIVE", "active", 1)
	checkEvent(t, id, "start", "compute_start_instance")
	serverAction(t, "reboot", id)
	settle(t, id, "ACTIVE", "active", 1)
	checkEvent(t, id, "reboot", "compute_reboot_instance")
	serverAction(t, "reboot", "--hard", id)
	settle(t, id, "ACTIVE", "active", 1)
	serverAction(t, "pause", id)
	settle(t, id, "PAUSED", "paused", 3)
	checkEvent(t, id, "pause", "compute_pause_instance")
	serverAction(t, "unpause", id)
	settle(t, id, "ACTIVE", "active", 1)
	serverAction(t, "suspend", id)
	settle(t, id, "SUSPENDED", "suspended", 4)
	checkEvent(t, id, "suspend", "compute_suspend_instance")
	serverAction(t, "resume", id)
	settle(t, id, "ACTIVE", "active", 1)
	checkEvent(t, id, "resume", "compute_resume_instance")

	// The guest powers itself off (its ACPI button pressed behind nova's back): the sync
	// reports it SHUTOFF within a few intervals.
	eventually(t, 2*time.Minute, "the guest's login prompt after resume", func() bool {
		st, _ := exec.Command("virsh", "-c", "qemu:///system", "domstate", id).Output()
		return strings.TrimSpace(string(st)) == "running"
	})
	time.Sleep(5 * time.Second) // acpid must be up again in the guest after the reboots
	if out, err := exec.Command("virsh", "-c", "qemu:///system", "shutdown", id).CombinedOutput(); err != nil {
		t.Fatalf("virsh shutdown: %v %s", err, out)
	}
	settle(t, id, "SHUTOFF", "stopped", 4)

	// Unsupported operations answer clearly and leave no task state behind.
	if _, err := run(t, time.Minute, "openstack", computeAPI, "server", "rescue", id); err == nil {
		eventually(t, time.Minute, "rescue to fail and clear its task", func() bool {
			s := showServer(t, id)
			return s != nil && s.TaskState == nil
		})
	}
	_ = n
}

func TestKillDuringStop(t *testing.T) {
	requireControlPlane(t)
	n := startNovalet(t, day2Conf)
	n.waitNotify(t, "READY=1", 3*time.Minute)

	t0 := time.Now()
	id := createServers(t, "e2e-killstop", "guest", 1)[0]
	settle(t, id, "ACTIVE", "active", 1)
	t.Logf("%s: active", time.Since(t0).Round(time.Second))
	// A paused vCPU ignores the power button, so the stop waits its shutdown_timeout: the
	// kill lands in that wait.
	if out, err := exec.Command("virsh", "-c", "qemu:///system", "suspend", id).CombinedOutput(); err != nil {
		t.Fatalf("virsh suspend: %v %s", err, out)
	}
	serverAction(t, "stop", id)
	eventually(t, time.Minute, "stop to be in progress", func() bool {
		s := showServer(t, id)
		return s != nil && s.TaskState != nil && *s.TaskState == "powering-off"
	})
	time.Sleep(2 * time.Second)
	if err := n.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-n.exited
	n.exited <- nil
	t.Logf("%s: killed during the stop", time.Since(t0).Round(time.Second))
	n2 := startNovalet(t, day2Conf)
	n2.waitNotify(t, "READY=1", 3*time.Minute)
	t.Logf("%s: restarted", time.Since(t0).Round(time.Second))
	settle(t, id, "SHUTOFF", "stopped", 4)
	t.Logf("%s: settled", time.Since(t0).Round(time.Second))
	// Delete while this novalet runs (cleanups run after it has stopped).
	deleteServer(t, id)
}
