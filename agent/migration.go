package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/novalet/novalet/rpc"
	"github.com/novalet/novalet/rpc/ovo"
)

// migration wraps the Migration object a move operation carries (nova/objects/migration.py).
type migration struct {
	obj *ovo.Object
}

func decodeMigration(raw json.RawMessage) (*migration, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, errors.New("migration: missing")
	}
	obj, err := ovo.Decode(raw)
	if err != nil {
		return nil, fmt.Errorf("migration: %w", err)
	}
	if obj.Name() != "Migration" {
		return nil, fmt.Errorf("migration: got a %s object", obj.Name())
	}
	m := &migration{obj: obj}
	if !isUUID(m.uuid()) {
		return nil, fmt.Errorf("migration: uuid %q is not a UUID", m.uuid())
	}
	return m, nil
}

func (m *migration) uuid() string { return m.str("uuid") }

func (m *migration) id() int64 { n, _ := ovo.Value[int64](m.obj, "id"); return n }

func (m *migration) str(field string) string { s, _ := ovo.Value[string](m.obj, field); return s }

// saveMigration is nova's migration.save() through the conductor.
func (a *Agent) saveMigration(ctx context.Context, rc rpc.Context, m *migration, fields map[string]any) error {
	if err := set(m.obj, fields); err != nil {
		return err
	}
	if _, err := a.svc.objs.action(ctx, rc, m.obj, "save", nil, nil); err != nil {
		return fmt.Errorf("migration %s save: %w", m.uuid(), err)
	}
	m.obj.ObjResetChangesRecursive()
	return nil
}

// errorOutMigration is nova's errors_out_migration decorator: a failed move operation leaves
// its migration in status error.
func (a *Agent) errorOutMigration(ctx context.Context, rc rpc.Context, m *migration, log *slog.Logger) {
	if err := a.saveMigration(ctx, rc, m, map[string]any{"status": "error"}); err != nil {
		log.Error("migration not set to error", "migration_uuid", m.uuid(), "error", err)
	}
}

// revertAllocation is nova's _revert_allocation: what the migration consumer holds (the old
// flavor's allocation) goes back to the instance, overwriting the new flavor's claim.
func (a *Agent) revertAllocation(ctx context.Context, inst *instance, m *migration, log *slog.Logger) error {
	p := a.rt.reportClient()
	if p == nil {
		return errors.New("placement client not available")
	}
	moved, err := p.MoveAllocations(ctx, m.uuid(), inst.uuid())
	if err != nil {
		return fmt.Errorf("revert allocations of migration %s: %w", m.uuid(), err)
	}
	if moved {
		log.Info("allocations of the migration moved back to the instance", "migration_uuid", m.uuid())
	}
	return nil
}

// newMigrationContext is the MigrationContext the resource tracker's move claim records on
// the instance: which migration, and the instance's NUMA topology, PCI devices and resources
// before and after (none of which novalet offers, so all empty).
func newMigrationContext(inst *instance, m *migration) (*ovo.Object, error) {
	mc, err := ovo.New("MigrationContext")
	if err != nil {
		return nil, err
	}
	fields := map[string]any{"instance_uuid": inst.uuid(), "migration_id": m.id()}
	for _, f := range []string{"old_numa_topology", "new_numa_topology", "old_pci_devices", "new_pci_devices",
		"old_pci_requests", "new_pci_requests", "old_resources", "new_resources"} {
		fields[f] = nil
	}
	if err := set(mc, fields); err != nil {
		return nil, err
	}
	return mc, nil
}

// flavorFields are the instance fields nova's _set_instance_info writes from a flavor.
func flavorFields(f *ovo.Object) map[string]any {
	get := func(k string) int64 { n, _ := ovo.Value[int64](f, k); return n }
	return map[string]any{"flavor": f, "instance_type_id": get("id"), "memory_mb": get("memory_mb"),
		"vcpus": get("vcpus"), "root_gb": get("root_gb"), "ephemeral_gb": get("ephemeral_gb")}
}

// flavorObject reads one of the instance's Flavor fields (flavor, old_flavor, new_flavor).
func (i *instance) flavorObject(field string) *ovo.Object {
	f, _ := ovo.Value[*ovo.Object](i.obj, field)
	return f
}

// deleteAllocationAfterMove is nova's _delete_allocation_after_move: the migration consumer's
// allocations (the old flavor's, on the source) go, read and emptied at its generation.
func (a *Agent) deleteAllocationAfterMove(ctx context.Context, m *migration) error {
	p := a.rt.reportClient()
	if p == nil {
		return errors.New("placement client not available")
	}
	return p.EmptyAllocations(ctx, m.uuid())
}
