package conductortest

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/novalet/novalet/rpc"
	"github.com/novalet/novalet/rpc/ovo"
)

// migrations is the fake's migrations table: rows by id, and the status each save left.
type migrations struct {
	rows     map[int64]*ovo.Object
	statuses map[string][]string // by migration uuid
}

// PutMigration stores a Migration row as the conductor's MigrationTask creates it (id and
// uuid set, status pre-migrating).
func (f *Fake) PutMigration(m *ovo.Object) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.migs.rows == nil {
		f.migs = migrations{rows: map[int64]*ovo.Object{}, statuses: map[string][]string{}}
	}
	id, _ := ovo.Value[int64](m, "id")
	c := m.Clone()
	c.ObjResetChangesRecursive()
	f.migs.rows[id] = c
}

// Migration returns a copy of the stored row with that uuid, nil if there is none.
func (f *Fake) Migration(uuid string) *ovo.Object {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, m := range f.migs.rows {
		if u, _ := ovo.Value[string](m, "uuid"); u == uuid {
			return m.Clone()
		}
	}
	return nil
}

// MigrationStatuses lists the status after every Migration.save of that migration, in order.
func (f *Fake) MigrationStatuses(uuid string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.migs.statuses[uuid]...)
}

// saveMigration is nova's Migration.save: migration_update by id with the changed fields
// (id itself never written); MigrationNotFound for an unknown id. Called with f.mu held.
func (f *Fake) saveMigration(obj *ovo.Object) (map[string]json.RawMessage, error) {
	id, _ := ovo.Value[int64](obj, "id")
	stored := f.migs.rows[id]
	if stored == nil {
		return nil, &rpc.RemoteError{Class: "MigrationNotFound", Module: "nova.exception",
			Message: fmt.Sprintf("Migration %d could not be found.", id)}
	}
	next := stored.Clone()
	for _, k := range obj.ObjWhatChanged() {
		if k == "id" {
			continue
		}
		v, _ := obj.Get(k)
		if err := next.Set(k, v); err != nil {
			return nil, err
		}
	}
	// the migrations table's updated_at, which SQLAlchemy stamps on every update
	if err := next.Set("updated_at", time.Now().UTC().Truncate(time.Second)); err != nil {
		return nil, err
	}
	next.ObjResetChangesRecursive()
	f.migs.rows[id] = next
	f.saves["Migration"]++
	u, _ := ovo.Value[string](next, "uuid")
	st, _ := ovo.Value[string](next, "status")
	f.migs.statuses[u] = append(f.migs.statuses[u], st)
	return map[string]json.RawMessage{}, nil
}

// PutService stores a host's nova-compute Service record as another node's Service.create
// would have (a move's other end, which the test does not start).
func (f *Fake) PutService(s *ovo.Object) {
	f.mu.Lock()
	defer f.mu.Unlock()
	host, _ := ovo.Value[string](s, "host")
	c := s.Clone()
	c.ObjResetChangesRecursive()
	f.services[host] = c
}

// SetLastSeenUp sets the last_seen_up of the host's Service record (its last heartbeat, as
// the servicegroup's db driver reads it).
func (f *Fake) SetLastSeenUp(host string, t time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.services[host]
	if s == nil {
		return fmt.Errorf("conductortest: no service on %s", host)
	}
	return s.Set("last_seen_up", t.UTC())
}

// moveClassAction answers the class calls about migrations and the services they move
// between; ok is false for any other call. Called with f.mu held.
func (f *Fake) moveClassAction(call string, args []any) (raw json.RawMessage, ok bool, err error) {
	switch call {
	case "MigrationList.get_unconfirmed_by_dest_compute":
		// nova's migration_get_unconfirmed_by_dest_compute: status finished, updated_at at
		// least confirm_window seconds ago, dest_compute the host; by id here.
		if len(args) < 2 {
			return nil, true, fmt.Errorf("conductortest: %s wants confirm_window and dest_compute", call)
		}
		n, _ := args[0].(json.Number)
		window, err := n.Int64()
		if err != nil {
			return nil, true, fmt.Errorf("conductortest: %s: confirm_window %v: %w", call, args[0], err)
		}
		host, _ := args[1].(string)
		limit := time.Now().UTC().Add(-time.Duration(window) * time.Second)
		ids := make([]int64, 0, len(f.migs.rows))
		for id := range f.migs.rows {
			ids = append(ids, id)
		}
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
		objs := []*ovo.Object{}
		for _, id := range ids {
			m := f.migs.rows[id]
			st, _ := ovo.Value[string](m, "status")
			dest, _ := ovo.Value[string](m, "dest_compute")
			at, set := ovo.Value[time.Time](m, "updated_at")
			if st == "finished" && dest == host && set && !at.After(limit) {
				objs = append(objs, m.Clone())
			}
		}
		l, err := ovo.New("MigrationList")
		if err == nil {
			err = l.Set("objects", objs)
		}
		if err != nil {
			return nil, true, err
		}
		raw, err := json.Marshal(l)
		return raw, true, err
	case "Service.get_by_compute_host":
		host, _ := args[0].(string)
		if s := f.services[host]; s != nil {
			raw, err := json.Marshal(s)
			return raw, true, err
		}
		return nil, true, &rpc.RemoteError{Class: "ComputeHostNotFound", Module: "nova.exception",
			Message: fmt.Sprintf("Compute host %s could not be found.", host)}
	}
	return nil, false, nil
}
