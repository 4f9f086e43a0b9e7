package agent

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/novalet/novalet/imagecache"
)

// compute_id is written through a temp file and given to the owner (user nova on a node; the
// test's own user here, which needs no root), and nothing but the file is left in state_path.
func TestSaveComputeIDOwner(t *testing.T) {
	dir := t.TempDir()
	owner := &imagecache.Owner{UID: os.Getuid(), GID: os.Getgid()}
	const id = "0b7a8b2e-5f1c-4e57-9d1e-3f0b1b7f3c11"
	if err := saveComputeID(dir, id, owner); err != nil {
		t.Fatal(err)
	}
	got, err := loadComputeID(dir)
	if err != nil || got != id {
		t.Fatalf("loadComputeID = %q, %v; want %q", got, err, id)
	}
	fi, err := os.Stat(filepath.Join(dir, ComputeIDFile))
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != owner.UID || int(st.Gid) != owner.GID {
		t.Errorf("compute_id owned by %d:%d, want %d:%d", st.Uid, st.Gid, owner.UID, owner.GID)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("state_path holds %d entries, want compute_id only", len(entries))
	}
	// an owner that cannot be given (no such group for a non-root test; root may give any):
	// the write fails and no temp file is left
	if os.Getuid() != 0 {
		if err := saveComputeID(dir, id, &imagecache.Owner{UID: os.Getuid(), GID: 1}); err == nil {
			t.Error("saveComputeID to a group this user is not in succeeded")
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 1 {
			t.Errorf("a failed save left %d entries", len(entries))
		}
	}
}
