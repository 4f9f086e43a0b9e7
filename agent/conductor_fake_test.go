package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/novalet/novalet/rpc"
	"github.com/novalet/novalet/rpc/ovo"
)

// fakeConductor keeps Service and ComputeNode records the way nova-conductor's object API
// does for a compute node: get_by_* class actions (null or ComputeHostNotFound when missing),
// create (assigns id, fills defaults), save (report_count, fields), and an empty instance list.
type fakeConductor struct {
	mu        sync.Mutex
	services  map[string]*ovo.Object // by host
	nodes     map[string]*ovo.Object // by host/node
	nextID    int64
	saves     map[string]int // by object name
	instances []*ovo.Object  // what InstanceList.get_by_host_and_node returns
	fail      error          // returned by every call while set
	// deletedNodes are soft-deleted ComputeNode rows by uuid (deleteService); a create with
	// one of their uuids revives the row as nova's compute_node_create does (bug 1839560),
	// keeping its mapped flag.
	deletedNodes map[string]*ovo.Object
	// onCall, when set, sees every call's "Object.method" before it is answered.
	onCall func(call string)
}

// deleteService does what `openstack compute service delete` does to the records: the
// service and its compute nodes are soft-deleted (the rows keep their uuid and mapped flag).
func (f *fakeConductor) deleteService(host string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.services, host)
	if f.deletedNodes == nil {
		f.deletedNodes = map[string]*ovo.Object{}
	}
	for k, cn := range f.nodes {
		if h, _ := ovo.Value[string](cn, "host"); h == host {
			id, _ := ovo.Value[string](cn, "uuid")
			f.deletedNodes[id] = cn
			delete(f.nodes, k)
		}
	}
}

func newFakeConductor() *fakeConductor {
	return &fakeConductor{services: map[string]*ovo.Object{}, nodes: map[string]*ovo.Object{}, saves: map[string]int{}}
}

func (f *fakeConductor) ObjectClassActionVersions(_ context.Context, _ rpc.Context, objname, objmethod string, _ map[string]string, args []any, _ map[string]any) (json.RawMessage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.onCall != nil {
		f.onCall(objname + "." + objmethod)
	}
	if f.fail != nil {
		return nil, f.fail
	}
	switch objname + "." + objmethod {
	case "Service.get_by_host_and_binary":
		if s := f.services[args[0].(string)]; s != nil {
			return json.Marshal(s)
		}
		return json.RawMessage("null"), nil
	case "ComputeNode.get_by_host_and_nodename":
		if cn := f.nodes[args[0].(string)+"/"+args[1].(string)]; cn != nil {
			return json.Marshal(cn)
		}
		return nil, &rpc.RemoteError{Class: "ComputeHostNotFound", Module: "nova.exception", Message: "Compute host not found"}
	case "InstanceList.get_by_host_and_node", "InstanceList.get_by_host":
		l, _ := ovo.New("InstanceList")
		objs := []any{}
		for _, i := range f.instances {
			objs = append(objs, i)
		}
		if err := l.Set("objects", objs); err != nil {
			return nil, err
		}
		return json.Marshal(l)
	}
	return nil, &rpc.RemoteError{Class: "NoSuchMethod", Message: objname + "." + objmethod}
}

func (f *fakeConductor) ObjectAction(_ context.Context, _ rpc.Context, objinst json.RawMessage, objmethod string, _ []any, _ map[string]any) (map[string]json.RawMessage, json.RawMessage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	obj, err := ovo.Decode(objinst)
	if err != nil {
		return nil, nil, err
	}
	if f.onCall != nil {
		f.onCall(obj.Name() + "." + objmethod)
	}
	if f.fail != nil {
		return nil, nil, f.fail
	}
	before := obj.Clone()
	key := func() string {
		h, _ := ovo.Value[string](obj, "host")
		if obj.Name() == "ComputeNode" {
			n, _ := ovo.Value[string](obj, "hypervisor_hostname")
			return h + "/" + n
		}
		return h
	}
	store := f.services
	if obj.Name() == "ComputeNode" {
		store = f.nodes
	}
	switch objmethod {
	case "create":
		if store[key()] != nil {
			return nil, nil, &rpc.RemoteError{Class: "ServiceBinaryExists", Message: "exists"}
		}
		id, _ := ovo.Value[string](obj, "uuid")
		if old := f.deletedNodes[id]; obj.Name() == "ComputeNode" && old != nil {
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
			return nil, nil, err
		}
		if obj.Name() == "Service" {
			_ = obj.Set("disabled", false)
			_ = obj.Set("uuid", fmt.Sprintf("00000000-0000-4000-8000-%012d", f.nextID))
		}
	case "save":
		stored := store[key()]
		if stored == nil {
			return nil, nil, &rpc.RemoteError{Class: "ServiceNotFound", Message: "gone"}
		}
		merged := stored.Clone()
		for _, k := range obj.ObjWhatChanged() {
			v, _ := obj.Get(k)
			_ = merged.Set(k, v)
		}
		obj = merged
		f.saves[obj.Name()]++
	default:
		return nil, nil, &rpc.RemoteError{Class: "NoSuchMethod", Message: objmethod}
	}
	obj.ObjResetChanges()
	store[key()] = obj.Clone()
	updates := map[string]json.RawMessage{}
	for _, k := range obj.Fields() {
		if !sameField(before, obj, k) {
			v, _ := obj.Get(k)
			b, err := json.Marshal(wire(v))
			if err != nil {
				return nil, nil, err
			}
			updates[k] = b
		}
	}
	updates["obj_what_changed"] = json.RawMessage("[]")
	return updates, json.RawMessage("null"), nil
}
