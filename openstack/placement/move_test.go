package placement_test

import (
	"log/slog"
	"maps"
	"testing"

	"github.com/novalet/novalet/openstack/placement"
	"github.com/novalet/novalet/openstack/placement/placementtest"
)

// A resize's allocations go to the migration consumer and back, as nova's move_allocations
// moves them: one POST /allocations at 1.28 with both consumers' generations.
func TestMoveAllocations(t *testing.T) {
	f, sc := placementtest.New(t)
	p := placement.New(sc, slog.New(slog.DiscardHandler))
	ctx := t.Context()
	const rp, inst, mig = "11111111-2222-3333-4444-555555555555", "aaaaaaaa-2222-3333-4444-555555555555", "bbbbbbbb-2222-3333-4444-555555555555"
	if _, err := p.EnsureProvider(ctx, rp, "vm"); err != nil {
		t.Fatal(err)
	}
	old := map[string]int{"VCPU": 1, "MEMORY_MB": 256}
	f.Allocate(inst, rp, old)
	moved, err := p.MoveAllocations(ctx, inst, mig)
	if err != nil || !moved {
		t.Fatalf("MoveAllocations = %v, %v", moved, err)
	}
	if f.HasAllocations(inst) || !maps.Equal(f.Allocations(mig), old) {
		t.Fatalf("after the move: instance %v, migration %v", f.Allocations(inst), f.Allocations(mig))
	}
	// The scheduler claims the new flavor for the instance; a revert overwrites it.
	f.Allocate(inst, rp, map[string]int{"VCPU": 2, "MEMORY_MB": 512})
	if moved, err := p.MoveAllocations(ctx, mig, inst); err != nil || !moved {
		t.Fatalf("move back = %v, %v", moved, err)
	}
	if f.HasAllocations(mig) || !maps.Equal(f.Allocations(inst), old) {
		t.Fatalf("after the move back: instance %v, migration %v", f.Allocations(inst), f.Allocations(mig))
	}
	// Nothing to move is no error.
	if moved, err := p.MoveAllocations(ctx, mig, inst); err != nil || moved {
		t.Fatalf("empty move = %v, %v", moved, err)
	}
	if got, err := p.ConsumerAllocations(ctx, inst); err != nil || !maps.Equal(got[rp], old) {
		t.Fatalf("ConsumerAllocations = %v, %v", got, err)
	}
	// A confirm empties the migration's allocations at its generation.
	f.Allocate(mig, rp, old)
	if err := p.EmptyAllocations(ctx, mig); err != nil || f.HasAllocations(mig) {
		t.Fatalf("EmptyAllocations = %v, left %v", err, f.Allocations(mig))
	}
	if err := p.EmptyAllocations(ctx, mig); err != nil {
		t.Fatalf("EmptyAllocations of nothing = %v", err)
	}
}
