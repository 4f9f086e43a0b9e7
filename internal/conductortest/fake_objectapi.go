package conductortest

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/novalet/novalet/rpc"
	"github.com/novalet/novalet/rpc/ovo"
)

// The object API the agent calls: object_class_action_versions and object_action on the
// records (Service, ComputeNode, Instance and its faults, actions and events).

// ObjectClassActionVersions implements the conductor's object_class_action_versions.
func (f *Fake) ObjectClassActionVersions(ctx context.Context, rc rpc.Context, objname, objmethod string, _ map[string]string, args []any, kwargs map[string]any) (json.RawMessage, error) {
	call := objname + "." + objmethod
	if err := f.enter(call); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := roundTrip(&args, &kwargs); err != nil {
		return nil, fmt.Errorf("conductortest: %s: arguments do not travel: %w", call, err)
	}
	str := func(i int) string {
		if i < len(args) {
			s, _ := args[i].(string)
			return s
		}
		return ""
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch call {
	case "Service.get_by_host_and_binary":
		if s := f.services[str(0)]; s != nil {
			return json.Marshal(s)
		}
		return json.RawMessage("null"), nil
	case "ComputeNode.get_by_host_and_nodename":
		if cn := f.nodes[str(0)+"/"+str(1)]; cn != nil {
			return json.Marshal(cn)
		}
		return nil, &rpc.RemoteError{Class: "ComputeHostNotFound", Module: "nova.exception",
			Message: fmt.Sprintf("Compute host %s could not be found.", str(0))}
	case "ComputeNode.get_by_uuid":
		for _, cn := range f.nodes {
			if id, _ := ovo.Value[string](cn, "uuid"); id == str(0) {
				return json.Marshal(cn)
			}
		}
		return nil, &rpc.RemoteError{Class: "ComputeHostNotFound", Module: "nova.exception",
			Message: fmt.Sprintf("Compute host %s could not be found.", str(0))}
	case "InstanceList.get_by_host", "InstanceList.get_by_host_and_node":
		host, node, byNode := str(0), str(1), call == "InstanceList.get_by_host_and_node"
		ids := f.sortedInstances(func(o *ovo.Object) bool {
			h, _ := ovo.Value[string](o, "host")
			n, _ := ovo.Value[string](o, "node")
			return h == host && (!byNode || n == node)
		})
		objs := make([]*ovo.Object, 0, len(ids))
		for _, id := range ids {
			objs = append(objs, f.instances[id])
		}
		l, err := ovo.New("InstanceList")
		if err != nil {
			return nil, err
		}
		if err := l.Set("objects", objs); err != nil {
			return nil, err
		}
		return json.Marshal(l)
	case "Instance.get_by_uuid":
		readDeleted, _ := rc["read_deleted"].(string)
		if o := f.row(str(0), readDeleted); o != nil {
			return json.Marshal(o)
		}
		return nil, instanceNotFound(str(0))
	case "InstanceActionEvent.event_start":
		f.events = append(f.events, ActionEvent{InstanceUUID: str(0), Event: str(1)})
		return json.RawMessage("null"), nil
	case "InstanceActionEvent.event_finish_with_failure":
		f.events = append(f.events, ActionEvent{InstanceUUID: str(0), Event: str(1), Finished: true, Failed: kwargs["exc_val"] != nil})
		return json.RawMessage("null"), nil
	case "InstanceAction.action_start":
		f.actions = append(f.actions, Action{InstanceUUID: str(0), Action: str(1)})
		return json.RawMessage("null"), nil
	case "ConsoleAuthToken.clean_console_auths_for_instance":
		return json.RawMessage("null"), nil
	}
	if raw, ok, err := f.moveClassAction(call, args); ok {
		return raw, err
	}
	return nil, &rpc.RemoteError{Class: "NoSuchMethod", Message: call}
}

// ObjectAction implements the conductor's object_action.
func (f *Fake) ObjectAction(ctx context.Context, _ rpc.Context, objinst json.RawMessage, objmethod string, args []any, kwargs map[string]any) (map[string]json.RawMessage, json.RawMessage, error) {
	obj, err := ovo.Decode(objinst)
	if err != nil {
		return nil, nil, err
	}
	call := obj.Name() + "." + objmethod
	if err := f.enter(call); err != nil {
		return nil, nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if err := roundTrip(&args, &kwargs); err != nil {
		return nil, nil, fmt.Errorf("conductortest: %s: arguments do not travel: %w", call, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	none := json.RawMessage("null")
	switch call {
	case "Service.create", "Service.save", "ComputeNode.create", "ComputeNode.save":
		updates, err := f.serviceOrNode(obj, objmethod)
		return updates, none, err
	case "Instance.save":
		return map[string]json.RawMessage{}, none, f.saveInstance(obj, kwargs)
	case "Instance.refresh":
		// nova re-reads the row (with the context's read_deleted) and the conductor sends
		// back every field that differs from the caller's copy.
		id, _ := ovo.Value[string](obj, "uuid")
		stored := f.row(id, "no")
		if stored == nil {
			return nil, nil, instanceNotFound(id)
		}
		updates := map[string]json.RawMessage{}
		mine, _ := obj.ToPrimitive()["nova_object.data"].(map[string]any)
		if data, ok := stored.ToPrimitive()["nova_object.data"].(map[string]any); ok {
			for k, v := range data {
				b, err := json.Marshal(v)
				if err != nil {
					return nil, nil, err
				}
				if old, err := json.Marshal(mine[k]); err == nil && string(old) == string(b) {
					continue
				}
				updates[k] = b
			}
		}
		return updates, none, nil
	case "Migration.save":
		updates, err := f.saveMigration(obj)
		return updates, none, err
	case "Instance.destroy":
		// nova's instance_destroy soft-deletes the row
		id, _ := ovo.Value[string](obj, "uuid")
		stored := f.row(id, "no")
		if stored == nil {
			return nil, nil, instanceNotFound(id)
		}
		now := time.Now().UTC().Truncate(time.Microsecond)
		if err := stored.Set("deleted", true); err != nil {
			return nil, nil, err
		}
		if err := stored.Set("deleted_at", now); err != nil {
			return nil, nil, err
		}
		stored.ObjResetChanges()
		f.destroyed = append(f.destroyed, id)
		updates := map[string]json.RawMessage{"deleted": json.RawMessage("true")}
		if data, ok := stored.ToPrimitive()["nova_object.data"].(map[string]any); ok {
			if b, err := json.Marshal(data["deleted_at"]); err == nil {
				updates["deleted_at"] = b
			}
		}
		return updates, none, nil
	case "InstanceInfoCache.save":
		id, _ := ovo.Value[string](obj, "instance_uuid")
		stored := f.row(id, "no")
		if stored == nil {
			return nil, nil, &rpc.RemoteError{Class: "InstanceInfoCacheNotFound", Module: "nova.exception",
				Message: fmt.Sprintf("Info cache for instance %s could not be found.", id)}
		}
		ic := obj.Clone()
		ic.ObjResetChangesRecursive()
		if err := stored.Set("info_cache", ic); err != nil {
			return nil, nil, err
		}
		stored.ObjResetChanges()
		return map[string]json.RawMessage{}, none, nil
	case "InstanceFault.create":
		var ft Fault
		ft.InstanceUUID, _ = ovo.Value[string](obj, "instance_uuid")
		ft.Code, _ = ovo.Value[int64](obj, "code")
		ft.Message, _ = ovo.Value[string](obj, "message")
		ft.Host, _ = ovo.Value[string](obj, "host")
		f.faults = append(f.faults, ft)
		return map[string]json.RawMessage{}, none, nil
	case "ConsoleAuthToken.authorize":
		return map[string]json.RawMessage{}, json.RawMessage(`"` + uuid.NewString() + `"`), nil
	}
	return nil, nil, &rpc.RemoteError{Class: "NoSuchMethod", Message: call}
}

// serviceOrNode is create and save of Service and ComputeNode records.
func (f *Fake) serviceOrNode(obj *ovo.Object, method string) (map[string]json.RawMessage, error) {
	before := obj.Clone()
	isNode := obj.Name() == "ComputeNode"
	store := f.services
	host, _ := ovo.Value[string](obj, "host")
	key := host
	if isNode {
		store = f.nodes
		n, _ := ovo.Value[string](obj, "hypervisor_hostname")
		key = host + "/" + n
	}
	switch method {
	case "create":
		if store[key] != nil {
			class := "ServiceBinaryExists"
			if isNode {
				class = "DBDuplicateEntry"
			}
			return nil, &rpc.RemoteError{Class: class, Message: obj.Name() + " " + key + " exists"}
		}
		id, _ := ovo.Value[string](obj, "uuid")
		if old := f.deletedNodes[id]; isNode && old != nil {
			// the soft-deleted row comes back with the new values, and keeps mapped
			delete(f.deletedNodes, id)
			oldID, _ := old.Get("id")
			_ = obj.Set("id", oldID)
			if m, ok := old.Get("mapped"); ok {
				_ = obj.Set("mapped", m)
			}
			break
		}
		f.nextID++
		if err := obj.Set("id", f.nextID); err != nil {
			return nil, err
		}
		if !isNode {
			_ = obj.Set("disabled", false)
			_ = obj.Set("uuid", fmt.Sprintf("00000000-0000-4000-8000-%012d", f.nextID))
		}
	case "save":
		stored := store[key]
		if stored == nil {
			class := "ServiceNotFound"
			if isNode {
				class = "ComputeHostNotFound"
			}
			return nil, &rpc.RemoteError{Class: class, Module: "nova.exception", Message: obj.Name() + " " + key + " not found"}
		}
		merged := stored.Clone()
		for _, k := range obj.ObjWhatChanged() {
			v, _ := obj.Get(k)
			if err := merged.Set(k, v); err != nil {
				return nil, err
			}
		}
		obj = merged
		f.saves[obj.Name()]++
	}
	obj.ObjResetChanges()
	store[key] = obj.Clone()
	updates := map[string]json.RawMessage{}
	for _, k := range obj.Fields() {
		if !ovo.SameField(before, obj, k) {
			v, _ := obj.Get(k)
			b, err := json.Marshal(ovo.FieldWire(v))
			if err != nil {
				return nil, err
			}
			updates[k] = b
		}
	}
	updates["obj_what_changed"] = json.RawMessage("[]")
	return updates, nil
}

// saveInstance is nova's instance_update_and_get_original: expected_task_state checked
// against the database, then the changed fields written.
func (f *Fake) saveInstance(obj *ovo.Object, kwargs map[string]any) error {
	id, _ := ovo.Value[string](obj, "uuid")
	stored := f.row(id, "no")
	if stored == nil {
		return instanceNotFound(id)
	}
	cur, _ := ovo.Value[string](stored, "task_state")
	exp := ""
	if raw, given := kwargs["expected_task_state"]; given && raw != nil {
		want, ok := raw.([]any)
		if !ok {
			want = []any{raw} // nova accepts a single state too
		}
		exp = fmt.Sprint(want)
		match := false
		for _, w := range want {
			ws, _ := w.(string) // None matches no task state
			match = match || ws == cur
		}
		if !match {
			class := "UnexpectedTaskStateError"
			if cur == "deleting" {
				class = "UnexpectedDeletingTaskStateError"
			}
			return &rpc.RemoteError{Class: class, Module: "nova.exception",
				Message: fmt.Sprintf("Conflict updating instance %s. Expected: {'task_state': %v}. Actual: {'task_state': %s}", id, want, cur)}
		}
	}
	next := stored.Clone()
	for _, k := range obj.ObjWhatChanged() {
		v, _ := obj.Get(k)
		if err := next.Set(k, v); err != nil {
			return err
		}
	}
	next.ObjResetChangesRecursive()
	f.instances[id] = next
	f.saves["Instance"]++
	s := InstanceSave{UUID: id, Expected: exp}
	s.VMState, _ = ovo.Value[string](next, "vm_state")
	s.TaskState, _ = ovo.Value[string](next, "task_state")
	s.PowerState, _ = ovo.Value[int64](next, "power_state")
	s.Host, _ = ovo.Value[string](next, "host")
	s.Node, _ = ovo.Value[string](next, "node")
	f.instSaves = append(f.instSaves, s)
	return nil
}
