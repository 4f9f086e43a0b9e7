package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/novalet/novalet/internal/failpoint"

	"github.com/novalet/novalet/netmodel"
	"github.com/novalet/novalet/rpc"
)

// terminateInstance is `openstack server delete` on this host (nova's terminate_instance): the
// domain and the instance's files go, the instance is marked deleted and destroyed, its
// allocations are removed and the schedulers are told. Every step tolerates what is already
// gone, so a repeated or resumed delete converges.
func (a *Agent) terminateInstance(ctx context.Context, req *rpc.Request) (any, error) {
	inst, err := decodeInstance(req.Args["instance"])
	if err != nil {
		return nil, rpc.NovaError("InvalidInput", "terminate_instance: "+err.Error(), map[string]any{"code": 400})
	}
	rc := req.Context
	uuid := inst.uuid()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.c.opts.OperationTimeout)
	defer cancel()
	const event = "compute_terminate_instance"
	a.eventStart(ctx, rc, uuid, event)
	unlock, err := a.c.locks.lock(ctx, uuid)
	if err != nil {
		a.eventFinish(ctx, rc, uuid, event, err)
		return nil, err
	}
	defer unlock()
	log := a.log.With("instance_uuid", uuid, "request_id", rc.RequestID())
	done := a.operation("terminate_instance")
	err = a.deleteInstance(ctx, rc, inst, log)
	done(err)
	switch {
	case errors.Is(err, errGone):
		log.Info("instance already deleted", "error", err)
		err = nil
	case err != nil:
		log.Error("delete failed", "error", err)
		a.addFault(ctx, rc, uuid, err, "")
		if serr := a.save(ctx, rc, inst, map[string]any{"vm_state": vmError, "task_state": nil}, anyTask); serr != nil {
			log.Error("could not set the instance to error", "error", serr)
		}
	}
	a.eventFinish(ctx, rc, uuid, event, err)
	a.resourcesChanged()
	return nil, err
}

// deleteInstance is nova's _delete_instance.
func (a *Agent) deleteInstance(ctx context.Context, rc rpc.Context, inst *instance, log *slog.Logger) error {
	uuid := inst.uuid()
	vifs := instanceVIFs(inst)
	if err := a.removeInstanceFromHost(ctx, uuid, log, vifs...); err != nil {
		return err
	}
	failpoint.Hold(ctx, log, "delete.removed")
	// nova's _try_deallocate_network: a Neutron failure fails the delete (the instance goes to
	// error and the user deletes again) rather than leaking ports silently.
	if err := a.c.network.DeallocateForInstance(ctx, uuid, vifs); err != nil {
		return fmt.Errorf("deallocate network: %w", err)
	}
	failpoint.Hold(ctx, log, "delete.deallocated")
	if err := a.save(ctx, rc, inst, map[string]any{"vm_state": vmDeleted, "task_state": nil,
		"power_state": int64(0), "terminated_at": nowField()}, anyTask); err != nil {
		return err
	}
	// _complete_deletion: allocations, console tokens, the schedulers' view.
	if a.c.opts.ReclaimInstanceInterval <= 0 {
		if err := a.deleteAllocations(ctx, uuid); err != nil {
			log.Error("placement allocations not deleted; the resource audit will find them", "error", err)
		}
	}
	if _, err := a.svc.objs.classAction(ctx, rc, "ConsoleAuthToken", "clean_console_auths_for_instance",
		[]any{uuid}, nil); err != nil {
		log.Warn("console tokens not cleaned", "error", err)
	}
	a.deleteSchedulerInstanceInfo(ctx, rc, uuid)
	if _, err := a.svc.objs.action(ctx, rc, inst.obj, "destroy", nil, nil); err != nil {
		if err := classifyInstanceError(err); !errors.Is(err, errGone) {
			return fmt.Errorf("instance.destroy: %w", err)
		}
	}
	log.Info("instance deleted")
	return nil
}

// removeInstanceFromHost is the driver's destroy + cleanup: domain stopped and undefined,
// taps removed, instance directory (and a resize's <uuid>_resize) removed.
func (a *Agent) removeInstanceFromHost(ctx context.Context, uuid string, log *slog.Logger, vifs ...netmodel.VIF) error {
	if err := a.destroyDomain(ctx, uuid, log); err != nil {
		return fmt.Errorf("destroy domain: %w", err)
	}
	a.unplugVIFs(ctx, vifs)
	// The libvirt driver's delete_instance_files: the directory a resize kept aside as well.
	for _, dir := range []string{a.c.instanceDir(uuid), a.c.resizeDir(uuid)} {
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("instance directory: %w", err)
		}
	}
	return nil
}
