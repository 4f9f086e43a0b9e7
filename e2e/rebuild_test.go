//go:build e2e

package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// Rebuild (issue 15) against the unmodified Zed control plane: `openstack server rebuild` of a
// running server on test_net (its port kept, its tap made again) and of a stopped one, read
// back as tempest's rebuild tests read them.

// rebuildConf bounds the clean power-off of a guest that ignores the power button.
const rebuildConf = `[DEFAULT]
shutdown_timeout = 20
`

// serverImage is the image id `openstack server show` names.
func serverImage(t *testing.T, id string) string {
	t.Helper()
	var s struct {
		Image any `json:"image"`
	}
	openstack(t, &s, computeAPI, "server", "show", id)
	return fmt.Sprint(s.Image)
}

// checkEvents checks that the newest action of the kind has each event, each a Success.
func checkEvents(t *testing.T, id, action string, want ...string) {
	t.Helper()
	events, ok := newestActionEvents(t, id, action)
	if !ok {
		t.Errorf("server %s has no %s action", id, action)
		return
	}
	got := map[string]string{}
	for _, e := range events {
		got[e.Event] = e.Result
	}
	for _, w := range want {
		if got[w] != "Success" {
			t.Errorf("action %s of %s: events %v, want %s Success", action, id, got, w)
		}
	}
}

func TestRebuild(t *testing.T) {
	requireControlPlane(t)
	n := startNovalet(t, rebuildConf)
	n.waitNotify(t, "READY=1", 3*time.Minute)
	other := uploadImage(t, "e2e-rebuild-other", guestImage(t), "qcow2")

	var created struct {
		ID string `json:"id"`
	}
	openstack(t, &created, computeAPI, "server", "create", "--flavor", "test_flavor", "--network", "test_net",
		"--image", "guest", "e2e-rebuild-running")
	running := created.ID
	trackServer(t, running)
	stopped := createServers(t, "e2e-rebuild-stopped", "guest", 1)[0]
	settle(t, running, "ACTIVE", "active", 1)
	settle(t, stopped, "ACTIVE", "active", 1)
	loginPrompt(t, running, 3*time.Minute)
	portsBefore := serverPorts(t, running)
	if len(portsBefore) != 1 || portsBefore[0].Status != "ACTIVE" {
		t.Fatalf("ports before the rebuild: %+v", portsBefore)
	}
	tap := "tap" + portsBefore[0].ID[:11]

	// A running server: ACTIVE again on the new image, its port kept, its tap made again, the
	// config drive carrying the new password, the guest booting to its login prompt.
	start := time.Now()
	serverAction(t, "rebuild", "--image", other, "--password", "Rebuilt-Pass-15", running)
	settle(t, running, "ACTIVE", "active", 1)
	t.Logf("rebuild of a running server: %v to ACTIVE", time.Since(start).Round(time.Millisecond))
	if img := serverImage(t, running); !strings.Contains(img, other) {
		t.Errorf("image after the rebuild %q, want %s", img, other)
	}
	if !hasDomain(t, running) {
		t.Error("no domain after the rebuild")
	}
	portsAfter := serverPorts(t, running)
	if len(portsAfter) != 1 || portsAfter[0].ID != portsBefore[0].ID {
		t.Errorf("ports after the rebuild %+v, want %s kept", portsAfter, portsBefore[0].ID)
	}
	if mtu, master := linkMTU(t, tap); mtu == 0 || !strings.HasPrefix(master, "brq") {
		t.Errorf("%s after the rebuild: mtu %d master %q", tap, mtu, master)
	}
	cd, err := os.ReadFile(filepath.Join(instancesPath, running, "disk.config"))
	if err != nil || !bytes.Contains(cd, []byte("Rebuilt-Pass-15")) {
		t.Errorf("config drive does not carry the new password (%v)", err)
	}
	loginPrompt(t, running, 3*time.Minute)
	t.Logf("rebuild of a running server: %v to the login prompt", time.Since(start).Round(time.Millisecond))
	checkEvents(t, running, "rebuild", "compute_rebuild_instance")
	eventually(t, 2*time.Minute, "the port ACTIVE after the rebuild", func() bool {
		p := serverPorts(t, running)
		return len(p) == 1 && p[0].Status == "ACTIVE"
	})

	// A stopped server: rebuilt, then stopped again (tempest test_rebuild_server_in_stop_state).
	serverAction(t, "stop", stopped)
	settle(t, stopped, "SHUTOFF", "stopped", 4)
	start = time.Now()
	serverAction(t, "rebuild", "--image", other, stopped)
	settle(t, stopped, "SHUTOFF", "stopped", 4)
	t.Logf("rebuild of a stopped server: %v to SHUTOFF", time.Since(start).Round(time.Millisecond))
	if img := serverImage(t, stopped); !strings.Contains(img, other) {
		t.Errorf("image after the rebuild %q, want %s", img, other)
	}
	checkEvents(t, stopped, "rebuild", "compute_rebuild_instance", "compute_stop_instance")
	// And it starts from the new disk.
	serverAction(t, "start", stopped)
	settle(t, stopped, "ACTIVE", "active", 1)
	loginPrompt(t, stopped, 3*time.Minute)

	for _, id := range []string{running, stopped} {
		if s := showServer(t, id); s != nil && len(s.Fault) > 0 {
			t.Errorf("server %s has a fault: %v", id, s.Fault)
		}
	}
	if got := domains(t); !slices.Contains(got, running) || !slices.Contains(got, stopped) {
		t.Errorf("domains %v", got)
	}
}
