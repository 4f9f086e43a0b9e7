//go:build e2e

package e2e

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/novalet/novalet/imagecache"
)

// Shelve, offload and unshelve (issue 15) against the unmodified Zed control plane, as
// tempest's test_shelve_instance and test_shelve_unshelve_server read them.

func TestShelveAndUnshelve(t *testing.T) {
	requireControlPlane(t)
	n := startNovalet(t)
	n.waitNotify(t, "READY=1", 3*time.Minute)

	id := createServers(t, "e2e-shelve", "guest", 1)[0]
	settle(t, id, "ACTIVE", "active", 1)
	if len(allocations(t, id)) == 0 {
		t.Fatal("the new server has no allocations")
	}

	// Shelve: with shelved_offload_time 0 the server leaves the host at once.
	serverAction(t, "shelve", id)
	s := waitStatus(t, id, 5*time.Minute, "SHELVED_OFFLOADED", "ERROR")
	if s.Status != "SHELVED_OFFLOADED" || s.TaskState != nil || s.Host != "" {
		t.Fatalf("after shelve: %s task %v host %q, want SHELVED_OFFLOADED with no task on no host (fault %v)", s.Status, s.TaskState, s.Host, s.Fault)
	}
	if hasDomain(t, id) || exists(filepath.Join(instancesPath, id)) {
		t.Error("the offloaded server's domain or directory is still on the host")
	}
	if a := allocations(t, id); len(a) != 0 {
		t.Errorf("the offloaded server still holds %v in Placement", a)
	}
	var images []struct {
		ID     string `json:"ID"`
		Status string `json:"Status"`
	}
	openstack(t, &images, "image", "list", "--name", "e2e-shelve-shelved")
	if len(images) != 1 || images[0].Status != "active" {
		t.Fatalf("shelve images %+v, want one active e2e-shelve-shelved", images)
	}
	snap := images[0].ID
	t.Cleanup(func() { _, _ = run(t, time.Minute, "openstack", "image", "delete", snap) })
	checkEvent(t, id, "shelve", "compute_shelve_instance")

	// Unshelve: scheduled back here, spawned from the snapshot, which is then deleted.
	serverAction(t, "unshelve", id)
	settle(t, id, "ACTIVE", "active", 1)
	if s := showServer(t, id); s.Host == "" {
		t.Error("the unshelved server has no host")
	}
	loginPrompt(t, id, 3*time.Minute)
	// nova's _rebase_original_qcow2_image: the disk made on the snapshot is backed by the
	// original image's base again.
	var guest struct {
		ID string `json:"id"`
	}
	openstack(t, &guest, "image", "show", "guest")
	if got, want := diskBacking(t, filepath.Join(instancesPath, id, "disk")), filepath.Join(instancesPath, "_base", imagecache.BaseName(guest.ID)); got != want {
		t.Errorf("the unshelved disk is backed by %q, want the original image's base %s", got, want)
	}
	eventually(t, time.Minute, "the shelve snapshot's deletion", func() bool { return showImage(t, snap) == nil || showImage(t, snap).Status == "deleted" })
	if len(allocations(t, id)) == 0 {
		t.Error("the unshelved server has no allocations")
	}
	checkEvent(t, id, "unshelve", "compute_unshelve_instance")

	// A server deleted while shelved goes (nova-api deletes it locally: no host to ask).
	serverAction(t, "shelve", id)
	waitStatus(t, id, 5*time.Minute, "SHELVED_OFFLOADED")
	deleteServer(t, id)
	if showServer(t, id) != nil {
		t.Error("the shelved server survived its delete")
	}
	_ = n
}

// diskBacking is the backing file qemu-img info reports for the qcow2 disk at path.
func diskBacking(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command("qemu-img", "info", "-f", "qcow2", "-U", "--output=json", path).Output()
	if err != nil {
		t.Fatalf("qemu-img info %s: %v", path, err)
	}
	var info struct {
		Backing string `json:"backing-filename"`
	}
	if err := json.Unmarshal(out, &info); err != nil {
		t.Fatal(err)
	}
	return info.Backing
}

// sshEcho waits until the guest at addr answers over SSH with the test key.
func sshEcho(t *testing.T, addr string) string {
	t.Helper()
	return guestRun(t, "cirros", addr, "echo hello from $(hostname)")
}

// TestShelveOnTheNetwork: a server on the flat network keeps its port and address through
// shelve-offload and unshelve, its tap leaves the bridge while offloaded, and SSH reaches it
// again on the same address (tempest's unshelve checks).
func TestShelveOnTheNetwork(t *testing.T) {
	requireControlPlane(t)
	hostOnFlatNetwork(t)
	n := startNovalet(t)
	n.waitNotify(t, "READY=1", 3*time.Minute)
	id := createOnNetwork(t, "e2e-shelve-net")
	ports := serverPorts(t, id)
	if len(ports) != 1 {
		t.Fatalf("ports %+v", ports)
	}
	var s struct {
		Addresses map[string][]string `json:"addresses"`
	}
	openstack(t, &s, computeAPI, "server", "show", id)
	addr := s.Addresses["test_net"][0]
	sshEcho(t, addr)

	serverAction(t, "shelve", id)
	if st := waitStatus(t, id, 5*time.Minute, "SHELVED_OFFLOADED", "ERROR"); st.Status != "SHELVED_OFFLOADED" {
		t.Fatalf("after shelve: %s (fault %v)", st.Status, st.Fault)
	}
	tap := "tap" + ports[0].ID[:11]
	if mtu, _ := linkMTU(t, tap); mtu != 0 {
		t.Errorf("%s still on the host while offloaded", tap)
	}
	if left := serverPorts(t, id); len(left) != 1 || left[0].ID != ports[0].ID {
		t.Errorf("ports while offloaded %+v, want %s kept", left, ports[0].ID)
	}
	var snaps []struct {
		ID string `json:"ID"`
	}
	openstack(t, &snaps, "image", "list", "--name", "e2e-shelve-net-shelved")
	for _, i := range snaps {
		i := i
		t.Cleanup(func() { _, _ = run(t, time.Minute, "openstack", "image", "delete", i.ID) })
	}

	serverAction(t, "unshelve", id)
	settle(t, id, "ACTIVE", "active", 1)
	openstack(t, &s, computeAPI, "server", "show", id)
	if got := s.Addresses["test_net"]; len(got) != 1 || got[0] != addr {
		t.Errorf("address after unshelve %v, want %s", got, addr)
	}
	if p := serverPorts(t, id); len(p) != 1 || p[0].ID != ports[0].ID || p[0].Status != "ACTIVE" {
		t.Errorf("ports after unshelve %+v, want %s ACTIVE", p, ports[0].ID)
	}
	if out := sshEcho(t, addr); !strings.Contains(out, "hello from e2e-shelve-net") {
		t.Errorf("ssh after unshelve said %q", out)
	}
	deleteServer(t, id)
	_ = n
}
