package conductortest

import (
	"slices"

	"github.com/novalet/novalet/rpc/ovo"
)

// What the tests read back and set up: the records as the database holds them.

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
