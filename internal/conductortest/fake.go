// Package conductortest is an in-memory nova-conductor for the compute manager's tests: the
// object API a nova-compute reaches Nova's database through (object_action and
// object_class_action_versions), over the records a compute node reads and writes, with the
// rules nova's conductor and DB API apply to them:
//
//   - Service and ComputeNode: get_by_host_and_binary (null when missing),
//     get_by_host_and_nodename (ComputeHostNotFound), create (ids assigned, a Service's
//     defaults and uuid filled; a second create for the same host or node refused) and save
//     (only the changed fields are written; the fields that differ from what the caller sent
//     come back as updates). `openstack compute service delete` soft-deletes the service and
//     its nodes (DeleteService), and a ComputeNode.create that reuses a soft-deleted node's
//     uuid revives that row with its mapped flag, as nova's compute_node_create does (bug
//     1839560).
//   - Instance: save writes the changed fields and enforces expected_task_state as nova's
//     instance_update_and_get_original does (UnexpectedTaskStateError, or
//     UnexpectedDeletingTaskStateError when the database holds "deleting"); destroy
//     soft-deletes the row (deleted = true), which then only a context with read_deleted "yes"
//     (or "only") reads back; save, destroy and get_by_uuid of an instance that does not exist
//     for the context raise InstanceNotFound; InstanceList.get_by_host and
//     get_by_host_and_node return the instances whose host (and node) match, with their info
//     cache.
//   - InstanceInfoCache.save stores an instance's network_info; InstanceFault.create,
//     InstanceAction.action_start and InstanceActionEvent.event_start /
//     event_finish_with_failure are recorded; ConsoleAuthToken.authorize hands out a token.
//   - Migration.save updates the row PutMigration stored (MigrationNotFound otherwise),
//     stamps its updated_at and records the status it left;
//     MigrationList.get_unconfirmed_by_dest_compute and Service.get_by_compute_host read
//     them (migration.go).
//
// Arguments travel through JSON as they would over RPC, so a value that could not be sent
// fails here too. Every other call is NoSuchMethod.
package conductortest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/novalet/novalet/rpc"
	"github.com/novalet/novalet/rpc/ovo"
)

// Fake is the in-memory conductor; the zero value is not usable, call New.
type Fake struct {
	mu       sync.Mutex
	services map[string]*ovo.Object // by host
	nodes    map[string]*ovo.Object // by host/node
	// deletedNodes are soft-deleted ComputeNode rows by uuid (DeleteService).
	deletedNodes map[string]*ovo.Object
	nextID       int64
	saves        map[string]int // by object name

	instances map[string]*ovo.Object // by uuid, as the database holds them (no change marks)
	order     map[string]int64       // by uuid: when first stored, for the list order
	nextOrder int64
	instSaves []InstanceSave
	destroyed []string
	faults    []Fault
	events    []ActionEvent
	actions   []Action
	migs      migrations

	fail      error
	failCalls map[string]error // by "Object.method"
	onCall    func(call string)
}

// InstanceSave is one Instance.save that went through: the record's state after it, and the
// expected_task_state it was checked against ("" when none was given).
type InstanceSave struct {
	UUID               string
	VMState, TaskState string
	PowerState         int64
	Host, Node         string
	Expected           string // fmt.Sprint of the expected_task_state list, e.g. "[scheduling <nil>]"
}

// Fault is one InstanceFault.create.
type Fault struct {
	InstanceUUID string
	Code         int64
	Message      string
	Host         string
}

// ActionEvent is one InstanceActionEvent call: Finished is false for event_start; Failed is
// set on a finish with an exception value.
type ActionEvent struct {
	InstanceUUID, Event string
	Finished, Failed    bool
}

// String is the event as the agent tests compare it: "start <event>" or
// "finish <event> ok|error".
func (e ActionEvent) String() string {
	if !e.Finished {
		return "start " + e.Event
	}
	if e.Failed {
		return "finish " + e.Event + " error"
	}
	return "finish " + e.Event + " ok"
}

// Action is one InstanceAction.action_start.
type Action struct {
	InstanceUUID, Action string
}

// New returns an empty conductor.
func New() *Fake {
	return &Fake{services: map[string]*ovo.Object{}, nodes: map[string]*ovo.Object{},
		deletedNodes: map[string]*ovo.Object{}, saves: map[string]int{},
		instances: map[string]*ovo.Object{}, order: map[string]int64{}}
}

// SetFail makes every call fail with err until SetFail(nil) (the conductor is away:
// rpc.ErrTimeout, say).
func (f *Fake) SetFail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = err
}

// FailCall makes every call of one method ("InstanceList.get_by_host") fail with err until
// FailCall(call, nil).
func (f *Fake) FailCall(call string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failCalls == nil {
		f.failCalls = map[string]error{}
	}
	if err == nil {
		delete(f.failCalls, call)
		return
	}
	f.failCalls[call] = err
}

// OnCall sets a hook that sees every call's "Object.method" before it is answered; it runs
// without the fake's lock held, so it may use the fake's accessors.
func (f *Fake) OnCall(hook func(call string)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.onCall = hook
}

func (f *Fake) enter(call string) error {
	f.mu.Lock()
	hook, fail := f.onCall, f.fail
	if err := f.failCalls[call]; err != nil {
		fail = err
	}
	f.mu.Unlock()
	if hook != nil {
		hook(call)
	}
	return fail
}

// --- Service and ComputeNode ---

// Service returns a copy of the host's nova-compute Service record, nil when there is none.
func (f *Fake) Service(host string) *ovo.Object {
	f.mu.Lock()
	defer f.mu.Unlock()
	return cloneOrNil(f.services[host])
}

// ComputeNode returns a copy of the host's ComputeNode record for node, nil when there is none.
func (f *Fake) ComputeNode(host, node string) *ovo.Object {
	f.mu.Lock()
	defer f.mu.Unlock()
	return cloneOrNil(f.nodes[host+"/"+node])
}

// Services counts the Service records (not deleted).
func (f *Fake) Services() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.services)
}

// ComputeNodes lists the ComputeNode records (not deleted) as "host/node", sorted.
func (f *Fake) ComputeNodes() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, 0, len(f.nodes))
	for k := range f.nodes {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Saves counts the save calls that went through for an object class ("Service",
// "ComputeNode", "Instance").
func (f *Fake) Saves(objname string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.saves[objname]
}

// DiscoverHosts is `nova-manage cell_v2 discover_hosts`: every unmapped compute node gets
// mapped = 1.
func (f *Fake) DiscoverHosts() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, cn := range f.nodes {
		if m, _ := ovo.Value[int64](cn, "mapped"); m == 0 {
			_ = cn.Set("mapped", int64(1))
			cn.ObjResetChanges()
		}
	}
}

// DeleteService does what `openstack compute service delete` does to the records: the
// service and its compute nodes are soft-deleted (the node rows keep their uuid and mapped
// flag, so that a create with the same uuid revives them).
func (f *Fake) DeleteService(host string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.services, host)
	for k, cn := range f.nodes {
		if h, _ := ovo.Value[string](cn, "host"); h == host {
			id, _ := ovo.Value[string](cn, "uuid")
			f.deletedNodes[id] = cn
			delete(f.nodes, k)
		}
	}
}

// --- Instances ---

// PutInstance stores inst as the database would hold it (change marks dropped), replacing
// the record with the same uuid: what nova-api and the scheduler leave, or a change made
// behind the compute's back (a delete request sets task_state "deleting"). A row with
// deleted = true is stored soft-deleted.
func (f *Fake) PutInstance(inst *ovo.Object) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id, _ := ovo.Value[string](inst, "uuid")
	c := inst.Clone()
	c.ObjResetChangesRecursive()
	f.instances[id] = c
	if _, ok := f.order[id]; !ok {
		f.nextOrder++
		f.order[id] = f.nextOrder
	}
}

// Instance returns a copy of the instance record (with its info cache) as a read without
// deleted rows sees it: nil when there is none (never created, destroyed or dropped).
func (f *Fake) Instance(id string) *ovo.Object {
	f.mu.Lock()
	defer f.mu.Unlock()
	return cloneOrNil(f.row(id, "no"))
}

// Instances lists the uuids of the instance records not deleted, in the order they were
// first stored.
func (f *Fake) Instances() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sortedInstances(func(*ovo.Object) bool { return true })
}

// InstancesOnHost lists the uuids of the instances not deleted whose host is host, in the
// order InstanceList.get_by_host returns them.
func (f *Fake) InstancesOnHost(host string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sortedInstances(func(o *ovo.Object) bool { h, _ := ovo.Value[string](o, "host"); return h == host })
}

// sortedInstances lists the rows not deleted that keep accepts, in the order first stored.
func (f *Fake) sortedInstances(keep func(*ovo.Object) bool) []string {
	var out []string
	for id, o := range f.instances {
		if !isDeleted(o) && keep(o) {
			out = append(out, id)
		}
	}
	slices.SortFunc(out, func(a, b string) int { return int(f.order[a] - f.order[b]) })
	return out
}

// row is the instance row a context with read_deleted mode ("no", "yes", "only"; "" is
// "no", nova's default) sees; nil when it sees none.
func (f *Fake) row(id, readDeleted string) *ovo.Object {
	o := f.instances[id]
	if o == nil {
		return nil
	}
	switch readDeleted {
	case "yes":
		return o
	case "only":
		if isDeleted(o) {
			return o
		}
		return nil
	}
	if isDeleted(o) {
		return nil
	}
	return o
}

func isDeleted(o *ovo.Object) bool { d, _ := ovo.Value[bool](o, "deleted"); return d }

// DropInstance removes a record behind nova's back, as if it had never been (a row archived
// and purged while the compute was away).
func (f *Fake) DropInstance(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.instances, id)
}

// InfoCache returns the network_info an InstanceInfoCache.save stored for the instance (the
// JSON text nova keeps), "" when none.
func (f *Fake) InfoCache(id string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if o := f.row(id, "no"); o != nil {
		if ic, _ := ovo.Value[*ovo.Object](o, "info_cache"); ic != nil {
			s, _ := ovo.Value[string](ic, "network_info")
			return s
		}
	}
	return ""
}

// InstanceSaves returns every Instance.save that went through, in order.
func (f *Fake) InstanceSaves() []InstanceSave {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.instSaves)
}

// Destroyed lists the instances Instance.destroy removed, in order.
func (f *Fake) Destroyed() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.destroyed)
}

// Faults returns every InstanceFault created, in order.
func (f *Fake) Faults() []Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.faults)
}

// FaultMessages returns the messages of the faults recorded for the instance ("" for every
// instance), in order.
func (f *Fake) FaultMessages(id string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, ft := range f.faults {
		if id == "" || ft.InstanceUUID == id {
			out = append(out, ft.Message)
		}
	}
	return out
}

// Events returns the instance action events recorded for the instance ("" for every
// instance) as ActionEvent.String gives them, in order.
func (f *Fake) Events(id string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, e := range f.events {
		if id == "" || e.InstanceUUID == id {
			out = append(out, e.String())
		}
	}
	return out
}

// Actions returns the instance actions the compute started itself (power sync's stop), in
// order.
func (f *Fake) Actions() []Action {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.actions)
}

// --- the object API ---

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

func instanceNotFound(id string) error {
	return &rpc.RemoteError{Class: "InstanceNotFound", Module: "nova.exception", Message: "Instance " + id + " could not be found."}
}

func cloneOrNil(o *ovo.Object) *ovo.Object {
	if o == nil {
		return nil
	}
	return o.Clone()
}

// roundTrip sends args and kwargs through JSON, as the RPC layer would: what arrives is what
// nova-conductor would see (objects as primitives, numbers as json.Number). The caller's
// values are left alone.
func roundTrip(args *[]any, kwargs *map[string]any) error {
	decode := func(in, out any) error {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		return dec.Decode(out)
	}
	var a []any
	var kw map[string]any
	if err := decode(*args, &a); err != nil {
		return err
	}
	if err := decode(*kwargs, &kw); err != nil {
		return err
	}
	*args, *kwargs = a, kw
	return nil
}
