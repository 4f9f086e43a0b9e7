package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"

	"github.com/google/uuid"

	"github.com/novalet/novalet/netmodel"
	"github.com/novalet/novalet/openstack/glance"
	"github.com/novalet/novalet/rpc"
	"github.com/novalet/novalet/virt"
)

// Rebuild: nova 26.2.2's rebuild_instance (RPC 6.1) on the host the instance lives on, with
// the libvirt driver, which has no rebuild of its own, so _rebuild_default_impl: the guest
// powered off cleanly, the domain, its taps and its disks destroyed (the ports stay
// allocated), then spawned again from the new image with the new admin password. nova-api has
// written the new image_ref and set task_state rebuilding. Evacuation (recreate) is refused.

// nova's task states of a rebuild (nova/compute/task_states.py).
const (
	taskRebuilding                = "rebuilding"
	taskRebuildBlockDeviceMapping = "rebuild_block_device_mapping"
	taskRebuildSpawning           = "rebuild_spawning"
)

// rebuildTaskStates are those nova's _init_instance turns into ERROR at start-up.
var rebuildTaskStates = []string{taskRebuilding, taskRebuildBlockDeviceMapping, taskRebuildSpawning}

// rebuildArgs are the rebuild_instance arguments novalet acts on; the others (bdms, limits,
// request_spec, scheduled_node, migration, accel_uuids, on_shared_storage,
// orig_sys_metadata, reimage_boot_volume) matter only to evacuation and volume-backed or
// accelerated instances.
type rebuildArgs struct {
	imageRef, origImageRef string
	newPass                string
	files                  []injectedFile
	preserveEphemeral      bool
	recreate               bool
}

func decodeRebuild(req *rpc.Request) (rebuildArgs, error) {
	var r rebuildArgs
	for name, v := range map[string]any{"image_ref": &r.imageRef, "orig_image_ref": &r.origImageRef,
		"new_pass": &r.newPass, "preserve_ephemeral": &r.preserveEphemeral, "recreate": &r.recreate} {
		if err := decodeOptional(req.Args[name], v); err != nil {
			return r, fmt.Errorf("%s: %w", name, err)
		}
	}
	// image_ref becomes a Glance URL path: only an image UUID passes.
	if r.imageRef != "" && uuid.Validate(r.imageRef) != nil {
		return r, errors.New("image_ref must be an image UUID")
	}
	var err error
	r.files, err = decodeInjectedFiles(req.Args["injected_files"])
	return r, err
}

func (a *Agent) rebuildInstance(ctx context.Context, req *rpc.Request) (any, error) {
	args, err := decodeRebuild(req)
	if err != nil {
		return nil, rpc.NovaError("InvalidInput", "rebuild_instance: "+err.Error(), map[string]any{"code": 400})
	}
	return a.instanceOp(ctx, req, "compute_rebuild_instance", func(ctx context.Context, rc rpc.Context, inst *instance, log *slog.Logger) (any, error) {
		if args.recreate {
			return nil, newFault("NotImplementedError", 501, notImplemented("evacuate"),
				"novalet does not implement evacuate (rebuild_instance with recreate) yet")
		}
		log = log.With("image_id", args.imageRef)
		log.Info("rebuilding instance", "orig_image_ref", args.origImageRef)
		// ImageMeta.from_image_ref, before anything changes: a failure here leaves vm_state
		// as it is.
		image, err := a.rebuildImage(ctx, rc, args.imageRef)
		if err != nil {
			return nil, err
		}
		err = a.doRebuild(ctx, rc, inst, args, image, log)
		switch {
		case err == nil:
			return nil, nil
		case errors.Is(err, errGone):
			// nova ends quietly: the delete that overtook the rebuild cleans up.
			log.Info("instance was deleted while rebuilding", "error", err)
			return nil, nil
		}
		// _error_out_instance_on_exception: vm_state error, the task state left to
		// reverts_task_state.
		log.Error("rebuild failed; setting vm_state to error", "error", err)
		if serr := a.save(ctx, rc, inst, map[string]any{"vm_state": vmError}, anyTask); serr != nil {
			log.Error("could not set the instance to error", "error", serr)
		}
		return nil, err
	})
}

// rebuildImage is nova's ImageMeta.from_image_ref as the spawn reads it: the image's id,
// formats and properties from Glance, with the user's token.
func (a *Agent) rebuildImage(ctx context.Context, rc rpc.Context, imageID string) (map[string]any, error) {
	if imageID == "" {
		// A volume-backed instance: spawn refuses it with a clear fault.
		return map[string]any{"properties": map[string]any{}}, nil
	}
	req, err := a.glanceRequest(rc, imageID)
	if err != nil {
		return nil, err
	}
	img, err := a.c.glance.Image(ctx, req)
	if errors.Is(err, glance.ErrNotFound) {
		return nil, newFault("ImageNotFound", 404, err, "Image %s could not be found.", imageID)
	}
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", imageID, err)
	}
	props := map[string]any{}
	for k, v := range img.Properties {
		props[k] = v
	}
	return map[string]any{"id": img.ID, "name": img.Name, "disk_format": img.DiskFormat,
		"container_format": img.ContainerFormat, "properties": props}, nil
}

// doRebuild is nova's _do_rebuild_instance for a rebuild on this host, with
// _rebuild_default_impl for the driver part.
func (a *Agent) doRebuild(ctx context.Context, rc rpc.Context, inst *instance, args rebuildArgs, image map[string]any, log *slog.Logger) error {
	id := inst.uuid()
	origVM := inst.str("vm_state")
	st, err := a.powerState(ctx, id)
	if err != nil {
		return err
	}
	if err := a.save(ctx, rc, inst, map[string]any{"power_state": int64(st), "task_state": taskRebuilding},
		expectTask{taskRebuilding}); err != nil {
		return err
	}
	// instance.get_network_info(): the ports stay as they are; the taps are made again.
	vifs, err := parseInstanceVIFs(inst)
	if err != nil {
		return err
	}
	vifs = a.healVIFStatus(ctx, rc, inst, vifs, log)
	if args.preserveEphemeral {
		return newFault("PreserveEphemeralNotSupported", 400, nil,
			"The current driver does not support preserving ephemeral partitions.")
	}
	if err := a.powerOff(ctx, id, true, log); err != nil {
		return fmt.Errorf("power off: %w", err)
	}
	// An instance that had a config drive has config_drive set in nova (the build recorded
	// it); instances built before novalet recorded it are recognised by their disk.
	_, statErr := os.Stat(filepath.Join(a.c.instanceDir(id), virt.ConfigDriveFile))
	hadConfigDrive := statErr == nil
	// driver.destroy(destroy_disks=True): domain, taps, instance directory.
	if err := a.removeInstanceFromHost(ctx, id, log, vifs...); err != nil {
		return err
	}
	log.Info("guest and disks destroyed; spawning from the new image")
	if err := a.save(ctx, rc, inst, map[string]any{"task_state": taskRebuildBlockDeviceMapping},
		expectTask{taskRebuilding}); err != nil {
		return err
	}
	if err := a.save(ctx, rc, inst, map[string]any{"task_state": taskRebuildSpawning},
		expectTask{taskRebuildBlockDeviceMapping}); err != nil {
		return err
	}
	in := spawnInput{Image: image, AdminPass: args.newPass, Files: args.files, VIFs: vifs,
		ConfigDrive: hadConfigDrive || needsConfigDrive(inst, image, a.c.opts.ForceConfigDrive)}
	if len(vifs) > 0 {
		if in.NetData, err = netmodel.NetworkDataJSON(vifs); err != nil {
			return err
		}
	}
	if err := a.spawn(ctx, rc, inst, in); err != nil {
		return err
	}
	if st, err = a.powerState(ctx, id); err != nil {
		return err
	}
	if err := a.save(ctx, rc, inst, afterSpawn(inst, in.ConfigDrive, st), expectTask{taskRebuildSpawning}); err != nil {
		return err
	}
	if origVM == vmStopped {
		if err := a.rebuildBackToStopped(ctx, rc, inst, log); err != nil {
			return err
		}
	}
	log.Info("instance rebuilt")
	a.updateSchedulerInstanceInfo(ctx, rc, inst)
	return nil
}

// rebuildBackToStopped brings a rebuilt instance that was stopped back to stopped, as nova
// does: active with task_state powering-off, then its own stop_instance (an event of its own
// on the same action), the power pulled rather than the button pressed.
func (a *Agent) rebuildBackToStopped(ctx context.Context, rc rpc.Context, inst *instance, log *slog.Logger) error {
	log.Info("bringing the instance back to its original state", "vm_state", vmStopped)
	if err := a.save(ctx, rc, inst, map[string]any{"vm_state": vmActive, "task_state": taskPoweringOff,
		"progress": int64(0)}, anyTask); err != nil {
		return err
	}
	const event = "compute_stop_instance"
	a.eventStart(ctx, rc, inst.uuid(), event)
	err := a.doStop(ctx, rc, inst, false, log)
	a.eventFinish(ctx, rc, inst.uuid(), event, err)
	if err != nil {
		return fmt.Errorf("stop after rebuild: %w", err)
	}
	return nil
}

// healVIFStatus brings the info cache's "active" flags up to date with Neutron before the
// spawn decides which network-vif-plugged events to wait for. nova reads the cache as it is,
// but its _heal_instance_info_cache periodic task keeps the flags current, and novalet has no
// such task: a cache still showing the ports down from the build would make the spawn wait for
// an event Neutron never sends (the L2 agent sees the re-made tap as merely updated, so a port
// that stayed up does not go up again). A Neutron failure keeps the cache as it is.
func (a *Agent) healVIFStatus(ctx context.Context, rc rpc.Context, inst *instance, vifs []netmodel.VIF, log *slog.Logger) []netmodel.VIF {
	var stale []string
	for _, v := range vifs {
		if !v.Active {
			stale = append(stale, v.ID)
		}
	}
	if len(stale) == 0 {
		return vifs
	}
	up, err := a.c.network.PortsActive(ctx, stale)
	if err != nil {
		log.Warn("port status not read; the info cache is used as it is", "error", err)
		return vifs
	}
	healed := slices.Clone(vifs)
	changed := false
	for i, v := range healed {
		if !v.Active && up[v.ID] {
			healed[i].Active, changed = true, true
		}
	}
	if !changed {
		return vifs
	}
	if err := a.saveInfoCache(ctx, rc, inst, healed); err != nil {
		log.Warn("healed info cache not saved", "error", err)
	}
	return healed
}
