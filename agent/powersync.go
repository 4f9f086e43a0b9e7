package agent

import (
	"context"
	"errors"

	"github.com/novalet/novalet/rpc"
	"github.com/novalet/novalet/virt"
)

// Power-state sync (nova's _sync_power_states every sync_power_state_interval): the
// hypervisor's view is the truth. A changed power state is recorded; a guest that stopped by
// itself while the database says active is stopped through the API path (an action "stop"
// and a stop_instance cast to this host, nova's compute_api.force_stop), so it ends SHUTOFF
// with an action in its history; one running while the database says stopped is stopped too.

func (a *Agent) powerSyncLoop(ctx context.Context) {
	a.periodic(ctx, "sync_power_states", a.c.opts.SyncPowerStateInterval, a.syncPowerStates)
}

func (a *Agent) syncPowerStates(ctx context.Context) error {
	rc := rpc.NewAdminContext(nowUTC())
	insts, err := a.hostInstances(ctx, rc)
	if err != nil {
		return err
	}
	for _, inst := range insts {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		a.syncInstance(ctx, rc, inst)
	}
	return nil
}

// syncInstance is nova's _sync_instance_power_state for one instance, under its lock.
func (a *Agent) syncInstance(ctx context.Context, rc rpc.Context, inst *instance) {
	uuid := inst.uuid()
	unlock, err := a.c.locks.lock(ctx, uuid)
	if err != nil {
		return
	}
	defer unlock()
	log := a.log.With("instance_uuid", uuid)
	// The list was read before the lock: an operation may have changed the instance since.
	// nova refreshes it under the lock (db_instance.refresh()) and decides on that.
	if err := a.refresh(ctx, rc, inst); err != nil {
		if !errors.Is(err, errGone) {
			log.Warn("instance not re-read; power state not synced", "error", err)
		}
		return
	}
	// An operation in progress owns the state; nova skips such instances.
	if inst.str("task_state") != "" {
		return
	}
	st, err := a.powerState(ctx, uuid)
	if err != nil {
		log.Warn("power state not read", "error", err)
		return
	}
	if int64(st) != inst.int("power_state") {
		log.Info("power state changed outside nova", "db_power_state", inst.int("power_state"), "vm_power_state", st.String())
		if err := a.save(ctx, rc, inst, map[string]any{"power_state": int64(st)}, anyTask); err != nil {
			log.Warn("power state not saved", "error", err)
			return
		}
	}
	vm := inst.str("vm_state")
	switch {
	case vm == vmActive && (st == virt.PowerShutdown || st == virt.PowerCrashed):
		log.Warn("instance shut down by itself; calling the stop API")
		a.forceStop(ctx, rc, inst)
	case vm == vmStopped && st != virt.PowerShutdown && st != virt.PowerNoState && st != virt.PowerCrashed:
		log.Warn("instance is not stopped; calling the stop API")
		a.forceStop(ctx, rc, inst)
	}
}

// forceStop is nova's compute_api.force_stop as the compute uses it: task_state powering-off,
// an action "stop", and stop_instance cast to this host.
func (a *Agent) forceStop(ctx context.Context, rc rpc.Context, inst *instance) {
	uuid := inst.uuid()
	if err := a.save(ctx, rc, inst, map[string]any{"task_state": taskPoweringOff, "progress": int64(0)}, taskNone); err != nil {
		a.log.Warn("stop not requested", "instance_uuid", uuid, "error", err)
		return
	}
	if _, err := a.svc.objs.classAction(ctx, rc, "InstanceAction", "action_start", []any{uuid, "stop"},
		map[string]any{"want_result": false}); err != nil {
		a.log.Warn("stop action not recorded", "instance_uuid", uuid, "error", err)
	}
	target := rpc.Target{Topic: ComputeTopic, Server: a.opts.Host, Version: "6.0"}
	if err := a.c.caster.Cast(ctx, target, rc, "stop_instance", map[string]any{"instance": inst.obj, "clean_shutdown": true}); err != nil {
		a.log.Error("stop_instance not sent", "instance_uuid", uuid, "error", err)
	}
}
