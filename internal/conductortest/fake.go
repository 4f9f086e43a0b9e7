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
	"encoding/json"
	"sync"

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
