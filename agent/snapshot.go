package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/uuid"

	"github.com/novalet/novalet/openstack/glance"
	"github.com/novalet/novalet/rpc"
	"github.com/novalet/novalet/virt"
)

// Snapshot and backup: nova 26.2.2's snapshot_instance / backup_instance with the libvirt
// driver's snapshot() under them. nova-api has created the Glance image (queued) and set
// task_state image_snapshot_pending (image_backup for a backup); the compute fills the image
// and walks the task state through image_pending_upload and image_uploading back to None.

// nova's task states of a snapshot (nova/compute/task_states.py).
const (
	taskImageSnapshotPending = "image_snapshot_pending"
	taskImageSnapshot        = "image_snapshot"
	taskImageBackup          = "image_backup"
	taskImagePendingUpload   = "image_pending_upload"
	taskImageUploading       = "image_uploading"
)

// snapshotTaskStates are those nova's _init_instance clears at start-up (not image_backup:
// nova leaves an interrupted backup's task state as it is).
var snapshotTaskStates = []string{taskImageSnapshotPending, taskImagePendingUpload, taskImageUploading, taskImageSnapshot}

// snapshotStates are the task states one kind of snapshot walks through: a snapshot or a
// backup (nova's task states), or a shelve (nova's shelving_state_map).
type snapshotStates struct {
	start, pendingUpload, uploading string
}

var (
	snapshotTasks = snapshotStates{taskImageSnapshot, taskImagePendingUpload, taskImageUploading}
	backupTasks   = snapshotStates{taskImageBackup, taskImagePendingUpload, taskImageUploading}
)

// errNotRunning is nova's InstanceNotRunning: the domain is gone from the hypervisor.
var errNotRunning = errors.New("instance is not on the hypervisor")

func (a *Agent) snapshotInstance(ctx context.Context, req *rpc.Request) (any, error) {
	imageID, err := imageIDArg(req)
	if err != nil {
		return nil, err
	}
	return a.instanceOp(ctx, req, "compute_snapshot_instance", func(ctx context.Context, rc rpc.Context, inst *instance, log *slog.Logger) (any, error) {
		log = log.With("image_id", imageID)
		return nil, a.deleteImageOnError(ctx, rc, imageID, log, func() error {
			err := a.save(ctx, rc, inst, map[string]any{"task_state": taskImageSnapshot}, expectTask{taskImageSnapshotPending})
			if errors.Is(err, errGone) {
				// Deleted, or being deleted: nova returns without a word.
				log.Debug("instance gone or being deleted; snapshot not taken", "error", err)
				return nil
			}
			if err != nil {
				return err
			}
			return a.snapshot(ctx, rc, inst, imageID, snapshotTasks, log)
		})
	})
}

func (a *Agent) backupInstance(ctx context.Context, req *rpc.Request) (any, error) {
	imageID, err := imageIDArg(req)
	if err != nil {
		return nil, err
	}
	var backupType string
	var rotation int
	if json.Unmarshal(req.Args["backup_type"], &backupType) != nil || json.Unmarshal(req.Args["rotation"], &rotation) != nil || rotation < 0 {
		return nil, rpc.NovaError("InvalidInput", "backup_instance: backup_type must be a string and rotation a non-negative integer", map[string]any{"code": 400})
	}
	return a.instanceOp(ctx, req, "compute_backup_instance", func(ctx context.Context, rc rpc.Context, inst *instance, log *slog.Logger) (any, error) {
		log = log.With("image_id", imageID)
		if err := a.deleteImageOnError(ctx, rc, imageID, log, func() error {
			return a.snapshot(ctx, rc, inst, imageID, backupTasks, log)
		}); err != nil {
			return nil, err
		}
		return nil, a.rotateBackups(ctx, rc, inst, backupType, rotation, log)
	})
}

// imageIDArg reads the image_id argument; it becomes a URL path, so it must be a UUID.
func imageIDArg(req *rpc.Request) (string, error) {
	var id string
	if err := json.Unmarshal(req.Args["image_id"], &id); err != nil || uuid.Validate(id) != nil {
		return "", rpc.NovaError("InvalidInput", req.Method+": image_id must be an image UUID", map[string]any{"code": 400})
	}
	return id, nil
}

// deleteImageOnError is nova's @delete_image_on_error: any failure deletes the image nova-api
// created, so no queued image is left behind; an image already gone is fine.
func (a *Agent) deleteImageOnError(ctx context.Context, rc rpc.Context, imageID string, log *slog.Logger, fn func() error) error {
	err := fn()
	if err == nil {
		return nil
	}
	log.Debug("cleaning up image", "error", err)
	req, rerr := a.glanceRequest(rc, imageID)
	if rerr == nil {
		rerr = a.c.glance.Delete(ctx, req)
	}
	if rerr != nil && !errors.Is(rerr, glance.ErrNotFound) {
		log.Error("error while trying to clean up image", "error", rerr)
	}
	return err
}

// glanceRequest addresses an image with the user's token, as nova's image API does.
func (a *Agent) glanceRequest(rc rpc.Context, imageID string) (glance.Request, error) {
	endpoint, err := glance.Endpoint(a.c.opts.Glance, rc.ServiceCatalog)
	if err != nil {
		return glance.Request{}, err
	}
	return glance.Request{ImageID: imageID, Endpoint: endpoint, Token: rc.AuthToken(),
		GlobalRequestID: rc.GlobalRequestID()}, nil
}

// snapshot is nova's _snapshot_instance: the power state saved, the driver's snapshot, the
// task state back to None; an instance that vanished meanwhile drops the image unless it is
// already active, and an image deleted meanwhile (the user's delete while saving) ends the
// snapshot quietly.
func (a *Agent) snapshot(ctx context.Context, rc rpc.Context, inst *instance, imageID string, states snapshotStates, log *slog.Logger) error {
	release, err := a.c.acquireSnapshot(ctx)
	if err != nil {
		return err
	}
	defer release()
	st, err := a.powerState(ctx, inst.uuid())
	if err != nil {
		return err
	}
	err = a.save(ctx, rc, inst, map[string]any{"power_state": int64(st)}, nil)
	if err == nil {
		log.Info("instance snapshotting")
		if st != virt.PowerRunning {
			log.Warn("trying to snapshot a non-running instance", "state", st.String())
		}
		err = a.driverSnapshot(ctx, rc, inst, imageID, states, st, log)
	}
	if err == nil {
		err = a.save(ctx, rc, inst, map[string]any{"task_state": nil}, expectTask{taskImageUploading})
	}
	switch {
	case errors.Is(err, errGone) || errors.Is(err, errNotRunning):
		log.Debug("instance disappeared during snapshot", "error", err)
		if req, rerr := a.glanceRequest(rc, imageID); rerr == nil {
			img, gerr := a.c.glance.Image(ctx, req)
			if gerr == nil && img.Status != "active" {
				gerr = a.c.glance.Delete(ctx, req)
			}
			if gerr != nil && !errors.Is(gerr, glance.ErrNotFound) {
				log.Warn("error while trying to clean up image", "error", gerr)
			}
		}
		return nil
	case errors.Is(err, glance.ErrNotFound):
		log.Warn("image not found during snapshot", "error", err)
		return a.save(ctx, rc, inst, map[string]any{"task_state": nil}, nil)
	}
	return err
}

// driverSnapshot is the libvirt driver's snapshot(): a live copy of the root disk when the
// guest runs or is paused, the disk itself when it is shut off (suspended included), then the
// whole image extracted in the work directory and uploaded with the metadata nova sets.
func (a *Agent) driverSnapshot(ctx context.Context, rc rpc.Context, inst *instance, imageID string, states snapshotStates, st virt.PowerState, log *slog.Logger) error {
	if st == virt.PowerNoState {
		return fmt.Errorf("%w: no domain", errNotRunning)
	}
	req, err := a.glanceRequest(rc, imageID)
	if err != nil {
		return err
	}
	snap, err := a.c.glance.Image(ctx, req)
	if err != nil {
		return err
	}
	const sourceFormat = "qcow2" // every root disk novalet makes is a qcow2 overlay
	format := a.c.opts.SnapshotImageFormat
	if format == "" {
		format = sourceFormat
	}
	meta := snapshotMetadata(inst, format, snap.Name)
	live := st != virt.PowerShutdown
	step := func(task, want string) error {
		return a.save(ctx, rc, inst, map[string]any{"task_state": task}, expectTask{want})
	}
	if err := step(states.pendingUpload, states.start); err != nil {
		return err
	}
	// nova tries the image backend's direct snapshot first (image_uploading); a qcow2 disk
	// has none, so it falls back to image_pending_upload for the standard snapshot.
	if err := step(states.uploading, states.pendingUpload); err != nil {
		return err
	}
	if err := step(states.pendingUpload, states.uploading); err != nil {
		return err
	}
	dir, remove, err := a.c.images.SnapshotDir(ctx)
	if err != nil {
		return err
	}
	defer remove()
	out := filepath.Join(dir, strings.ReplaceAll(uuid.NewString(), "-", ""))
	disk := filepath.Join(a.c.instanceDir(inst.uuid()), virt.DiskFile)
	if live {
		log.Info("beginning live snapshot process")
		delta := out + ".delta"
		if err := a.c.hv.CopyDisk(ctx, inst.uuid(), virt.RootDiskTarget, delta); err != nil {
			if errors.Is(err, virt.ErrNotFound) {
				return fmt.Errorf("%w: %w", errNotRunning, err)
			}
			return err
		}
		err = a.c.images.Extract(ctx, delta, sourceFormat, out, format)
		_ = os.Remove(delta)
	} else {
		log.Info("beginning cold snapshot process")
		err = a.c.images.Extract(ctx, disk, sourceFormat, out, format)
	}
	if err != nil {
		return err
	}
	log.Info("snapshot extracted, beginning image upload")
	if err := step(states.uploading, states.pendingUpload); err != nil {
		return err
	}
	f, err := os.Open(out)
	if err != nil {
		return err
	}
	defer f.Close()
	// nova's image API update: the record first (Glance wants the formats before the data),
	// then the data, streamed from the file.
	if _, err := a.c.glance.Update(ctx, req, meta); err != nil {
		return err
	}
	if err := a.c.glance.Upload(ctx, req, &progressReader{r: f, report: a.obs.ImageUploaded}); err != nil {
		return err
	}
	log.Info("snapshot image upload complete")
	return nil
}

// snapshotMetadata is the libvirt driver's _create_snapshot_metadata as nova's image API
// sends it (_convert_to_v2): empty kernel and ramdisk ids are left out, the formats follow
// the base image's.
func snapshotMetadata(inst *instance, format, name string) map[string]string {
	sm := inst.sysmeta()
	m := map[string]string{
		"name": name, "image_location": "snapshot", "image_state": "available",
		"owner_id": inst.str("project_id"), "disk_format": format, "container_format": "bare",
	}
	for _, k := range []string{"kernel_id", "ramdisk_id"} {
		if v := inst.str(k); v != "" && !strings.EqualFold(strings.TrimSpace(v), "none") {
			m[k] = v
		}
	}
	if v := inst.str("os_type"); v != "" {
		m["os_type"] = v
	}
	if sm["image_disk_format"] == "ami" {
		m["disk_format"] = "ami" // Glance forces ami images to stay ami
	}
	if v, ok := sm["image_container_format"]; ok && v != "" {
		m["container_format"] = v
	}
	return m
}

// rotateBackups is nova's _rotate_backups: the backups of this instance and backup type
// beyond rotation are deleted, oldest first; a failed delete is logged and the next tried.
func (a *Agent) rotateBackups(ctx context.Context, rc rpc.Context, inst *instance, backupType string, rotation int, log *slog.Logger) error {
	req, err := a.glanceRequest(rc, "")
	if err != nil {
		return err
	}
	images, err := a.c.glance.List(ctx, req, glance.ListOptions{
		Properties: map[string]string{"image_type": "backup", "backup_type": backupType, "instance_uuid": inst.uuid()},
		SortKey:    "created_at", SortDir: "desc"})
	if err != nil {
		return err
	}
	log.Debug("found backups", "count", len(images), "rotation", rotation)
	for len(images) > rotation {
		old := images[len(images)-1]
		images = images[:len(images)-1]
		if uuid.Validate(old.ID) != nil {
			log.Warn("not deleting a backup whose id is not a UUID", "image_id", old.ID)
			continue
		}
		req.ImageID = old.ID
		log.Debug("deleting image", "backup_image_id", old.ID)
		if err := a.c.glance.Delete(ctx, req); err != nil {
			log.Info("failed to delete image during deleting excess backups; continuing", "backup_image_id", old.ID, "error", err)
		}
	}
	return nil
}

// progressReader reports every chunk read, so an upload's progress shows in the metrics.
type progressReader struct {
	r      io.Reader
	report func(int)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.report(n)
	}
	return n, err
}
