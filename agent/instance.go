package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/novalet/novalet/rpc"
	"github.com/novalet/novalet/rpc/ovo"
)

// nova's vm_state and task_state values the agent writes (nova/compute/vm_states.py,
// task_states.py).
const (
	vmActive    = "active"
	vmBuilding  = "building"
	vmStopped   = "stopped"
	vmPaused    = "paused"
	vmSuspended = "suspended"
	vmDeleted   = "deleted"
	vmError     = "error"

	taskScheduling         = "scheduling"
	taskNetworking         = "networking"
	taskBlockDeviceMapping = "block_device_mapping"
	taskSpawning           = "spawning"
	taskDeleting           = "deleting"
	taskSoftDeleting       = "soft-deleting"
)

// errGone is how an operation learns that the user deleted the instance under it: the
// conductor raised InstanceNotFound or UnexpectedDeletingTaskStateError (nova stops the
// operation quietly then).
var errGone = errors.New("instance disappeared")

// errUnexpectedTaskState: the conductor refused a save because the task state moved on
// (UnexpectedTaskStateError), e.g. a second request raced this one.
var errUnexpectedTaskState = errors.New("unexpected task state")

// instance wraps an Instance object received over RPC or read from the conductor.
type instance struct {
	obj *ovo.Object
}

func decodeInstance(raw json.RawMessage) (*instance, error) {
	obj, err := ovo.Decode(raw)
	if err != nil {
		return nil, fmt.Errorf("instance: %w", err)
	}
	if obj.Name() != "Instance" {
		return nil, fmt.Errorf("instance: got a %s object", obj.Name())
	}
	id, ok := ovo.Value[string](obj, "uuid")
	if !ok {
		return nil, errors.New("instance: no uuid")
	}
	// The uuid becomes a path (instances_path/<uuid>, made and removed) and a domain lookup:
	// only a canonical UUID passes, as nova's database only ever holds those.
	if !isUUID(id) {
		return nil, fmt.Errorf("instance: uuid %q is not a UUID", id)
	}
	return &instance{obj: obj}, nil
}

func (i *instance) uuid() string { s, _ := ovo.Value[string](i.obj, "uuid"); return s }

func (i *instance) str(field string) string { s, _ := ovo.Value[string](i.obj, field); return s }

func (i *instance) int(field string) int64 { n, _ := ovo.Value[int64](i.obj, field); return n }

// sysmeta returns a copy of system_metadata.
func (i *instance) sysmeta() map[string]string {
	m, _ := ovo.Value[map[string]any](i.obj, "system_metadata")
	out := make(map[string]string, len(m))
	for k, v := range m {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	return out
}

// setSysmeta merges kv into system_metadata; an empty value removes the key.
func (i *instance) setSysmeta(kv map[string]string) error {
	m, _ := ovo.Value[map[string]any](i.obj, "system_metadata")
	next := maps.Clone(m)
	if next == nil {
		next = map[string]any{}
	}
	for k, v := range kv {
		if v == "" {
			delete(next, k)
		} else {
			next[k] = v
		}
	}
	return i.obj.Set("system_metadata", next)
}

// flavor reads the embedded Flavor object.
func (i *instance) flavor() (flavorInfo, error) {
	f, ok := ovo.Value[*ovo.Object](i.obj, "flavor")
	if !ok || f == nil {
		return flavorInfo{}, errors.New("instance has no flavor")
	}
	get := func(k string) int { n, _ := ovo.Value[int64](f, k); return int(n) }
	name, _ := ovo.Value[string](f, "name")
	return flavorInfo{Name: name, VCPUs: get("vcpus"), MemoryMB: get("memory_mb"), RootGB: get("root_gb"),
		EphemeralGB: get("ephemeral_gb"), SwapMB: get("swap")}, nil
}

type flavorInfo struct {
	Name                                         string
	VCPUs, MemoryMB, RootGB, EphemeralGB, SwapMB int
}

// expectTask is an expected_task_state for save: the task states the database may hold for
// the save to go through (nil in the list stands for None).
type expectTask []any

var (
	// anyTask saves whatever the task state is (no expected_task_state).
	anyTask expectTask
	// taskNone saves only while no task is in progress (expected_task_state=None).
	taskNone = expectTask{nil}
)

// save writes fields (nova's instance.save()), with expected_task_state when given, and
// applies what the conductor sends back. InstanceNotFound and UnexpectedDeletingTaskStateError
// are errGone; UnexpectedTaskStateError is errUnexpectedTaskState.
func (a *Agent) save(ctx context.Context, rc rpc.Context, inst *instance, fields map[string]any, expected expectTask) error {
	if err := set(inst.obj, fields); err != nil {
		return err
	}
	kwargs := map[string]any{}
	if expected != nil {
		kwargs["expected_task_state"] = []any(expected)
	}
	if _, err := a.svc.objs.action(ctx, rc, inst.obj, "save", nil, kwargs); err != nil {
		return classifyInstanceError(err)
	}
	inst.obj.ObjResetChangesRecursive()
	return nil
}

// refresh re-reads the instance from the database (nova's instance.refresh()).
func (a *Agent) refresh(ctx context.Context, rc rpc.Context, inst *instance) error {
	if _, err := a.svc.objs.action(ctx, rc, inst.obj, "refresh", nil, nil); err != nil {
		return classifyInstanceError(err)
	}
	inst.obj.ObjResetChangesRecursive()
	return nil
}

// classifyInstanceError maps the conductor's instance exceptions onto the agent's classes.
func classifyInstanceError(err error) error {
	var re *rpc.RemoteError
	if errors.As(err, &re) {
		switch re.Class {
		case "InstanceNotFound", "UnexpectedDeletingTaskStateError":
			return fmt.Errorf("%w: %s", errGone, re.Message)
		case "UnexpectedTaskStateError":
			return fmt.Errorf("%w: %s", errUnexpectedTaskState, re.Message)
		}
	}
	return err
}

// nowField is a datetime field value at microsecond precision, as the database keeps it.
func nowField() time.Time { return nowUTC().Truncate(time.Microsecond) }

// nowUTC is the time nova stamps on request contexts and records: UTC.
func nowUTC() time.Time { return time.Now().UTC() }
