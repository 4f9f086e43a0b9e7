package conductortest

import (
	"encoding/json"
	"fmt"

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
	next.ObjResetChangesRecursive()
	f.migs.rows[id] = next
	f.saves["Migration"]++
	u, _ := ovo.Value[string](next, "uuid")
	st, _ := ovo.Value[string](next, "status")
	f.migs.statuses[u] = append(f.migs.statuses[u], st)
	return map[string]json.RawMessage{}, nil
}
