//go:build e2e

package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
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
	eventually(t, 3*time.Minute, "the unshelved guest's login prompt", func() bool {
		out, _ := run(t, time.Minute, "openstack", computeAPI, "console", "log", "show", id)
		return strings.Contains(string(out), "guest-init: login prompt ready")
	})
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
