//go:build e2e

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"libvirt.org/go/libvirtxml"
)

// Rescue and unrescue (issue 15) against the unmodified Zed control plane: the operator's
// `openstack server rescue` and `unrescue`, the guest booting from the rescue disk, and a
// rescued server deleted as tempest's cleanup does.

// inactiveDomain is the server's persistent domain definition, as libvirtd holds it.
func inactiveDomain(t *testing.T, id string) libvirtxml.Domain {
	t.Helper()
	raw, err := exec.Command("virsh", "-c", "qemu:///system", "dumpxml", "--inactive", id).Output()
	if err != nil {
		t.Fatalf("virsh dumpxml %s: %v", id, err)
	}
	var d libvirtxml.Domain
	if err := d.Unmarshal(string(raw)); err != nil {
		t.Fatal(err)
	}
	return d
}

// domainDisks is the persistent definition's disks as "<target>:<file name>".
func domainDisks(t *testing.T, id string) string {
	t.Helper()
	d := inactiveDomain(t, id)
	var out []string
	for _, disk := range d.Devices.Disks {
		out = append(out, disk.Target.Dev+":"+filepath.Base(disk.Source.File.File))
	}
	return strings.Join(out, " ")
}

// rescuedBoots checks a rescued server's files are there, its rescue guest boots to a login
// prompt, and the rescue action's event was recorded.
func rescuedBoots(t *testing.T, id, dir string, files ...string) {
	t.Helper()
	for _, f := range files {
		if !exists(filepath.Join(dir, f)) {
			t.Errorf("%s missing while rescued", f)
		}
	}
	loginPrompt(t, id, 3*time.Minute)
	checkEvent(t, id, "rescue", "compute_rescue_instance")
}

// unrescueRestores unrescues the server and checks its own disks are back (and, with
// definition, whatever else the caller checks of the definition), no rescue file is left,
// and the guest boots again.
func unrescueRestores(t *testing.T, id, dir string, definition func()) {
	t.Helper()
	serverAction(t, "unrescue", id)
	settle(t, id, "ACTIVE", "active", 1)
	if got := domainDisks(t, id); got != "vda:disk hda:disk.config" {
		t.Errorf("disks after unrescue: %s", got)
	}
	if definition != nil {
		definition()
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == "unrescue.xml" || strings.HasSuffix(e.Name(), ".rescue") {
			t.Errorf("%s left after unrescue", e.Name())
		}
	}
	loginPrompt(t, id, 3*time.Minute)
	checkEvent(t, id, "unrescue", "compute_unrescue_instance")
}

func TestRescue(t *testing.T) {
	requireControlPlane(t)
	n := startNovalet(t)
	n.waitNotify(t, "READY=1", 3*time.Minute)

	var created struct {
		ID string `json:"id"`
	}
	openstack(t, &created, computeAPI, "server", "create", "--flavor", "test_flavor", "--image", "guest", "--nic", "none",
		"--config-drive", "True", "e2e-rescue")
	id := created.ID
	trackServer(t, id)
	settle(t, id, "ACTIVE", "active", 1)
	loginPrompt(t, id, 3*time.Minute)
	dir := filepath.Join(instancesPath, id)
	if got := domainDisks(t, id); got != "vda:disk hda:disk.config" {
		t.Fatalf("disks after build: %s", got)
	}

	// Rescue: the guest boots from disk.rescue, its own disk second, with a rescue config drive.
	start := time.Now()
	serverAction(t, "rescue", "--password", "e2e-Rescue-pw", id)
	settle(t, id, "RESCUE", "rescued", 1)
	t.Logf("rescue: %v to RESCUE", time.Since(start).Round(time.Millisecond))
	if got := domainDisks(t, id); got != "vda:disk.rescue vdb:disk hda:disk.config.rescue" {
		t.Errorf("disks while rescued: %s", got)
	}
	rescuedBoots(t, id, dir, "unrescue.xml", "disk.rescue", "disk.config.rescue")

	// Unrescue: the server's own definition back, the rescue files gone.
	unrescueRestores(t, id, dir, nil)

	// A rescued server is deleted whole (tempest's class clean-up).
	serverAction(t, "rescue", id)
	settle(t, id, "RESCUE", "rescued", 1)
	deleteServer(t, id)
	if hasDomain(t, id) {
		t.Error("domain still defined after deleting the rescued server")
	}
	if exists(dir) {
		t.Error("instance directory left after deleting the rescued server")
	}
	_ = n
}

// TestRescueOnTheNetwork: a rescued server on the flat network keeps its port and address;
// SSH reaches the rescue guest there (its config drive carries the key), and the server again
// after unrescue (tempest's rescue checks).
func TestRescueOnTheNetwork(t *testing.T) {
	requireControlPlane(t)
	hostOnFlatNetwork(t)
	n := startNovalet(t)
	n.waitNotify(t, "READY=1", 3*time.Minute)
	id := createOnNetwork(t, "e2e-rescue-net")
	ports := serverPorts(t, id)
	var s struct {
		Addresses map[string][]string `json:"addresses"`
	}
	openstack(t, &s, computeAPI, "server", "show", id)
	addr := s.Addresses["test_net"][0]
	sshEcho(t, addr)

	serverAction(t, "rescue", id)
	settle(t, id, "RESCUE", "rescued", 1)
	if got := domainDisks(t, id); !strings.HasPrefix(got, "vda:disk.rescue vdb:disk") {
		t.Errorf("rescue disks %s", got)
	}
	if out := sshEcho(t, addr); !strings.Contains(out, "hello from e2e-rescue-net") {
		t.Errorf("ssh into the rescue guest said %q", out)
	}
	if p := serverPorts(t, id); len(p) != 1 || p[0].ID != ports[0].ID || p[0].Status != "ACTIVE" {
		t.Errorf("ports while rescued %+v, want %s ACTIVE", p, ports[0].ID)
	}

	serverAction(t, "unrescue", id)
	settle(t, id, "ACTIVE", "active", 1)
	if got := domainDisks(t, id); strings.Contains(got, "rescue") {
		t.Errorf("disks after unrescue %s", got)
	}
	if out := sshEcho(t, addr); !strings.Contains(out, "hello from e2e-rescue-net") {
		t.Errorf("ssh after unrescue said %q", out)
	}
	deleteServer(t, id)
	_ = n
}
