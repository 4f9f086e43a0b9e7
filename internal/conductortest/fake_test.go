package conductortest

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/novalet/novalet/rpc"
	"github.com/novalet/novalet/rpc/ovo"
)

func newObj(t *testing.T, name string, fields map[string]any) *ovo.Object {
	t.Helper()
	o, err := ovo.New(name)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range fields {
		if err := o.Set(k, v); err != nil {
			t.Fatalf("%s.%s: %v", name, k, err)
		}
	}
	return o
}

func action(t *testing.T, f *Fake, obj *ovo.Object, method string, kwargs map[string]any) (map[string]json.RawMessage, error) {
	t.Helper()
	raw, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	updates, _, err := f.ObjectAction(t.Context(), rpc.Context{}, raw, method, nil, kwargs)
	return updates, err
}

func classAction(t *testing.T, f *Fake, objname, method string, args ...any) (json.RawMessage, error) {
	t.Helper()
	return f.ObjectClassActionVersions(t.Context(), rpc.Context{}, objname, method, nil, args, nil)
}

func remoteClass(err error) string {
	var re *rpc.RemoteError
	if errors.As(err, &re) {
		return re.Class
	}
	return ""
}

func TestServiceAndComputeNodeRecords(t *testing.T) {
	f := New()
	if raw, err := classAction(t, f, "Service", "get_by_host_and_binary", "cmp1", "nova-compute"); err != nil || string(raw) != "null" {
		t.Fatalf("missing service: %s, %v", raw, err)
	}
	svc := newObj(t, "Service", map[string]any{"host": "cmp1", "binary": "nova-compute", "topic": "compute"})
	updates, err := action(t, f, svc, "create", nil)
	if err != nil || updates["id"] == nil || updates["uuid"] == nil || string(updates["disabled"]) != "false" {
		t.Fatalf("create: %v, updates %v", err, updates)
	}
	if _, err := action(t, f, svc, "create", nil); remoteClass(err) != "ServiceBinaryExists" {
		t.Fatalf("second create: %v", err)
	}
	stored := f.Service("cmp1")
	if err := stored.Set("report_count", int64(3)); err != nil {
		t.Fatal(err)
	}
	updates, err = action(t, f, stored, "save", nil)
	if err != nil || f.Saves("Service") != 1 {
		t.Fatalf("save: %v, %d saves", err, f.Saves("Service"))
	}
	if _, ok := updates["report_count"]; ok {
		t.Errorf("save sent back a field the caller already has: %v", updates)
	}
	if n, _ := ovo.Value[int64](f.Service("cmp1"), "report_count"); n != 3 || f.Services() != 1 {
		t.Errorf("report_count %d, %d services", n, f.Services())
	}

	if _, err := classAction(t, f, "ComputeNode", "get_by_host_and_nodename", "cmp1", "n1"); remoteClass(err) != "ComputeHostNotFound" {
		t.Fatalf("missing node: %v", err)
	}
	const nodeUUID = "11111111-2222-4333-8444-555555555555"
	cn := newObj(t, "ComputeNode", map[string]any{"uuid": nodeUUID, "host": "cmp1", "hypervisor_hostname": "n1"})
	if _, err := action(t, f, cn, "create", nil); err != nil {
		t.Fatal(err)
	}
	id, _ := ovo.Value[int64](f.ComputeNode("cmp1", "n1"), "id")
	f.DiscoverHosts()
	f.DeleteService("cmp1")
	if f.Service("cmp1") != nil || len(f.ComputeNodes()) != 0 {
		t.Fatalf("after service delete: %v %v", f.Service("cmp1"), f.ComputeNodes())
	}
	// A create with the soft-deleted row's uuid revives it, mapped flag and all.
	if _, err := action(t, f, cn, "create", nil); err != nil {
		t.Fatal(err)
	}
	revived := f.ComputeNode("cmp1", "n1")
	if m, _ := ovo.Value[int64](revived, "mapped"); m != 1 {
		t.Errorf("revived node mapped = %d, want the old row's 1", m)
	}
	if rid, _ := ovo.Value[int64](revived, "id"); rid != id {
		t.Errorf("revived node id %d, want the old row's %d", rid, id)
	}
	// A node saved after it is gone.
	f.DeleteService("cmp1")
	if _, err := action(t, f, revived, "save", nil); remoteClass(err) != "ComputeHostNotFound" {
		t.Errorf("save of a deleted node: %v", err)
	}
}

func TestInstanceSaveChecksExpectedTaskState(t *testing.T) {
	f := New()
	const id = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
	inst := newObj(t, "Instance", map[string]any{"uuid": id, "vm_state": "building", "task_state": "scheduling"})
	f.PutInstance(inst)

	save := func(fields map[string]any, expected any) error {
		t.Helper()
		o := f.Instance(id)
		if o == nil {
			o = inst.Clone()
		}
		for k, v := range fields {
			if err := o.Set(k, v); err != nil {
				t.Fatal(err)
			}
		}
		kw := map[string]any{}
		if expected != nil {
			kw["expected_task_state"] = expected
		}
		_, err := action(t, f, o, "save", kw)
		return err
	}
	if err := save(map[string]any{"task_state": "spawning"}, []any{"networking"}); remoteClass(err) != "UnexpectedTaskStateError" {
		t.Fatalf("save with the wrong expected state: %v", err)
	}
	if task, _ := ovo.Value[string](f.Instance(id), "task_state"); task != "scheduling" {
		t.Fatalf("a refused save wrote task_state %q", task)
	}
	if err := save(map[string]any{"task_state": nil}, []any{"scheduling", nil}); err != nil {
		t.Fatal(err)
	}
	// None is expected: matches the cleared task state; a single state is accepted as well.
	if err := save(map[string]any{"task_state": "spawning"}, []any{nil}); err != nil {
		t.Fatal(err)
	}
	if err := save(map[string]any{"vm_state": "active", "task_state": nil}, "spawning"); err != nil {
		t.Fatal(err)
	}
	saves := f.InstanceSaves()
	if len(saves) != 3 || saves[2].VMState != "active" || saves[2].TaskState != "" || saves[0].Expected != "[scheduling <nil>]" {
		t.Fatalf("saves %+v", saves)
	}
	// The user deletes: an operation's save finds "deleting".
	deleting := f.Instance(id)
	_ = deleting.Set("task_state", "deleting")
	f.PutInstance(deleting)
	if err := save(map[string]any{"task_state": "powering-off"}, []any{nil}); remoteClass(err) != "UnexpectedDeletingTaskStateError" {
		t.Fatalf("save over a delete: %v", err)
	}
	if _, err := action(t, f, f.Instance(id), "destroy", nil); err != nil {
		t.Fatal(err)
	}
	if f.Instance(id) != nil || !slices.Equal(f.Destroyed(), []string{id}) {
		t.Fatalf("destroyed %v", f.Destroyed())
	}
	if err := save(map[string]any{"task_state": nil}, nil); remoteClass(err) != "InstanceNotFound" {
		t.Errorf("save of a destroyed instance: %v", err)
	}
	if _, err := classAction(t, f, "Instance", "get_by_uuid", id); remoteClass(err) != "InstanceNotFound" {
		t.Errorf("get_by_uuid of a destroyed instance: %v", err)
	}
	// The row is soft-deleted: a context reading deleted rows still finds it.
	for _, mode := range []string{"yes", "only"} {
		raw, err := f.ObjectClassActionVersions(t.Context(), rpc.Context{"read_deleted": mode}, "Instance", "get_by_uuid", nil, []any{id}, nil)
		if err != nil {
			t.Fatalf("get_by_uuid read_deleted=%s: %v", mode, err)
		}
		row, err := ovo.Decode(raw)
		if deleted, _ := ovo.Value[bool](row, "deleted"); err != nil || !deleted {
			t.Errorf("read_deleted=%s: deleted = %v (%v)", mode, deleted, err)
		}
	}
	if len(f.Instances()) != 0 {
		t.Errorf("instances %v after the destroy", f.Instances())
	}
	if _, err := action(t, f, inst, "destroy", nil); remoteClass(err) != "InstanceNotFound" {
		t.Errorf("second destroy: %v", err)
	}
}

func TestInstanceListsFilterByHostAndNode(t *testing.T) {
	f := New()
	ids := []string{"00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002", "00000000-0000-4000-8000-000000000003"}
	for i, where := range [][2]string{{"cmp1", "n1"}, {"cmp2", "n2"}, {"cmp1", "n9"}} {
		f.PutInstance(newObj(t, "Instance", map[string]any{"uuid": ids[i], "host": where[0], "node": where[1], "vm_state": "active"}))
	}
	ic := newObj(t, "InstanceInfoCache", map[string]any{"instance_uuid": ids[0], "network_info": `[{"id": "p1"}]`})
	if _, err := action(t, f, ic, "save", nil); err != nil {
		t.Fatal(err)
	}
	list := func(method string, args ...any) []string {
		t.Helper()
		raw, err := classAction(t, f, "InstanceList", method, args...)
		if err != nil {
			t.Fatal(err)
		}
		l, err := ovo.Decode(raw)
		if err != nil {
			t.Fatal(err)
		}
		objs, _ := ovo.Value[[]*ovo.Object](l, "objects")
		var out []string
		for _, o := range objs {
			id, _ := ovo.Value[string](o, "uuid")
			out = append(out, id)
			if id == ids[0] {
				ic, _ := ovo.Value[*ovo.Object](o, "info_cache")
				if ni, _ := ovo.Value[string](ic, "network_info"); ni != `[{"id": "p1"}]` {
					t.Errorf("%s: info cache %q", method, ni)
				}
			}
		}
		return out
	}
	if got := list("get_by_host", "cmp1"); !slices.Equal(got, []string{ids[0], ids[2]}) {
		t.Errorf("get_by_host(cmp1) = %v", got)
	}
	if got := list("get_by_host_and_node", "cmp1", "n1"); !slices.Equal(got, []string{ids[0]}) {
		t.Errorf("get_by_host_and_node(cmp1, n1) = %v", got)
	}
	if got := f.InstancesOnHost("cmp2"); !slices.Equal(got, []string{ids[1]}) {
		t.Errorf("InstancesOnHost(cmp2) = %v", got)
	}
	if f.InfoCache(ids[0]) != `[{"id": "p1"}]` || f.InfoCache(ids[1]) != "" {
		t.Errorf("info caches %q %q", f.InfoCache(ids[0]), f.InfoCache(ids[1]))
	}
	missing := newObj(t, "InstanceInfoCache", map[string]any{"instance_uuid": "00000000-0000-4000-8000-00000000000f", "network_info": "[]"})
	if _, err := action(t, f, missing, "save", nil); remoteClass(err) != "InstanceInfoCacheNotFound" {
		t.Errorf("info cache of no instance: %v", err)
	}
}

func TestEventsFaultsHooksAndFailures(t *testing.T) {
	f := New()
	const id = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
	var calls []string
	f.OnCall(func(c string) { calls = append(calls, c); _ = f.Services() }) // the hook may use the fake
	if _, err := f.ObjectClassActionVersions(t.Context(), rpc.Context{}, "InstanceActionEvent", "event_start", nil, []any{id, "compute_x"}, map[string]any{"want_result": false}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.ObjectClassActionVersions(t.Context(), rpc.Context{}, "InstanceActionEvent", "event_finish_with_failure", nil, []any{id, "compute_x"}, map[string]any{"exc_val": "boom", "exc_tb": "tb"}); err != nil {
		t.Fatal(err)
	}
	if got := f.Events(id); !slices.Equal(got, []string{"start compute_x", "finish compute_x error"}) {
		t.Errorf("events %v", got)
	}
	if _, err := action(t, f, newObj(t, "InstanceFault", map[string]any{"instance_uuid": id, "code": int64(500), "message": "it broke", "host": "cmp1"}), "create", nil); err != nil {
		t.Fatal(err)
	}
	if got := f.FaultMessages(id); !slices.Equal(got, []string{"it broke"}) || f.Faults()[0].Code != 500 {
		t.Errorf("faults %+v", f.Faults())
	}
	if !slices.Equal(calls, []string{"InstanceActionEvent.event_start", "InstanceActionEvent.event_finish_with_failure", "InstanceFault.create"}) {
		t.Errorf("calls %v", calls)
	}
	f.SetFail(rpc.ErrTimeout)
	if _, err := classAction(t, f, "Service", "get_by_host_and_binary", "cmp1", "nova-compute"); !errors.Is(err, rpc.ErrTimeout) {
		t.Errorf("failing conductor: %v", err)
	}
	f.SetFail(nil)
	f.FailCall("Service.get_by_host_and_binary", rpc.ErrTimeout)
	if _, err := classAction(t, f, "Service", "get_by_host_and_binary", "cmp1", "nova-compute"); !errors.Is(err, rpc.ErrTimeout) {
		t.Errorf("failing call: %v", err)
	}
	if _, err := classAction(t, f, "ComputeNode", "get_by_host_and_nodename", "cmp1", "n1"); remoteClass(err) != "ComputeHostNotFound" {
		t.Errorf("another call while one fails: %v", err)
	}
	f.FailCall("Service.get_by_host_and_binary", nil)
	if _, err := classAction(t, f, "Service", "get_by_host_and_binary", "cmp1", "nova-compute"); err != nil {
		t.Errorf("after FailCall(nil): %v", err)
	}
	if _, err := classAction(t, f, "Service", "no_such_method"); remoteClass(err) != "NoSuchMethod" {
		t.Errorf("unknown method: %v", err)
	}
	// Arguments that could not travel over RPC fail as they would.
	if _, err := f.ObjectClassActionVersions(t.Context(), rpc.Context{}, "Instance", "get_by_uuid", nil, []any{func() {}}, nil); err == nil {
		t.Error("a function argument was accepted")
	}
}
