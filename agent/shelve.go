package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/novalet/novalet/internal/failpoint"

	"github.com/google/uuid"

	"github.com/novalet/novalet/netmodel"
	"github.com/novalet/novalet/openstack/glance"
	"github.com/novalet/novalet/rpc"
	"github.com/novalet/novalet/rpc/ovo"
	"github.com/novalet/novalet/virt"
)

// Shelve, shelve-offload and unshelve: nova 26.2.2's shelve_instance, shelve_offload_instance
// and unshelve_instance for image-backed instances. Shelve powers the guest off and
// snapshots it into the image nova-api created ("<name>-shelved"); with shelved_offload_time
// 0 (the default) the same handler then offloads: the guest and its disks leave the host,
// its allocations leave Placement, and host and node are cleared. The conductor schedules an
// unshelve, which spawns the guest again from that snapshot and deletes it. A start of a
// SHELVED (not offloaded) instance deletes the snapshot too (power.go's doStart).

// nova's states of the shelve family.
const (
	vmShelved          = "shelved"
	vmShelvedOffloaded = "shelved_offloaded"

	taskShelving                   = "shelving"
	taskShelvingImagePendingUpload = "shelving_image_pending_upload"
	taskShelvingImageUploading     = "shelving_image_uploading"
	taskShelvingOffloading         = "shelving_offloading"
)

// shelvingTaskStates are a shelve's task states before its snapshot is recorded.
var shelvingTaskStates = []string{taskShelving, taskShelvingImagePendingUpload, taskShelvingImageUploading}

// shelveTasks is nova's shelving_state_map applied to the driver's snapshot steps.
var shelveTasks = snapshotStates{taskShelving, taskShelvingImagePendingUpload, taskShelvingImageUploading}

// shelvedKeys are the system_metadata keys shelve sets and unshelve or start remove.
var shelvedKeys = map[string]string{"shelved_at": "", "shelved_image_id": "", "shelved_host": ""}

func (a *Agent) shelveInstance(ctx context.Context, req *rpc.Request) (any, error) {
	imageID, err := imageIDArg(req)
	if err != nil {
		return nil, err
	}
	clean := cleanShutdownArg(req)
	return a.instanceOp(ctx, req, "compute_shelve_instance", func(ctx context.Context, rc rpc.Context, inst *instance, log *slog.Logger) (any, error) {
		return nil, a.shelve(ctx, rc, inst, imageID, clean, log.With("image_id", imageID))
	})
}

// cleanShutdownArg reads clean_shutdown, true when absent as in nova's RPC API.
func cleanShutdownArg(req *rpc.Request) bool {
	clean := true
	if raw := req.Args["clean_shutdown"]; len(raw) > 0 {
		_ = json.Unmarshal(raw, &clean)
	}
	return clean
}

// shelve is nova's _shelve_instance. Unlike a snapshot, a failure keeps the image: nova's
// shelve has no @delete_image_on_error.
func (a *Agent) shelve(ctx context.Context, rc rpc.Context, inst *instance, imageID string, clean bool, log *slog.Logger) error {
	log.Info("shelving")
	offload := a.c.opts.ShelvedOffloadTime == 0
	if inst.int("power_state") == int64(virt.PowerPaused) {
		clean = false // a paused guest cannot answer the power button
	}
	if err := a.powerOff(ctx, inst.uuid(), clean, log); err != nil {
		return err
	}
	st, err := a.powerState(ctx, inst.uuid())
	if err != nil {
		return err
	}
	if err := a.driverSnapshot(ctx, rc, inst, imageID, shelveTasks, st, log); err != nil {
		return err
	}
	if err := inst.setSysmeta(map[string]string{"shelved_at": nowUTC().Format("2006-01-02T15:04:05.000000"),
		"shelved_image_id": imageID, "shelved_host": a.opts.Host}); err != nil {
		return err
	}
	st, err = a.powerState(ctx, inst.uuid())
	if err != nil {
		return err
	}
	var task any
	if offload {
		task = taskShelvingOffloading
	}
	if err := a.save(ctx, rc, inst, map[string]any{"vm_state": vmShelved, "task_state": task, "power_state": int64(st)},
		expectTask{taskShelving, taskShelvingImageUploading}); err != nil {
		return err
	}
	if offload {
		return a.shelveOffload(ctx, rc, inst, false, log)
	}
	return nil
}

func (a *Agent) shelveOffloadInstance(ctx context.Context, req *rpc.Request) (any, error) {
	clean := cleanShutdownArg(req)
	return a.instanceOp(ctx, req, "compute_shelve_offload_instance", func(ctx context.Context, rc rpc.Context, inst *instance, log *slog.Logger) (any, error) {
		return nil, a.shelveOffload(ctx, rc, inst, clean, log)
	})
}

// shelveOffload is nova's _shelve_offload_instance: the guest, its taps and its disks leave
// the host (the ports stay the instance's), its allocations leave Placement, and the instance
// belongs to no host any more.
func (a *Agent) shelveOffload(ctx context.Context, rc rpc.Context, inst *instance, clean bool, log *slog.Logger) error {
	log.Info("shelve offloading")
	id := inst.uuid()
	if err := a.powerOff(ctx, id, clean, log); err != nil && !errors.Is(err, virt.ErrNotFound) {
		return err
	}
	st, err := a.powerState(ctx, id)
	if err != nil {
		return err
	}
	if err := a.removeInstanceFromHost(ctx, id, log, instanceVIFs(inst)...); err != nil {
		return err
	}
	failpoint.Hold(ctx, log, "shelve.offload.removed")
	if err := a.deleteAllocations(ctx, id); err != nil {
		return fmt.Errorf("placement: deleting the allocations of the offloaded instance: %w", err)
	}
	if err := a.save(ctx, rc, inst, map[string]any{"power_state": int64(st), "vm_state": vmShelvedOffloaded, "task_state": nil},
		expectTask{taskShelving, taskShelvingOffloading}); err != nil {
		return err
	}
	if err := a.save(ctx, rc, inst, map[string]any{"host": nil, "node": nil, "launched_on": nil}, taskNone); err != nil {
		return err
	}
	a.deleteSchedulerInstanceInfo(ctx, rc, id)
	return nil
}

func (a *Agent) unshelveInstance(ctx context.Context, req *rpc.Request) (any, error) {
	var image map[string]any
	if err := decodeOptional(req.Args["image"], &image); err != nil {
		return nil, rpc.NovaError("InvalidInput", "unshelve_instance: image must be an image dict or None", map[string]any{"code": 400})
	}
	return a.instanceOp(ctx, req, "compute_unshelve_instance", func(ctx context.Context, rc rpc.Context, inst *instance, log *slog.Logger) (any, error) {
		return nil, a.unshelve(ctx, rc, inst, image, log)
	})
}

// unshelve is nova's _unshelve_instance for an image-backed instance: the spawn from the
// shelved snapshot on this host (the conductor's scheduling made the allocations), then the
// snapshot deleted and the shelved keys removed. A failed spawn gives the allocations back and
// clears host and node, leaving the instance SHELVED_OFFLOADED for another try.
func (a *Agent) unshelve(ctx context.Context, rc rpc.Context, inst *instance, image map[string]any, log *slog.Logger) error {
	log.Info("unshelving")
	id := inst.uuid()
	if err := a.save(ctx, rc, inst, map[string]any{"task_state": taskSpawning}, anyTask); err != nil {
		return err
	}
	snapshotID, _ := image["id"].(string)
	if snapshotID == "" {
		return newFault("NotImplementedError", 501, nil, "novalet does not unshelve volume-backed instances yet")
	}
	// nova scrubs auto_disk_config (and key_data) for the spawn and puts them back before the
	// final save. key_data is kept here: nova's config drive takes the key from the
	// instance's keypairs, which it lazy-loads, while novalet falls back to key_data when the
	// conductor sent the instance without them; scrubbing it would drop the key.
	var autoDisk any
	if v, ok := ovo.Value[bool](inst.obj, "auto_disk_config"); ok {
		autoDisk = v
	}
	if err := set(inst.obj, map[string]any{"auto_disk_config": false}); err != nil {
		return err
	}
	// The claim: with Placement it tags the instance with this host and node.
	if err := a.save(ctx, rc, inst, map[string]any{"host": a.opts.Host, "launched_on": a.opts.Host, "node": a.NodeName()}, anyTask); err != nil {
		return err
	}
	// nova's setup_instance_network_on_host: the ports, still bound where the instance was
	// shelved, follow it here.
	ref := netmodel.InstanceRef{UUID: id, ProjectID: inst.str("project_id"), AvailabilityZone: inst.str("availability_zone"),
		Hostname: inst.str("hostname"), Host: a.opts.Host}
	err := a.c.network.SetupInstanceNetworkOnHost(ctx, ref)
	// As for a rebuild: wait only for the ports Neutron reports down (healVIFStatus).
	vifs := a.healVIFStatus(ctx, rc, inst, instanceVIFs(inst), log)
	in := spawnInput{Image: image, VIFs: vifs, ConfigDrive: needsConfigDrive(inst, image, a.c.opts.ForceConfigDrive)}
	if err == nil && len(vifs) > 0 {
		in.NetData, err = netmodel.NetworkDataJSON(vifs)
	}
	if err == nil {
		err = a.spawn(ctx, rc, inst, in)
	}
	if err != nil {
		log.Error("instance failed to spawn", "error", err)
		if derr := a.deleteAllocations(ctx, id); derr != nil {
			log.Error("allocations of the failed unshelve not deleted", "error", derr)
		}
		restore := map[string]any{"host": nil, "node": nil, "launched_on": nil}
		if autoDisk != nil {
			restore["auto_disk_config"] = autoDisk
		}
		if serr := a.save(ctx, rc, inst, restore, anyTask); serr != nil {
			log.Error("could not clear host and node after the failed unshelve", "error", serr)
		}
		return err
	}
	a.deleteShelvedSnapshot(ctx, rc, snapshotID, log)
	if err := inst.setSysmeta(shelvedKeys); err != nil {
		return err
	}
	st, err := a.powerState(ctx, id)
	if err != nil {
		return err
	}
	fields := afterSpawn(inst, in.ConfigDrive, st)
	if autoDisk != nil {
		fields["auto_disk_config"] = autoDisk
	}
	if err := a.save(ctx, rc, inst, fields, expectTask{taskSpawning}); err != nil {
		return err
	}
	a.updateSchedulerInstanceInfo(ctx, rc, inst)
	return nil
}

// deleteShelvedSnapshot is nova's _delete_snapshot_of_shelved_instance: failures are logged,
// never raised.
func (a *Agent) deleteShelvedSnapshot(ctx context.Context, rc rpc.Context, imageID string, log *slog.Logger) {
	if uuid.Validate(imageID) != nil {
		log.Warn("shelved_image_id is not an image UUID; not deleting it", "image_id", imageID)
		return
	}
	req, err := a.glanceRequest(rc, imageID)
	if err == nil {
		err = a.c.glance.Delete(ctx, req)
	}
	switch {
	case err == nil:
	case errors.Is(err, glance.ErrNotFound) || errors.Is(err, glance.ErrNotAuthorized):
		log.Warn("failed to delete snapshot from shelved instance", "image_id", imageID, "error", err)
	default:
		log.Error("something wrong happened when trying to delete snapshot from shelved instance", "image_id", imageID, "error", err)
	}
}
