package agent

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/novalet/novalet/imagecache"
	"github.com/novalet/novalet/rpc/ovo"
)

// shelveOffloadAndUnshelve shelves the running instance id with offload at once, then
// unshelves it on this host as the conductor does, and returns the shelve snapshot's id.
func (e *opsEnv) shelveOffloadAndUnshelve(t *testing.T, id string) string {
	t.Helper()
	snap := e.shelvedImage(t, id)
	must(t, e.cast(t, id, "shelve_instance", "shelving", map[string]any{"image_id": snap, "clean_shutdown": true}))
	stored := e.cond.Instance(id)
	must(t, set(stored, map[string]any{"task_state": "unshelving"}))
	stored.ObjResetChanges()
	e.cond.PutInstance(stored)
	args := map[string]any{"instance": e.cond.Instance(id), "image": map[string]any{"id": snap, "properties": map[string]any{}},
		"filter_properties": map[string]any{}, "node": "cmp1", "request_spec": nil, "accel_uuids": []any{}}
	if _, err := e.a.Endpoints()[0].Methods["unshelve_instance"](t.Context(), request(t, "unshelve_instance", args)); err != nil {
		t.Fatal(err)
	}
	if vm, _ := ovo.Value[string](e.cond.Instance(id), "vm_state"); vm != "active" {
		t.Fatalf("after unshelve vm_state %q", vm)
	}
	return snap
}

// rebases lists the RebaseDisk calls' new bases ("" = flatten).
func (e *opsEnv) rebases() []string {
	var out []string
	for _, c := range e.images.Calls() {
		if c.Op == "RebaseDisk" {
			out = append(out, c.Path)
		}
	}
	return out
}

// TestUnshelveRebasesOntoTheOriginalImage: nova's _rebase_original_qcow2_image after the
// unshelve's spawn from the shelve snapshot: the root disk is rebased onto the base of
// image_base_image_ref, so the deleted snapshot backs nothing; a build does not rebase.
func TestUnshelveRebasesOntoTheOriginalImage(t *testing.T) {
	e := newOpsEnv(t)
	id := e.running(t)
	if got := e.rebases(); len(got) != 0 {
		t.Fatalf("a build rebased: %q", got)
	}
	stored := e.cond.Instance(id)
	must(t, stored.Set("system_metadata", map[string]any{"image_base_image_ref": e.image}))
	stored.ObjResetChanges()
	e.cond.PutInstance(stored)

	snap := e.shelveOffloadAndUnshelve(t, id)
	original := filepath.Join(e.images.BaseDir(), imagecache.BaseName(e.image))
	if got := e.rebases(); len(got) != 1 || got[0] != original {
		t.Errorf("rebases %q, want one onto %s", got, original)
	}
	disk, err := os.ReadFile(filepath.Join(e.path, id, "disk"))
	must(t, err)
	if !bytes.Contains(disk, []byte(original)) || bytes.Contains(disk, []byte(imagecache.BaseName(snap))) {
		t.Errorf("the unshelved disk's header does not name the original image's base %s as its only backing file", original)
	}
}

// TestUnshelveFlattensWithoutTheOriginalImage: when Glance no longer has the original image,
// nova flattens the disk (qemu-img rebase -b "") instead; the unshelve succeeds.
func TestUnshelveFlattensWithoutTheOriginalImage(t *testing.T) {
	e := newOpsEnv(t)
	id := e.running(t)
	stored := e.cond.Instance(id)
	must(t, stored.Set("system_metadata", map[string]any{"image_base_image_ref": e.image}))
	stored.ObjResetChanges()
	e.cond.PutInstance(stored)
	// The original image is gone from Glance and from this host's cache (another host).
	e.glance.Delete(e.image)
	must(t, os.Remove(filepath.Join(e.images.BaseDir(), imagecache.BaseName(e.image))))

	snap := e.shelveOffloadAndUnshelve(t, id)
	if got := e.rebases(); len(got) != 1 || got[0] != "" {
		t.Errorf("rebases %q, want one flatten", got)
	}
	disk, err := os.ReadFile(filepath.Join(e.path, id, "disk"))
	must(t, err)
	if bytes.Contains(disk, []byte(imagecache.BaseName(snap))) {
		t.Error("the flattened disk still names the shelve snapshot's base")
	}
}
