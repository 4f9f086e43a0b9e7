//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// TestResizeAutoConfirm: with resize_confirm_window = 1, a resize left in VERIFY_RESIZE is
// confirmed by novalet's _poll_unconfirmed_resizes (oslo's default spacing, 60 s) without a
// user's confirm: the server ACTIVE on the new flavor, the migration confirmed with no
// allocations, <uuid>_resize gone, and the action confirmResize recorded as nova-api would.
func TestResizeAutoConfirm(t *testing.T) {
	requireControlPlane(t)
	conf, _ := os.ReadFile("/etc/nova/nova-controller.conf")
	if !regexp.MustCompile(`(?m)^allow_resize_to_same_host *= *true *$`).Match(conf) {
		t.Fatal("nova-api does not allow a resize to the same host: start the control plane with ALLOW_RESIZE_TO_SAME_HOST=true")
	}
	n := startNovalet(t, "[DEFAULT]\nresize_confirm_window = 1\n")
	n.waitNotify(t, "READY=1", 3*time.Minute)
	tempFlavor(t, "e2e-autoconfirm", "2", "512", "2")
	var created struct {
		ID string `json:"id"`
	}
	openstack(t, &created, computeAPI, "server", "create", "--flavor", "test_flavor", "--image", "guest", "--nic", "none",
		"e2e-autoconfirm")
	id := created.ID
	trackServer(t, id)
	settle(t, id, "ACTIVE", "active", 1)
	serverAction(t, "resize", "--flavor", "e2e-autoconfirm", id)
	settle(t, id, "VERIFY_RESIZE", "resized", 1)
	start := time.Now()
	settle(t, id, "ACTIVE", "active", 1)
	t.Logf("auto-confirmed %v after VERIFY_RESIZE", time.Since(start).Round(time.Second))
	if f := serverFlavor(t, id); f != "e2e-autoconfirm" {
		t.Errorf("flavor after the auto-confirm: %q", f)
	}
	if exists(filepath.Join(instancesPath, id) + "_resize") {
		t.Error("<uuid>_resize left after the auto-confirm")
	}
	checkEvents(t, id, "confirmResize", "compute_confirm_resize")
	if st, allocs, _ := migrationAllocations(t, id); st != "confirmed" || len(allocs) != 0 {
		t.Errorf("after the auto-confirm: migration %s, its allocations %v", st, allocs)
	}
	deleteServer(t, id)
}
