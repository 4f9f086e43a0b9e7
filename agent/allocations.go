package agent

import (
	"context"
	"errors"

	"github.com/novalet/novalet/rpc"
	"github.com/novalet/novalet/rpc/ovo"
)

// removeDeletedInstancesAllocations is the resource tracker's audit of Placement
// (nova's _remove_deleted_instances_allocations): an allocation against this node whose
// consumer is an instance the database marks deleted is removed. It is what cleans up after a
// delete whose Placement call failed. A consumer the database does not know is left alone (the
// scheduler may have just claimed for an instance whose record is not written yet), as is an
// instance not deleted. Failures are logged; the next pass tries again.
func (t *tracker) removeDeletedInstancesAllocations(ctx context.Context, tracked map[string]bool) {
	if t.placement == nil {
		return
	}
	id, _ := ovo.Value[string](t.cn, "uuid")
	allocs, err := t.placement.ProviderAllocations(ctx, id)
	if err != nil {
		t.log.Error("skipping removal of allocations for deleted instances", "error", err)
		return
	}
	rc := rpc.NewAdminContext(nowUTC())
	for consumer := range allocs {
		if tracked[consumer] || !isUUID(consumer) {
			continue
		}
		inst, err := instanceRow(ctx, t.objs, rc, consumer)
		if errors.Is(err, errGone) {
			t.log.Info("instance has allocations against this compute host but is not found in the database", "instance_uuid", consumer)
			continue
		}
		if err != nil {
			t.log.Warn("allocation audit: instance not read", "instance_uuid", consumer, "error", err)
			continue
		}
		deleted, _ := ovo.Value[bool](inst, "deleted")
		hidden, _ := ovo.Value[bool](inst, "hidden")
		if !deleted || hidden {
			continue
		}
		if err := t.placement.DeleteAllocations(ctx, consumer); err != nil {
			t.log.Warn("allocations of a deleted instance not removed; the next pass retries", "instance_uuid", consumer, "error", err)
			continue
		}
		t.log.Info("removed the allocations a deleted instance left against this compute host", "instance_uuid", consumer)
	}
}
