package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/novalet/novalet/rpc"
	"github.com/novalet/novalet/rpc/ovo"
)

// Messages to the scheduler and the conductor's task API that instance operations send.

// schedulerTarget is the scheduler's fanout (nova/scheduler/rpcapi.py, 4.2 for these casts).
var schedulerTarget = rpc.Target{Topic: "scheduler", Fanout: true, Version: "4.2"}

// conductorTaskTarget is nova-conductor's ComputeTaskManager (build_instances 1.19).
var conductorTaskTarget = rpc.Target{Topic: "conductor", Namespace: "compute_task", Version: "1.19"}

// elevated is context.elevated(): the same request as admin.
func elevated(rc rpc.Context) rpc.Context {
	e := rc.Clone()
	e[rpc.CtxIsAdmin] = true
	return e
}

// updateSchedulerInstanceInfo tells the schedulers what runs here now (nova's
// _update_scheduler_instance_info). A failure only delays the scheduler's view: its periodic
// sync repairs it.
func (a *Agent) updateSchedulerInstanceInfo(ctx context.Context, rc rpc.Context, inst *instance) {
	if !a.c.opts.TrackInstanceChanges || a.c.caster == nil {
		return
	}
	list, err := ovo.New("InstanceList")
	if err == nil {
		err = list.Set("objects", []*ovo.Object{inst.obj})
	}
	if err == nil {
		err = a.c.caster.Cast(ctx, schedulerTarget, elevated(rc), "update_instance_info",
			map[string]any{"host_name": a.opts.Host, "instance_info": list})
	}
	if err != nil {
		a.log.Warn("scheduler update_instance_info not sent", "instance_uuid", inst.uuid(), "error", err)
	}
}

// deleteSchedulerInstanceInfo is nova's _delete_scheduler_instance_info.
func (a *Agent) deleteSchedulerInstanceInfo(ctx context.Context, rc rpc.Context, uuid string) {
	if !a.c.opts.TrackInstanceChanges || a.c.caster == nil {
		return
	}
	err := a.c.caster.Cast(ctx, schedulerTarget, elevated(rc), "delete_instance_info",
		map[string]any{"host_name": a.opts.Host, "instance_uuid": uuid})
	if err != nil {
		a.log.Warn("scheduler delete_instance_info not sent", "instance_uuid", uuid, "error", err)
	}
}

// reschedule hands a failed build back to the conductor with the remaining alternates
// (nova's RescheduledException path): untag the instance, drop its allocations, and cast
// build_instances.
func (a *Agent) reschedule(ctx context.Context, rc rpc.Context, b *buildRequest, retry map[string]any, reason string) error {
	if a.c.caster == nil {
		return errors.New("no conductor client to reschedule through")
	}
	inst := b.inst
	retry["exc"] = []any{reason}
	retry["exc_reason"] = reason
	b.filterProperties["retry"] = retry
	if err := a.save(ctx, rc, inst, map[string]any{"host": nil, "node": nil, "task_state": taskScheduling}, anyTask); err != nil {
		return err
	}
	if err := a.deleteAllocations(ctx, inst.uuid()); err != nil {
		return fmt.Errorf("allocations of the failed build: %w", err)
	}
	hostList := b.raw["host_list"]
	if len(hostList) == 0 {
		hostList = json.RawMessage("[]")
	}
	args := map[string]any{
		"instances": []*ovo.Object{inst.obj}, "image": b.image, "filter_properties": b.filterProperties,
		"admin_password": b.adminPassword, "injected_files": rawOrNull(b.raw["injected_files"]),
		"requested_networks": rawOrNull(b.raw["requested_networks"]),
		"security_groups":    rawOrNull(b.raw["security_groups"]),
		"request_spec":       rawOrNull(b.raw["request_spec"]),
		"host_lists":         []json.RawMessage{hostList},
	}
	return a.c.caster.Cast(ctx, conductorTaskTarget, rc, "build_instances", args)
}

func rawOrNull(r json.RawMessage) json.RawMessage {
	if len(r) == 0 {
		return json.RawMessage("null")
	}
	return r
}

// deleteAllocations removes the instance's allocations in Placement (nova's
// delete_allocation_for_instance with force). Without a Placement client yet it fails.
func (a *Agent) deleteAllocations(ctx context.Context, uuid string) error {
	p := a.rt.reportClient()
	if p == nil {
		return errors.New("placement client not available")
	}
	return p.DeleteAllocations(ctx, uuid)
}
