package imagecache

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestSnapshotDirLeftoversAreCleaned: a work directory a crash left under snapshots_directory
// goes at start-up; what else an operator keeps there stays.
func TestSnapshotDirLeftoversAreCleaned(t *testing.T) {
	inst := t.TempDir()
	f, err := NewFake(inst)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	dir, _, err := f.SnapshotDir(ctx) // never removed: the "crash"
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "snap.delta"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	keep := filepath.Join(inst, "snapshots", "operator-notes")
	if err := os.MkdirAll(keep, 0o755); err != nil {
		t.Fatal(err)
	}
	removed, err := f.CleanLeftovers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 || removed[0] != dir {
		t.Fatalf("removed %v, want only %s", removed, dir)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Fatalf("%s removed: %v", keep, err)
	}
}

// TestSnapshotDirHonoursOption: [libvirt] snapshots_directory is used as given; a relative
// one is refused at start.
func TestSnapshotDirHonoursOption(t *testing.T) {
	o := DefaultOptions()
	o.InstancesPath = t.TempDir()
	o.SnapshotsDirectory = filepath.Join(t.TempDir(), "snaps")
	f, err := NewFakeWithOptions(o)
	if err != nil {
		t.Fatal(err)
	}
	dir, remove, err := f.SnapshotDir(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer remove()
	if filepath.Dir(dir) != o.SnapshotsDirectory {
		t.Fatalf("work directory %s, want it in %s", dir, o.SnapshotsDirectory)
	}
	o.SnapshotsDirectory = "snaps"
	if _, err := NewFakeWithOptions(o); err == nil {
		t.Fatal("a relative snapshots_directory was accepted")
	}
}
