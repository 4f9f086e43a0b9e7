//go:build e2e

package e2e

import (
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/novalet/novalet/internal/testenv"
)

// kill -9 during a snapshot's upload and during a shelve (issue 15): after the restart the
// server is settled, no copy job runs on its disk, nothing is left in the staging directory,
// and the next snapshot works.

// bigGuestImage is the test guest's raw disk followed by 320 MiB of random data (outside its
// partition, so it boots the same): a snapshot of it takes seconds to extract and upload,
// which is where the kills land.
func bigGuestImage(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "big.raw")
	raw, err := os.ReadFile(filepath.Join(testenv.GuestDir(t), "guest.raw"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(raw); err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(f, rand.Reader, 320<<20); err != nil {
		t.Fatal(err)
	}
	image := uploadImage(t, fmt.Sprintf("e2e-big-%d", time.Now().UnixNano()), path, "raw")
	t.Cleanup(func() { os.Remove(baseFile(image)) })
	return image
}

// killWhenLogged kills novalet -9 as soon as it logs msg for the instance, and starts a new one.
func killWhenLogged(t *testing.T, n *novalet, id, msg string) *novalet {
	t.Helper()
	return n.killWhen(t, msg, func(rec map[string]any) bool { return rec["instance_uuid"] == id })
}

// killWhen kills novalet -9 as soon as it logs a record with msg that match accepts, and
// starts a new one (ready).
func (n *novalet) killWhen(t *testing.T, msg string, match func(map[string]any) bool) *novalet {
	t.Helper()
	eventually(t, 3*time.Minute, "novalet to log "+msg, func() bool {
		return slices.ContainsFunc(n.logRecords(t, msg), match)
	})
	return n.killAndRestart(t)
}

// killAndRestart kills novalet -9 and starts a new one on the same configuration, ready.
func (n *novalet) killAndRestart(t *testing.T) *novalet {
	t.Helper()
	if err := n.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-n.exited
	n.exited <- nil
	n2 := startNovalet(t)
	n2.waitNotify(t, "READY=1", 3*time.Minute)
	return n2
}

// noLeftovers checks the staging directory is empty and no block job runs on the disk.
func noLeftovers(t *testing.T, id string) {
	t.Helper()
	if left, _ := os.ReadDir(filepath.Join(instancesPath, "snapshots")); len(left) > 0 {
		t.Errorf("left in the snapshots directory after the restart: %v", left)
	}
	out, _ := exec.Command("virsh", "-c", "qemu:///system", "blockjob", id, "vda", "--info").CombinedOutput()
	if s := string(out); !strings.Contains(s, "No current block job") && strings.TrimSpace(s) != "" && !strings.Contains(s, "not running") {
		t.Errorf("a block job is left on the disk: %s", s)
	}
}

func TestKillDuringSnapshotAndShelve(t *testing.T) {
	requireControlPlane(t)
	n := startNovalet(t)
	n.waitNotify(t, "READY=1", 3*time.Minute)
	id := createServers(t, "e2e-kill-snap", bigGuestImage(t), 1)[0]
	settle(t, id, "ACTIVE", "active", 1)

	// A snapshot killed in its copy or upload.
	var img struct {
		ID string `json:"id"`
	}
	openstack(t, &img, computeAPI, "server", "image", "create", "--name", "e2e-killed-snap", id)
	t.Cleanup(func() { _, _ = run(t, time.Minute, "openstack", "image", "delete", img.ID) })
	n = killWhenLogged(t, n, id, "beginning live snapshot process")
	settle(t, id, "ACTIVE", "active", 1)
	noLeftovers(t, id)
	after := snapshotServer(t, id, "e2e-after-kill")
	if after == nil || after.Status != "active" {
		t.Errorf("snapshot after the restart: %+v", after)
	}

	// A shelve killed in its snapshot: settled where the host is, or offloaded if the kill
	// came after the upload.
	serverAction(t, "shelve", id)
	n = killWhenLogged(t, n, id, "beginning cold snapshot process")
	s := waitStatus(t, id, 2*time.Minute, "SHUTOFF", "SHELVED_OFFLOADED", "ERROR")
	eventually(t, time.Minute, "no task state after the restart", func() bool {
		s = showServer(t, id)
		return s.TaskState == nil
	})
	t.Logf("after a kill during shelve the server is %s", s.Status)
	switch s.Status {
	case "SHUTOFF":
		noLeftovers(t, id)
		if !hasDomain(t, id) {
			t.Error("the settled server lost its domain")
		}
	case "SHELVED_OFFLOADED":
		if hasDomain(t, id) || exists(filepath.Join(instancesPath, id)) {
			t.Error("the offloaded server left its domain or directory")
		}
	default:
		t.Errorf("after a kill during shelve: %s (fault %v)", s.Status, s.Fault)
	}
	var shelved []struct {
		ID string `json:"ID"`
	}
	openstack(t, &shelved, "image", "list", "--name", "e2e-kill-snap-shelved")
	for _, i := range shelved {
		i := i
		t.Cleanup(func() { _, _ = run(t, time.Minute, "openstack", "image", "delete", i.ID) })
	}
	deleteServer(t, id)
	_ = n
}
