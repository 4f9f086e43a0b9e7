//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Snapshot and backup (issue 15) against the unmodified Zed control plane: what an operator
// runs, read back through Glance and nova as tempest's image tests read it.

// imageInfo is `openstack image show -f json`.
type imageInfo struct {
	ID              string         `json:"id"`
	Status          string         `json:"status"`
	DiskFormat      string         `json:"disk_format"`
	ContainerFormat string         `json:"container_format"`
	MinDisk         int            `json:"min_disk"`
	Size            int64          `json:"size"`
	Properties      map[string]any `json:"properties"`
}

func showImage(t *testing.T, id string) *imageInfo {
	t.Helper()
	b, err := run(t, time.Minute, "openstack", "image", "show", id, "-f", "json")
	if err != nil {
		if strings.Contains(err.Error(), "No Image found") || strings.Contains(err.Error(), "Could not find resource") {
			return nil
		}
		t.Fatal(err)
	}
	var img imageInfo
	if err := json.Unmarshal(b, &img); err != nil {
		t.Fatalf("image show %s: %v\n%s", id, err, b)
	}
	return &img
}

// glanceRecord is Glance's own record of an image (GET /v2/images/<id>).
func glanceRecord(t *testing.T, id string) map[string]any {
	t.Helper()
	var tok struct {
		ID string `json:"id"`
	}
	openstack(t, &tok, "token", "issue")
	req, _ := http.NewRequest(http.MethodGet, "http://controller:9292/v2/images/"+id, nil)
	req.Header.Set("X-Auth-Token", tok.ID)
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rec := map[string]any{}
	if err := json.NewDecoder(resp.Body).Decode(&rec); err != nil {
		t.Fatalf("GET image %s: %s: %v", id, resp.Status, err)
	}
	return rec
}

// snapshotServer runs `openstack server image create --wait` and tracks the image for removal.
func snapshotServer(t *testing.T, server, name string) *imageInfo {
	t.Helper()
	var img imageInfo
	openstack(t, &img, computeAPI, "server", "image", "create", "--name", name, "--wait", server)
	t.Cleanup(func() { _, _ = run(t, time.Minute, "openstack", "image", "delete", img.ID) })
	return showImage(t, img.ID)
}

// backupImages lists the backups of a server by backup type.
func backupImages(t *testing.T, server, backupType string) []string {
	t.Helper()
	var list []struct {
		ID string `json:"ID"`
	}
	openstack(t, &list, "image", "list", "--property", "image_type=backup", "--property", "instance_uuid="+server,
		"--property", "backup_type="+backupType)
	var ids []string
	for _, i := range list {
		ids = append(ids, i.ID)
	}
	return ids
}

func TestSnapshotAndBackup(t *testing.T) {
	requireControlPlane(t)
	n := startNovalet(t)
	n.waitNotify(t, "READY=1", 3*time.Minute)

	id := createServers(t, "e2e-snap", "guest", 1)[0]
	settle(t, id, "ACTIVE", "active", 1)
	loginPrompt(t, id, 2*time.Minute)

	// Live: the running guest is snapshotted and keeps running.
	start := time.Now()
	live := snapshotServer(t, id, "e2e-snap-live")
	t.Logf("live snapshot of a running server: %v to active", time.Since(start).Round(time.Millisecond))
	if live == nil || live.Status != "active" || live.DiskFormat != "qcow2" || live.ContainerFormat != "bare" || live.Size == 0 {
		t.Fatalf("live snapshot image: %+v", live)
	}
	for k, want := range map[string]string{"image_type": "snapshot", "instance_uuid": id, "image_location": "snapshot",
		"image_state": "available"} {
		if got := fmt.Sprint(live.Properties[k]); got != want {
			t.Errorf("snapshot property %s = %q, want %q", k, got, want)
		}
	}
	// The CLI shows owner_id as the image's owner; Glance's own record has the property.
	var project struct {
		ID string `json:"project_id"`
	}
	openstack(t, &project, computeAPI, "server", "show", id)
	if rec := glanceRecord(t, live.ID); rec["owner_id"] != project.ID || project.ID == "" {
		t.Errorf("snapshot owner_id = %v, want the server's project %q", rec["owner_id"], project.ID)
	}
	settle(t, id, "ACTIVE", "active", 1)
	checkEvent(t, id, "createImage", "compute_snapshot_instance")

	// The snapshot boots: a server from it reaches its login prompt.
	from := createServers(t, "e2e-from-snap", live.ID, 1)[0]
	settle(t, from, "ACTIVE", "active", 1)
	loginPrompt(t, from, 3*time.Minute)
	deleteServer(t, from)

	// Cold: a stopped server is snapshotted from its disk and stays stopped.
	serverAction(t, "stop", id)
	settle(t, id, "SHUTOFF", "stopped", 4)
	cold := snapshotServer(t, id, "e2e-snap-cold")
	if cold == nil || cold.Status != "active" || cold.Size == 0 {
		t.Fatalf("cold snapshot image: %+v", cold)
	}
	settle(t, id, "SHUTOFF", "stopped", 4)

	// Backups rotate: with --rotate 1, the second daily backup replaces the first.
	serverAction(t, "start", id)
	settle(t, id, "ACTIVE", "active", 1)
	var first imageInfo
	openstack(t, &first, computeAPI, "server", "backup", "create", "--name", "e2e-backup-1", "--type", "daily", "--rotate", "1", "--wait", id)
	t.Cleanup(func() { _, _ = run(t, time.Minute, "openstack", "image", "delete", first.ID) })
	settle(t, id, "ACTIVE", "active", 1)
	var second imageInfo
	openstack(t, &second, computeAPI, "server", "backup", "create", "--name", "e2e-backup-2", "--type", "daily", "--rotate", "1", "--wait", id)
	t.Cleanup(func() { _, _ = run(t, time.Minute, "openstack", "image", "delete", second.ID) })
	settle(t, id, "ACTIVE", "active", 1)
	if got := backupImages(t, id, "daily"); len(got) != 1 || got[0] != second.ID {
		t.Errorf("daily backups after rotation %v, want only the newest %s", got, second.ID)
	}
	if img := showImage(t, second.ID); img == nil || img.Status != "active" {
		t.Errorf("newest backup: %+v", img)
	}
	checkEvent(t, id, "createBackup", "compute_backup_instance")

	// Nothing is left in the staging directory, and the upload showed in the metrics.
	if left, _ := os.ReadDir(filepath.Join(instancesPath, "snapshots")); len(left) > 0 {
		t.Errorf("left in %s/snapshots: %v", instancesPath, left)
	}
	body := scrape(t, "http://127.0.0.1:9797/metrics")
	if v, ok := sample(body, "novalet_image_upload_bytes_total"); !ok || v < float64(live.Size) {
		t.Errorf("novalet_image_upload_bytes_total = %v (%v), want at least the live snapshot's %d bytes", v, ok, live.Size)
	}
	_ = n
}
