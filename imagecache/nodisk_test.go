package imagecache

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The fake driver's cache answers with Local's paths and writes nothing.
func TestNoDisksWritesNothing(t *testing.T) {
	root := t.TempDir()
	c := NewNoDisks(root)
	id := "6e1c1b57-2f7f-4a3a-9c55-3f6d2d1f0a11"
	base, err := c.Ensure(t.Context(), Request{ImageID: id, Endpoint: "http://127.0.0.1:1"})
	if err != nil || base != filepath.Join(root, "_base", BaseName(id)) {
		t.Fatalf("Ensure: %q, %v", base, err)
	}
	if _, err := c.Ensure(t.Context(), Request{ImageID: "../../etc"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Ensure of a bad id: %v", err)
	}
	dir := filepath.Join(root, "inst")
	if p, err := c.CreateOverlay(t.Context(), base, dir, 1<<30); err != nil || p != filepath.Join(dir, "disk") {
		t.Errorf("CreateOverlay: %q, %v", p, err)
	}
	if _, err := c.CreateOverlayAs(t.Context(), base, dir, "disk.info", 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("CreateOverlayAs disk.info: %v", err)
	}
	if p, err := c.BuildConfigDrive(t.Context(), dir, map[string][]byte{"a": nil}); err != nil || p != filepath.Join(dir, "disk.config") {
		t.Errorf("BuildConfigDrive: %q, %v", p, err)
	}
	if _, err := c.Prune(t.Context(), nil, time.Now()); err != nil {
		t.Error(err)
	}
	if _, _, err := c.SnapshotDir(t.Context()); !errors.Is(err, ErrInvalid) {
		t.Errorf("SnapshotDir: %v", err)
	}
	if ents, err := os.ReadDir(root); err != nil || len(ents) != 0 {
		t.Fatalf("instances_path holds %v (%v); want nothing written", ents, err)
	}
}
