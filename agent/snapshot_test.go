package agent

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/novalet/novalet/imagecache"
	"github.com/novalet/novalet/openstack/glance/glancetest"
	"github.com/novalet/novalet/rpc/ovo"
	"github.com/novalet/novalet/virt"
)

// snapshotImage is the image nova-api creates before the cast: queued, no formats, the
// properties compute_utils.create_image copies.
func (e *opsEnv) snapshotImage(t *testing.T, instID string, props map[string]any) string {
	t.Helper()
	id := uuid.NewString()
	p := map[string]any{"instance_uuid": instID, "user_id": "u1", "image_type": "snapshot", "base_image_ref": e.image}
	for k, v := range props {
		p[k] = v
	}
	img := e.glance.Add(glancetest.Image{ID: id, Name: "snap-of-vm1", Status: "queued", NoHash: true, NoChecksum: true,
		NoData: true, Size: new(int64), Properties: p})
	img.DiskFormat, img.ContainerFormat = "", ""
	e.glance.Delete(id)
	e.glance.Add(img)
	return id
}

// cast sets the task state nova-api sets, then runs the method on the stored instance.
func (e *opsEnv) cast(t *testing.T, id, method, task string, args map[string]any) error {
	t.Helper()
	stored := e.cond.Instance(id)
	must(t, stored.Set("task_state", task))
	stored.ObjResetChanges()
	e.cond.PutInstance(stored)
	if args == nil {
		args = map[string]any{}
	}
	args["instance"] = e.cond.Instance(id)
	_, err := e.a.Endpoints()[0].Methods[method](t.Context(), request(t, method, args))
	return err
}

// running builds a new instance (no network) and returns its uuid.
func (e *opsEnv) running(t *testing.T) string {
	t.Helper()
	inst := e.newInstance(t)
	id, _ := ovo.Value[string](inst, "uuid")
	e.build(t, inst, nil)
	return id
}

// extracted lists the sources the image cache extracted snapshots from, in order.
func (e *opsEnv) extracted() []string {
	var out []string
	for _, c := range e.images.Calls() {
		if c.Op == "Extract" {
			out = append(out, c.Path)
		}
	}
	return out
}

// taskSequence is the task states the instance's saves went through from the n-th save on.
func (e *opsEnv) taskSequence(n int) []string {
	var out []string
	for _, s := range e.cond.InstanceSaves()[n:] {
		out = append(out, s.TaskState+" "+s.Expected)
	}
	return out
}

// TestSnapshotOfRunningGuestFollowsNova: the task states and expected states of nova's
// snapshot_instance and libvirt snapshot(), a live copy of the running guest's disk, the
// image filled with nova's metadata and streamed data, nova-api's properties kept, and the
// work directory gone. The guest keeps running.
func TestSnapshotOfRunningGuestFollowsNova(t *testing.T) {
	e := newOpsEnv(t)
	id := e.running(t)
	imageID := e.snapshotImage(t, id, nil)
	n := len(e.cond.InstanceSaves())
	if err := e.cast(t, id, "snapshot_instance", "image_snapshot_pending", map[string]any{"image_id": imageID}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"image_snapshot [image_snapshot_pending]",
		"image_snapshot ", // the power state, saved with no expected task state
		"image_pending_upload [image_snapshot]",
		"image_uploading [image_pending_upload]",
		"image_pending_upload [image_uploading]",
		"image_uploading [image_pending_upload]",
		" [image_uploading]",
	}
	if got := e.taskSequence(n); !slices.Equal(got, want) {
		t.Errorf("task states\n got %q\nwant %q", got, want)
	}
	img, ok := e.glance.Get(imageID)
	if !ok || img.Status != "active" || img.DiskFormat != "qcow2" || img.ContainerFormat != "bare" {
		t.Fatalf("image after snapshot: %+v", img)
	}
	for k, v := range map[string]any{"image_location": "snapshot", "image_state": "available", "owner_id": "p1",
		"image_type": "snapshot", "instance_uuid": id, "base_image_ref": e.image} {
		if img.Properties[k] != v {
			t.Errorf("property %s = %v, want %v", k, img.Properties[k], v)
		}
	}
	for _, k := range []string{"kernel_id", "ramdisk_id"} {
		if _, ok := img.Properties[k]; ok {
			t.Errorf("property %s sent although the instance has none", k)
		}
	}
	// The live path: the copy of the disk was extracted, not the disk itself.
	extracted := e.extracted()
	if len(extracted) != 1 || !strings.HasSuffix(extracted[0], ".delta") {
		t.Errorf("extracted %v, want the live copy (*.delta)", extracted)
	}
	want64 := imagecache.FakeQcow2(1<<30, "") // a whole image of the flavor's 1 GiB root disk
	if string(img.Data) != string(want64) {
		t.Errorf("uploaded %d bytes, want the whole image's %d", len(img.Data), len(want64))
	}
	if ups := e.glance.Uploads(); len(ups) != 1 || ups[0].ContentLength != -1 {
		t.Errorf("uploads %+v, want one streamed (chunked)", ups)
	}
	if st, _ := e.hv.State(t.Context(), id); st != virt.PowerRunning {
		t.Errorf("guest %v after the snapshot, want running", st)
	}
	if ev := e.cond.Events(id); !slices.Contains(ev, "finish compute_snapshot_instance ok") {
		t.Errorf("events %v", ev)
	}
}

// TestSnapshotOfStoppedGuestIsCold: a shut-off guest's disk is read as it is, and the guest
// stays off.
func TestSnapshotOfStoppedGuestIsCold(t *testing.T) {
	e := newOpsEnv(t)
	id := e.running(t)
	if err := e.cast(t, id, "stop_instance", "powering-off", map[string]any{"clean_shutdown": false}); err != nil {
		t.Fatal(err)
	}
	imageID := e.snapshotImage(t, id, nil)
	if err := e.cast(t, id, "snapshot_instance", "image_snapshot_pending", map[string]any{"image_id": imageID}); err != nil {
		t.Fatal(err)
	}
	extracted := e.extracted()
	if len(extracted) != 1 || !strings.HasSuffix(extracted[0], "/"+id+"/disk") {
		t.Errorf("extracted %v, want the instance's disk", extracted)
	}
	if img, _ := e.glance.Get(imageID); img.Status != "active" {
		t.Errorf("image %s, want active", img.Status)
	}
	s := e.cond.Instance(id)
	if vm, _ := ovo.Value[string](s, "vm_state"); vm != "stopped" {
		t.Errorf("vm_state %s after the snapshot, want stopped", vm)
	}
}

// TestSnapshotFailureDeletesTheImage: nova's @delete_image_on_error, a fault, the task state
// reverted, the guest untouched, nothing left in the work directory.
func TestSnapshotFailureDeletesTheImage(t *testing.T) {
	e := newOpsEnv(t)
	id := e.running(t)
	imageID := e.snapshotImage(t, id, nil)
	e.images.FailNext("Extract", errors.New("qemu-img convert: No space left on device"))
	if err := e.cast(t, id, "snapshot_instance", "image_snapshot_pending", map[string]any{"image_id": imageID}); err == nil {
		t.Fatal("snapshot succeeded")
	}
	if _, ok := e.glance.Get(imageID); ok {
		t.Error("the half-made image was not deleted")
	}
	if n := e.glance.Calls(http.MethodDelete, "/v2/images/"+imageID); n != 1 {
		t.Errorf("%d DELETEs of the image, want 1", n)
	}
	if f := e.cond.FaultMessages(id); len(f) != 1 || !strings.Contains(f[0], "No space left") {
		t.Errorf("faults %q", f)
	}
	s := e.cond.Instance(id)
	task, _ := ovo.Value[string](s, "task_state")
	vm, _ := ovo.Value[string](s, "vm_state")
	if task != "" || vm != "active" {
		t.Errorf("after the failure: %s/%q, want active/None", vm, task)
	}
	if st, _ := e.hv.State(t.Context(), id); st != virt.PowerRunning {
		t.Errorf("guest %v, want running", st)
	}
	if ev := e.cond.Events(id); !slices.Contains(ev, "finish compute_snapshot_instance error") {
		t.Errorf("events %v", ev)
	}
}

// TestSnapshotOfDeletedImageEndsQuietly: the user deleted the image while it was saving
// (tempest test_delete_saving_image): no fault, task state back to None.
func TestSnapshotOfDeletedImageEndsQuietly(t *testing.T) {
	e := newOpsEnv(t)
	id := e.running(t)
	imageID := e.snapshotImage(t, id, nil)
	e.glance.Delete(imageID)
	if err := e.cast(t, id, "snapshot_instance", "image_snapshot_pending", map[string]any{"image_id": imageID}); err != nil {
		t.Fatal(err)
	}
	if f := e.cond.FaultMessages(id); len(f) != 0 {
		t.Errorf("faults %q", f)
	}
	if task, _ := ovo.Value[string](e.cond.Instance(id), "task_state"); task != "" {
		t.Errorf("task_state %q, want None", task)
	}
}

// TestSnapshotOfDeletingInstanceDoesNothing: an instance being deleted is not snapshotted and
// nothing is recorded against it.
func TestSnapshotOfDeletingInstanceDoesNothing(t *testing.T) {
	e := newOpsEnv(t)
	id := e.running(t)
	imageID := e.snapshotImage(t, id, nil)
	stale := e.cond.Instance(id)
	must(t, stale.Set("task_state", "image_snapshot_pending"))
	stale.ObjResetChanges()
	stored := e.cond.Instance(id)
	must(t, stored.Set("task_state", "deleting"))
	e.cond.PutInstance(stored)
	if _, err := e.a.snapshotInstance(t.Context(), request(t, "snapshot_instance", map[string]any{"instance": stale, "image_id": imageID})); err != nil {
		t.Fatal(err)
	}
	if calls := e.glance.Calls(http.MethodPut, "/v2/images/"+imageID+"/file"); calls != 0 {
		t.Errorf("%d uploads for an instance being deleted", calls)
	}
	if f := e.cond.FaultMessages(id); len(f) != 0 {
		t.Errorf("faults %q", f)
	}
}

// TestBackupRotates: a backup is a snapshot followed by nova's rotation: the oldest backups
// of that instance and backup type beyond rotation go; other types and instances stay.
func TestBackupRotates(t *testing.T) {
	e := newOpsEnv(t)
	id := e.running(t)
	backup := func(backupType string) string {
		return e.glance.Add(glancetest.Image{ID: uuid.NewString(), DiskFormat: "qcow2", Data: []byte("old"),
			Properties: map[string]any{"image_type": "backup", "backup_type": backupType, "instance_uuid": id}}).ID
	}
	oldest, older, old := backup("daily"), backup("daily"), backup("daily")
	weekly := backup("weekly")
	other := e.glance.Add(glancetest.Image{ID: uuid.NewString(), DiskFormat: "qcow2", Data: []byte("x"),
		Properties: map[string]any{"image_type": "backup", "backup_type": "daily", "instance_uuid": uuid.NewString()}}).ID
	imageID := e.snapshotImage(t, id, map[string]any{"image_type": "backup", "backup_type": "daily"})
	if err := e.cast(t, id, "backup_instance", "image_backup", map[string]any{"image_id": imageID, "backup_type": "daily", "rotation": 2}); err != nil {
		t.Fatal(err)
	}
	for _, gone := range []string{oldest, older} {
		if _, ok := e.glance.Get(gone); ok {
			t.Errorf("backup %s beyond the rotation kept", gone)
		}
	}
	for _, kept := range []string{old, weekly, other, imageID} {
		if _, ok := e.glance.Get(kept); !ok {
			t.Errorf("image %s deleted", kept)
		}
	}
	if img, _ := e.glance.Get(imageID); img.Status != "active" {
		t.Errorf("the new backup is %s, want active", img.Status)
	}
	if n := len(e.taskSequence(0)); n == 0 || e.taskSequence(0)[n-1] != " [image_uploading]" {
		t.Errorf("last save %q, want task_state None expected image_uploading", e.taskSequence(0)[n-1:])
	}
	if ev := e.cond.Events(id); !slices.Contains(ev, "finish compute_backup_instance ok") {
		t.Errorf("events %v", ev)
	}
}

// TestInterruptedSnapshotIsClearedAtStart: nova's _init_instance clears the task state of a
// snapshot the last stop interrupted (any copy job is aborted); an interrupted backup's
// image_backup is left, as nova leaves it.
func TestInterruptedSnapshotIsClearedAtStart(t *testing.T) {
	e := newOpsEnv(t)
	ids := map[string]string{}
	for _, task := range []string{"image_uploading", "image_snapshot_pending", "image_backup"} {
		inst := e.newInstance(t)
		id, _ := ovo.Value[string](inst, "uuid")
		e.build(t, inst, nil)
		stored := e.cond.Instance(id)
		must(t, set(stored, map[string]any{"task_state": task}))
		e.cond.PutInstance(stored)
		ids[task] = id
	}
	if err := e.a.recoverInstances(t.Context()); err != nil {
		t.Fatal(err)
	}
	for task, want := range map[string]string{"image_uploading": "", "image_snapshot_pending": "", "image_backup": "image_backup"} {
		s := e.cond.Instance(ids[task])
		got, _ := ovo.Value[string](s, "task_state")
		vm, _ := ovo.Value[string](s, "vm_state")
		if got != want || vm != "active" {
			t.Errorf("interrupted %s: %s/%q after recovery, want active/%q", task, vm, got, want)
		}
		if st, _ := e.hv.State(t.Context(), ids[task]); st != virt.PowerRunning {
			t.Errorf("interrupted %s: guest %v, want running", task, st)
		}
	}
}
