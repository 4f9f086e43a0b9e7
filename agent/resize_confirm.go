package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/novalet/novalet/rpc"
	"github.com/novalet/novalet/virt"
)

// Confirm and revert of a resize on this host (see resize.go).

func (a *Agent) confirmResize(ctx context.Context, req *rpc.Request) (any, error) {
	return a.moveOp(ctx, req, false, a.doConfirmResize)
}

// doConfirmResize is nova's confirm_resize and _confirm_resize on the source: the directory
// kept aside goes, the migration is confirmed, the instance active (or stopped when its guest
// is off), and, whatever happened, the migration's allocations (the old flavor's) are deleted,
// the schedulers told, and the stashed flavors cleared.
func (a *Agent) doConfirmResize(ctx context.Context, rc rpc.Context, inst *instance, args resizeArgs, log *slog.Logger) error {
	switch st := args.mig.str("status"); {
	case st == "confirmed":
		log.Info("migration already confirmed")
		return nil
	case st != "finished" && st != "confirming":
		log.Warn("unexpected migration status for a confirm; nothing done", "status", st)
		return nil
	}
	// nova re-reads the instance (its power state decides below): one deleted meanwhile
	// needs no confirm.
	raw, err := a.svc.objs.classAction(ctx, rc, "Instance", "get_by_uuid", []any{inst.uuid()},
		map[string]any{"expected_attrs": []any{"metadata", "system_metadata", "flavor"}})
	if err != nil {
		if err := classifyInstanceError(err); errors.Is(err, errGone) {
			log.Info("instance is gone; nothing to confirm")
			return nil
		}
		return err
	}
	obj, err := decodeObject(raw)
	if err != nil {
		return fmt.Errorf("instance %s re-read: %w", inst.uuid(), err)
	}
	if obj == nil {
		log.Info("instance is gone; nothing to confirm")
		return nil
	}
	inst.obj = obj
	err = a.confirmOnSource(ctx, rc, inst, args.mig, log)
	if err != nil {
		log.Error("confirm resize failed on the source host; allocations are removed regardless; a hard reboot may correct the instance", "error", err)
		a.errorOutInstance(ctx, rc, inst, "", err, log)
	}
	if derr := a.deleteAllocationAfterMove(ctx, args.mig); derr != nil {
		log.Error("allocations of the migration not deleted", "error", derr)
	}
	a.deleteSchedulerInstanceInfo(ctx, rc, inst.uuid())
	a.deleteStashedFlavors(ctx, rc, inst, log)
	return err
}

func (a *Agent) confirmOnSource(ctx context.Context, rc rpc.Context, inst *instance, m *migration, log *slog.Logger) error {
	if err := a.cleanupResize(ctx, inst, log); err != nil {
		return err
	}
	// rt.drop_move_claim_at_source.
	if err := a.saveMigration(ctx, rc, m, map[string]any{"status": "confirmed"}); err != nil {
		return err
	}
	if err := a.save(ctx, rc, inst, map[string]any{"migration_context": nil}, anyTask); err != nil {
		return err
	}
	// The user may have started or stopped the guest meanwhile: the power state decides.
	vm := vmActive
	if inst.int("power_state") == int64(virt.PowerShutdown) {
		vm = vmStopped
	}
	if err := a.save(ctx, rc, inst, map[string]any{"vm_state": vm, "task_state": nil},
		expectTask{nil, taskDeleting, taskSoftDeleting}); err != nil {
		return err
	}
	log.Info("resize confirmed", "vm_state", vm)
	return nil
}

// deleteStashedFlavors is nova's _delete_stashed_flavor_info.
func (a *Agent) deleteStashedFlavors(ctx context.Context, rc rpc.Context, inst *instance, log *slog.Logger) {
	if err := inst.setSysmeta(map[string]string{sysmetaOldVMState: ""}); err != nil {
		log.Error("old_vm_state not removed", "error", err)
		return
	}
	if err := a.save(ctx, rc, inst, map[string]any{"old_flavor": nil, "new_flavor": nil}, anyTask); err != nil && !errors.Is(err, errGone) {
		log.Error("stashed flavors not cleared", "error", err)
	}
}

func (a *Agent) revertResize(ctx context.Context, req *rpc.Request) (any, error) {
	return a.moveOp(ctx, req, false, a.doRevertResize)
}

// doRevertResize is nova's revert_resize on the destination: the resized guest goes (its
// disks stay, the storage being this host's own), the migration is reverted, and
// finish_revert_resize is cast to the source.
func (a *Agent) doRevertResize(ctx context.Context, rc rpc.Context, inst *instance, args resizeArgs, log *slog.Logger) error {
	err := a.revertOnDest(ctx, rc, inst, args, log)
	if err != nil {
		a.errorOutInstance(ctx, rc, inst, "", err, log)
	}
	return err
}

func (a *Agent) revertOnDest(ctx context.Context, rc rpc.Context, inst *instance, args resizeArgs, log *slog.Logger) error {
	vifs, err := parseInstanceVIFs(inst)
	if err != nil {
		return err
	}
	source := args.mig.str("source_compute")
	// _is_instance_storage_shared: the source is this host, so the files are its own.
	destroyDisks := source != a.opts.Host
	if err := a.destroyDomain(ctx, inst.uuid(), log); err != nil {
		return err
	}
	a.unplugVIFs(ctx, vifs)
	if destroyDisks {
		if err := a.removeInstanceFromHost(ctx, inst.uuid(), log); err != nil {
			return err
		}
	}
	// rt.drop_move_claim_at_dest.
	if err := a.saveMigration(ctx, rc, args.mig, map[string]any{"status": "reverted"}); err != nil {
		return err
	}
	if err := a.save(ctx, rc, inst, nil, expectTask{taskResizeReverting}); err != nil {
		return err
	}
	log.Info("resized guest removed; asking the source to finish the revert", "source", source)
	return a.c.caster.Cast(ctx, computeTarget(source), rc, "finish_revert_resize", map[string]any{
		"instance": inst.obj, "migration": args.mig.obj, "request_spec": args.requestSpec})
}

func (a *Agent) finishRevertResize(ctx context.Context, req *rpc.Request) (any, error) {
	return a.moveOp(ctx, req, false, a.doFinishRevertResize)
}

// doFinishRevertResize is nova's finish_revert_resize and _finish_revert_resize on the source:
// the old flavor, host and node back on the instance, the migration's allocations back to it,
// the directory kept aside back in place with the guest defined on the old flavor, and the
// instance active, or stopped as it was.
func (a *Agent) doFinishRevertResize(ctx context.Context, rc rpc.Context, inst *instance, args resizeArgs, log *slog.Logger) error {
	err := a.revertOnSource(ctx, rc, inst, args, log)
	if err != nil {
		a.errorOutInstance(ctx, rc, inst, "", err, log)
	}
	a.deleteStashedFlavors(ctx, rc, inst, log)
	return err
}

func (a *Agent) revertOnSource(ctx context.Context, rc rpc.Context, inst *instance, args resizeArgs, log *slog.Logger) error {
	oldVM := inst.sysmeta()[sysmetaOldVMState]
	if oldVM == "" {
		oldVM = vmActive
	}
	old := inst.flavorObject("old_flavor")
	if old == nil {
		return errors.New("instance has no old_flavor to revert to")
	}
	fields := flavorFields(old)
	fields["host"], fields["node"] = args.mig.str("source_compute"), args.mig.str("source_node")
	if err := set(inst.obj, fields); err != nil {
		return err
	}
	if err := a.revertAllocation(ctx, inst, args.mig, log); err != nil {
		return err
	}
	vifs, err := parseInstanceVIFs(inst)
	if err != nil {
		return err
	}
	// The ports come back from the destination (migrate_instance_finish with dest_compute the
	// source), and the guest waits for those Neutron reports down (finish_revert_migration).
	moved := args.mig.str("dest_compute") != a.opts.Host
	if moved {
		if vifs, err = a.bindPortsHere(ctx, rc, inst, vifs, log); err != nil {
			return err
		}
	}
	powerOn := oldVM != vmStopped
	if err := a.finishRevertMigration(ctx, inst, powerOn, vifs, moved, log); err != nil {
		return err
	}
	if err := a.save(ctx, rc, inst, map[string]any{"migration_context": nil, "launched_at": nowField()},
		expectTask{taskResizeReverting}); err != nil {
		return err
	}
	log.Info("updating instance to its original state", "vm_state", oldVM)
	if powerOn {
		return a.save(ctx, rc, inst, map[string]any{"vm_state": vmActive, "task_state": nil}, anyTask)
	}
	if err := a.save(ctx, rc, inst, map[string]any{"task_state": taskPoweringOff}, anyTask); err != nil {
		return err
	}
	const event = "compute_stop_instance"
	a.eventStart(ctx, rc, inst.uuid(), event)
	err = a.doStop(ctx, rc, inst, true, log)
	a.eventFinish(ctx, rc, inst.uuid(), event, err)
	return err
}
