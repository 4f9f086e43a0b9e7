//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// Resize on one host (issue 14) against the unmodified Zed control plane, whose nova-api has
// allow_resize_to_same_host: `openstack server resize` to VERIFY_RESIZE, then confirm; a second
// resize, then revert.

// domainVCPUs is the persistent definition's vCPU count and memory in KiB.
func domainVCPUs(t *testing.T, id string) (uint, uint) {
	t.Helper()
	d := inactiveDomain(t, id)
	return d.VCPU.Value, d.Memory.Value
}

// tempFlavor creates a public flavor for the test and deletes it at the end.
func tempFlavor(t *testing.T, name, vcpus, ramMB, diskGB string) {
	t.Helper()
	_, _ = run(t, time.Minute, "openstack", "flavor", "delete", name)
	if _, err := run(t, time.Minute, "openstack", "flavor", "create", "--vcpus", vcpus, "--ram", ramMB, "--disk", diskGB, name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = run(t, time.Minute, "openstack", "flavor", "delete", name) })
}

func serverFlavor(t *testing.T, id string) string {
	t.Helper()
	var s struct {
		Flavor map[string]any `json:"flavor"`
	}
	openstack(t, &s, computeAPI, "server", "show", id)
	name, _ := s.Flavor["original_name"].(string)
	return name
}

// migrationAllocations returns the status of the server's newest migration, the resource classes
// its consumer holds in Placement, and its UUID (the consumer).
func migrationAllocations(t *testing.T, id string) (status string, allocs []map[string]any, uuid string) {
	t.Helper()
	var migs []struct {
		UUID   string `json:"UUID"`
		Status string `json:"Status"`
	}
	openstack(t, &migs, "--os-compute-api-version=2.80", "server", "migration", "list", "--server", id)
	if len(migs) == 0 {
		t.Fatalf("server %s has no migration", id)
	}
	openstack(t, &allocs, "--os-placement-api-version=1.28", "resource", "provider", "allocation", "show", migs[0].UUID)
	return migs[0].Status, allocs, migs[0].UUID
}

func TestResize(t *testing.T) {
	requireControlPlane(t)
	conf, _ := os.ReadFile("/etc/nova/nova-controller.conf")
	if !regexp.MustCompile(`(?m)^allow_resize_to_same_host *= *true *$`).Match(conf) {
		t.Fatal("nova-api does not allow a resize to the same host: start the control plane with " +
			"ALLOW_RESIZE_TO_SAME_HOST=true (scripts/test.sh does) or controlplane/start.sh --allow-resize-to-same-host")
	}
	n := startNovalet(t)
	n.waitNotify(t, "READY=1", 3*time.Minute)
	tempFlavor(t, "e2e-resize-small", "2", "512", "2")
	tempFlavor(t, "e2e-resize-large", "2", "768", "3")

	var created struct {
		ID string `json:"id"`
	}
	openstack(t, &created, computeAPI, "server", "create", "--flavor", "test_flavor", "--image", "guest", "--nic", "none",
		"--config-drive", "True", "e2e-resize")
	id := created.ID
	trackServer(t, id)
	settle(t, id, "ACTIVE", "active", 1)
	dir := filepath.Join(instancesPath, id)

	// Resize, then confirm.
	start := time.Now()
	serverAction(t, "resize", "--flavor", "e2e-resize-small", id)
	settle(t, id, "VERIFY_RESIZE", "resized", 1)
	t.Logf("resize: %v to VERIFY_RESIZE", time.Since(start).Round(time.Millisecond))
	if v, m := domainVCPUs(t, id); v != 2 || m != 512*1024 {
		t.Errorf("domain after resize: %d vCPUs, %d KiB", v, m)
	}
	if !exists(dir+"_resize") || !exists(filepath.Join(dir, "disk")) {
		t.Errorf("after resize: %s_resize kept %v, new disk %v", dir, exists(dir+"_resize"), exists(filepath.Join(dir, "disk")))
	}
	checkEvents(t, id, "resize", "compute_prep_resize", "compute_resize_instance", "compute_finish_resize")
	serverAction(t, "resize", "confirm", id)
	settle(t, id, "ACTIVE", "active", 1)
	if f := serverFlavor(t, id); f != "e2e-resize-small" {
		t.Errorf("flavor after confirm: %q", f)
	}
	if exists(dir + "_resize") {
		t.Error("<uuid>_resize left after confirm")
	}
	checkEvents(t, id, "confirmResize", "compute_confirm_resize")
	if st, allocs, _ := migrationAllocations(t, id); st != "confirmed" || len(allocs) != 0 {
		t.Errorf("after confirm: migration %s, its allocations %v", st, allocs)
	}

	// Resize again, then revert.
	serverAction(t, "resize", "--flavor", "e2e-resize-large", id)
	settle(t, id, "VERIFY_RESIZE", "resized", 1)
	if v, m := domainVCPUs(t, id); v != 2 || m != 768*1024 {
		t.Errorf("domain after the second resize: %d vCPUs, %d KiB", v, m)
	}
	serverAction(t, "resize", "revert", id)
	settle(t, id, "ACTIVE", "active", 1)
	if f := serverFlavor(t, id); f != "e2e-resize-small" {
		t.Errorf("flavor after revert: %q", f)
	}
	if v, m := domainVCPUs(t, id); v != 2 || m != 512*1024 {
		t.Errorf("domain after revert: %d vCPUs, %d KiB", v, m)
	}
	if exists(dir + "_resize") {
		t.Error("<uuid>_resize left after revert")
	}
	checkEvents(t, id, "revertResize", "compute_revert_resize", "compute_finish_revert_resize")
	if st, allocs, _ := migrationAllocations(t, id); st != "reverted" || len(allocs) != 0 {
		t.Errorf("after revert: migration %s, its allocations %v", st, allocs)
	}

	deleteServer(t, id)
	if hasDomain(t, id) || exists(dir) || exists(dir+"_resize") {
		t.Error("domain or files left after deleting the resized server")
	}
	_ = n
}
