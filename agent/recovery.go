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

	"github.com/novalet/novalet/rpc"
	"github.com/novalet/novalet/rpc/ovo"
	"github.com/novalet/novalet/virt"
)

// Start-up recovery (nova's init_host/_init_instance for what novalet's operations leave
// behind when the process dies): interrupted builds end in error with their guest removed,
// interrupted deletes finish, and domains or instance directories that belong to no instance
// are reaped.

// buildTaskStates are the task states of a build in progress on this host.
var buildTaskStates = []string{taskScheduling, taskBlockDeviceMapping, taskNetworking, taskSpawning}

// recoverInstances runs the recovery table once; it is called by Start before the RPC server
// starts consuming, so nothing else touches the instances meanwhile.
func (a *Agent) recoverInstances(ctx context.Context) error {
	rc := rpc.NewAdminContext(nowUTC())
	insts, err := a.hostInstances(ctx, rc)
	if err != nil {
		return err
	}
	known := map[string]bool{}
	for _, inst := range insts {
		known[inst.uuid()] = true
		a.recoverInstance(ctx, rc, inst)
	}
	if err := a.reapOrphans(ctx, rc, known); err != nil {
		return err
	}
	if _, err := a.reapTaps(ctx, insts); err != nil {
		a.log.Warn("tap reaping at start-up skipped; the periodic reaper retries", "error", err)
	}
	return nil
}

// hostInstances is InstanceList.get_by_host(host).
func (a *Agent) hostInstances(ctx context.Context, rc rpc.Context) ([]*instance, error) {
	raw, err := a.svc.objs.classAction(ctx, rc, "InstanceList", "get_by_host", []any{a.opts.Host},
		map[string]any{"expected_attrs": []any{"info_cache", "metadata", "system_metadata", "flavor"}})
	if err != nil {
		return nil, fmt.Errorf("InstanceList.get_by_host: %w", err)
	}
	list, err := decodeObject(raw)
	if err != nil || list == nil {
		return nil, err
	}
	objs, _ := ovo.Value[[]*ovo.Object](list, "objects")
	out := make([]*instance, 0, len(objs))
	for _, o := range objs {
		if id, _ := ovo.Value[string](o, "uuid"); !isUUID(id) {
			a.log.Error("the conductor listed an instance whose uuid is not a UUID; left alone", "uuid", id)
			continue
		}
		out = append(out, &instance{obj: o})
	}
	return out, nil
}

// recoverInstance applies the recovery table to one instance of this host.
func (a *Agent) recoverInstance(ctx context.Context, rc rpc.Context, inst *instance) {
	id := inst.uuid()
	log := a.log.With("instance_uuid", id)
	vm, task := inst.str("vm_state"), inst.str("task_state")
	switch {
	case vm == vmDeleted || vm == vmError && task == "":
		return
	case task == taskDeleting:
		log.Info("finishing a delete interrupted by the last stop")
		if err := a.deleteInstance(ctx, rc, inst, log); err != nil && !errors.Is(err, errGone) {
			log.Error("interrupted delete not finished", "error", err)
		}
	case (vm == vmActive || vm == vmStopped) && slices.Contains(rebuildTaskStates, task):
		// nova sets it to error and leaves the guest as it is: a rebuild from error or a
		// delete takes it from there. The fault (novalet's addition, as for builds) says why.
		log.Warn("rebuild interrupted by the last stop; setting the instance to error", "task_state", task)
		a.addFault(ctx, rc, id, newFault("NovaException", 500, nil,
			"Rebuild of instance %s interrupted: the compute service stopped during the rebuild", id), "")
		if err := a.save(ctx, rc, inst, map[string]any{"vm_state": vmError, "task_state": nil}, anyTask); err != nil {
			log.Error("could not set the instance to error", "error", err)
		}
	case vm == vmBuilding || slices.Contains(buildTaskStates, task):
		// nova sets such an instance to error; novalet also removes the half-built guest so
		// that nothing of it keeps running or holds disk.
		log.Warn("build interrupted by the last stop; setting the instance to error")
		if err := a.removeInstanceFromHost(ctx, id, log, instanceVIFs(inst)...); err != nil {
			log.Error("half-built guest not removed", "error", err)
		}
		a.addFault(ctx, rc, id, newFault("BuildAbortException", 500, nil,
			"Build of instance %s aborted: the compute service stopped during the build", id), "")
		if err := a.save(ctx, rc, inst, map[string]any{"vm_state": vmError, "task_state": nil}, anyTask); err != nil {
			log.Error("could not set the instance to error", "error", err)
		}
	case vm != vmError && slices.Contains(snapshotTaskStates, task):
		// nova clears the task state; its image stays queued for the user to delete, as
		// nova's does. A live copy the stop interrupted is ended here (CleanLeftovers removed
		// its file), or QEMU would keep mirroring the disk into it.
		log.Info("clearing a snapshot interrupted by the last stop", "task_state", task)
		if err := a.c.hv.AbortDiskCopy(ctx, id, virt.RootDiskTarget); err != nil && !errors.Is(err, virt.ErrNotFound) {
			log.Warn("leftover disk copy not aborted", "error", err)
		}
		if err := a.save(ctx, rc, inst, map[string]any{"task_state": nil}, nil); err != nil {
			log.Error("could not clear the task state", "error", err)
		}
	case vm == vmShelved && task == taskShelvingOffloading:
		// The snapshot is in Glance and recorded: finish the offload the stop interrupted,
		// once Placement can take the allocations back (recovery_offload.go).
		log.Info("finishing a shelve offload interrupted by the last stop")
		a.background(func() { a.finishInterruptedOffload(rc, inst, log) })
	case vm != vmError && slices.Contains(shelvingTaskStates, task):
		// nova 26.2.2 leaves these for ever; novalet settles the instance on what the host
		// shows (the shelve had powered the guest off) and ends any live copy. The image
		// nova-api created for the shelve stays, queued, for the user to delete, as an
		// interrupted snapshot's does.
		log.Info("settling a shelve interrupted by the last stop", "task_state", task)
		if err := a.c.hv.AbortDiskCopy(ctx, id, virt.RootDiskTarget); err != nil && !errors.Is(err, virt.ErrNotFound) {
			log.Warn("leftover disk copy not aborted", "error", err)
		}
		if err := a.settleOnHost(ctx, rc, inst); err != nil {
			log.Error("could not settle the interrupted shelve", "error", err)
		}
	case vm != vmError && (task == taskRescuing || task == taskUnrescuing):
		// nova 26.2.2's _init_instance has no row for these and leaves them for ever. novalet
		// settles them: the instance's own definition, kept in unrescue.xml, is put back and
		// started and the rescue files go (an interrupted rescue is undone, an interrupted
		// unrescue finished); without unrescue.xml the rescue never began, and the instance is
		// settled on what the host shows.
		a.recoverRescue(ctx, rc, inst, log)
	case vm != vmError && task == taskResizePrep:
		// nova clears it; the conductor's migration stays as it was.
		log.Info("clearing a resize_prep interrupted by the last stop")
		if err := a.save(ctx, rc, inst, map[string]any{"task_state": nil}, anyTask); err != nil {
			log.Error("could not clear the task state", "error", err)
		}
	case task == taskResizeMigrating:
		// nova rolls back for safety: finish_revert_migration on this host, then no task.
		log.Warn("resize interrupted while migrating the disks; reverting it on this host")
		a.recoverResizeMigrating(ctx, rc, inst, log)
	default:
		if err := a.recoverPowerTask(ctx, rc, inst, log); err != nil {
			log.Error("start-up recovery failed; the instance is left as it is", "task_state", task, "error", err)
		}
	}
}

// recoverPowerTask finishes or undoes a power operation the last stop interrupted (nova's
// _init_instance reboot/pause/stop/start rows), and restarts guests that should run when
// resume_guests_state_on_host_boot asks.
func (a *Agent) recoverPowerTask(ctx context.Context, rc rpc.Context, inst *instance, log *slog.Logger) error {
	id := inst.uuid()
	vm, task := inst.str("vm_state"), inst.str("task_state")
	st, err := a.powerState(ctx, id)
	if err != nil {
		return err
	}
	switch {
	case task == taskRebootPending || task == taskRebootPendingHard ||
		((task == taskRebootStarted || task == taskRebootStartedHard) && st != virt.PowerRunning):
		hard := task == taskRebootPendingHard || task == taskRebootStartedHard || st != virt.PowerRunning
		log.Info("retrying a reboot interrupted by the last stop", "task_state", task, "hard", hard)
		if hard && task != taskRebootPendingHard && task != taskRebootStartedHard {
			if err := a.save(ctx, rc, inst, map[string]any{"task_state": taskRebootPendingHard}, anyTask); err != nil {
				return err
			}
		}
		return a.doReboot(ctx, rc, inst, hard, log)
	case st == virt.PowerRunning && (task == taskRebootStarted || task == taskRebootStartedHard || task == taskPausing || task == taskUnpausing):
		return a.save(ctx, rc, inst, map[string]any{"task_state": nil, "vm_state": vmActive}, anyTask)
	case st == virt.PowerPaused && task == taskUnpausing:
		if err := a.c.hv.Resume(ctx, id); err != nil {
			return err
		}
		return a.save(ctx, rc, inst, map[string]any{"task_state": nil, "vm_state": vmActive, "power_state": int64(virt.PowerRunning)}, anyTask)
	case task == taskPoweringOff:
		log.Info("retrying a stop interrupted by the last stop")
		return a.doStop(ctx, rc, inst, true, log)
	case task == taskPoweringOn:
		log.Info("retrying a start interrupted by the last stop")
		return a.doStart(ctx, rc, inst, log)
	case task == taskPausing || task == taskSuspending || task == taskResuming:
		// Settle on what the hypervisor shows.
		next := map[virt.PowerState]string{virt.PowerPaused: vmPaused, virt.PowerShutdown: vmStopped, virt.PowerRunning: vmActive}[st]
		if task == taskSuspending && st == virt.PowerShutdown || task == taskResuming && st == virt.PowerShutdown {
			next = vmSuspended
		}
		if next == "" {
			next = vm
		}
		return a.save(ctx, rc, inst, map[string]any{"task_state": nil, "vm_state": next, "power_state": int64(st)}, anyTask)
	case task == "" && a.c.opts.ResumeGuestsStateOnHostBoot && inst.int("power_state") == int64(virt.PowerRunning) && st != virt.PowerRunning:
		log.Info("restarting a guest that should be running (resume_guests_state_on_host_boot)")
		return a.powerOn(ctx, id)
	}
	return nil
}

// reapOrphans removes domains and instance directories of instances the database marks
// deleted (deleted while novalet was away: nova-api's local delete), as nova's
// running_deleted_instance reaper does. Nothing else is taken: an instance that lives on another
// host may be mid-migration, and a uuid the database does not know at all (a wrong
// transport_url or cell, a restored backup) is logged and left, since its disks may be real.
func (a *Agent) reapOrphans(ctx context.Context, rc rpc.Context, known map[string]bool) error {
	candidates := map[string]bool{}
	doms, err := a.c.hv.List(ctx)
	if err != nil {
		return fmt.Errorf("list domains: %w", err)
	}
	for _, d := range doms {
		if !known[d.UUID] {
			candidates[d.UUID] = true
		}
	}
	entries, err := os.ReadDir(a.c.opts.InstancesPath)
	if err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("instances_path: %w", err)
	}
	for _, e := range entries {
		if e.IsDir() && isUUID(e.Name()) && !known[e.Name()] {
			candidates[e.Name()] = true
		}
	}
	for id := range candidates {
		deleted, err := a.instanceDeleted(ctx, rc, id)
		if errors.Is(err, errGone) {
			a.log.Warn("a domain or instance directory belongs to no instance this cell knows; left alone (remove it by hand if it is garbage)",
				"instance_uuid", id)
			a.obs.OrphanKept("instance", "unknown_to_cell")
			continue
		}
		if err != nil {
			a.log.Warn("orphan check failed; left in place", "instance_uuid", id, "error", err)
			a.obs.OrphanKept("instance", "check_failed")
			continue
		}
		if !deleted {
			continue
		}
		log := a.log.With("instance_uuid", id)
		log.Warn("reaping the domain and files of an instance deleted while this host was away")
		if err := a.removeInstanceFromHost(ctx, id, log); err != nil {
			log.Error("orphan not reaped", "error", err)
		}
	}
	return nil
}

// instanceDeleted reads the instance's row, deleted ones included: whether the database marks
// it deleted; errGone when there is no row at all.
func (a *Agent) instanceDeleted(ctx context.Context, rc rpc.Context, id string) (bool, error) {
	row, err := instanceRow(ctx, a.svc.objs, rc, id)
	if err != nil {
		return false, err
	}
	deleted, _ := ovo.Value[bool](row, "deleted")
	return deleted, nil
}

// instanceRow reads an instance's database row with soft-deleted rows included (nova's
// context.elevated(read_deleted='yes')); errGone when there is no row at all.
func instanceRow(ctx context.Context, objs objects, rc rpc.Context, id string) (*ovo.Object, error) {
	raw, err := objs.classAction(ctx, rc.WithReadDeleted("yes"), "Instance", "get_by_uuid", []any{id}, map[string]any{"expected_attrs": []any{}})
	if err != nil {
		return nil, classifyInstanceError(err)
	}
	obj, err := decodeObject(raw)
	if err != nil {
		return nil, err
	}
	if obj == nil {
		return nil, errGone
	}
	return obj, nil
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	_, err := uuid.Parse(s)
	return err == nil
}

// settleOnHost clears the task state and sets vm_state and power_state to what the hypervisor
// shows: active when the guest runs, paused, stopped otherwise.
func (a *Agent) settleOnHost(ctx context.Context, rc rpc.Context, inst *instance) error {
	st, err := a.powerState(ctx, inst.uuid())
	if err != nil {
		return err
	}
	vm := vmStopped
	switch st {
	case virt.PowerRunning:
		vm = vmActive
	case virt.PowerPaused:
		vm = vmPaused
	}
	return a.save(ctx, rc, inst, map[string]any{"vm_state": vm, "task_state": nil, "power_state": int64(st)}, nil)
}

// recoverRescue settles an instance whose rescue or unrescue the last stop interrupted.
func (a *Agent) recoverRescue(ctx context.Context, rc rpc.Context, inst *instance, log *slog.Logger) {
	id, task := inst.uuid(), inst.str("task_state")
	dir := a.c.instanceDir(id)
	if _, err := os.Stat(filepath.Join(dir, unrescueXMLFile)); err == nil {
		log.Info("restoring the instance's own domain after an interrupted rescue or unrescue", "task_state", task)
		if err := a.driverUnrescue(ctx, id, log); err != nil {
			log.Error("interrupted rescue not settled; setting the instance to error", "error", err)
			if serr := a.save(ctx, rc, inst, map[string]any{"vm_state": vmError, "task_state": nil}, nil); serr != nil {
				log.Error("could not set the instance to error", "error", serr)
			}
			return
		}
		if task == taskRescuing {
			a.addFault(ctx, rc, id, newFault("InstanceNotRescuable", 500, nil,
				"Instance %s cannot be rescued: the compute service stopped during the rescue", id), "")
		}
	} else if err := removeRescueFiles(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		log.Warn("rescue files not removed", "error", err)
	}
	if err := a.settleOnHost(ctx, rc, inst); err != nil {
		log.Error("could not settle the interrupted rescue", "error", err)
	}
}

// recoverResizeMigrating is nova's _init_instance row for resize_migrating: the directory a
// resize kept aside goes back, the guest is defined again and started unless it was stopped,
// and, whatever happened, the task state is cleared.
func (a *Agent) recoverResizeMigrating(ctx context.Context, rc rpc.Context, inst *instance, log *slog.Logger) {
	powerOn := inst.sysmeta()[sysmetaOldVMState] != vmStopped
	if err := a.finishRevertMigration(ctx, inst, powerOn, instanceVIFs(inst), false, log); err != nil {
		log.Error("failed to revert the crashed migration", "error", err)
	}
	if err := a.save(ctx, rc, inst, map[string]any{"task_state": nil}, anyTask); err != nil {
		log.Error("could not clear the task state", "error", err)
	}
}
