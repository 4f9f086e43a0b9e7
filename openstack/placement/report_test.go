package placement_test

import (
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/novalet/novalet/openstack/placement"
	"github.com/novalet/novalet/openstack/placement/placementtest"
)

func TestPlacementProviderInventoryTraits(t *testing.T) {
	f, sc := placementtest.New(t)
	p := placement.New(sc, slog.New(slog.DiscardHandler))
	ctx := t.Context()
	const uuid = "11111111-2222-3333-4444-555555555555"
	prov, err := p.EnsureProvider(ctx, uuid, "vm")
	if err != nil || prov.Generation != 0 {
		t.Fatalf("EnsureProvider = %+v, %v", prov, err)
	}
	inv := map[string]placement.Inventory{
		"VCPU":      {Total: 2, MinUnit: 1, MaxUnit: 2, StepSize: 1, AllocationRatio: 16},
		"MEMORY_MB": {Total: 24000, Reserved: 512, MinUnit: 1, MaxUnit: 24000, StepSize: 1, AllocationRatio: 1.5},
		"DISK_GB":   {Total: 0, MinUnit: 1, MaxUnit: 0, StepSize: 1, AllocationRatio: 1},
	}
	if err := p.SetInventory(ctx, uuid, inv); err != nil {
		t.Fatal(err)
	}
	st, _ := f.Provider(uuid)
	if got := st.Inventories; len(got) != 2 || got["VCPU"].AllocationRatio != 16 {
		t.Fatalf("inventory in placement: %+v (DISK_GB with total 0 must be left out)", got)
	}
	writes := f.Writes()
	// Nothing changed: no request that writes.
	if err := p.SetInventory(ctx, uuid, inv); err != nil || f.Writes() != writes {
		t.Fatalf("unchanged inventory wrote (%d -> %d): %v", writes, f.Writes(), err)
	}
	managed := func(tr string) bool { return strings.HasPrefix(tr, "COMPUTE_") }
	if err := p.SetTraits(ctx, uuid, []string{"COMPUTE_NODE", "COMPUTE_IMAGE_TYPE_QCOW2", "CUSTOM_NOVALET"}, managed); err != nil {
		t.Fatal(err)
	}
	// Someone else adds a trait and bumps the generation: the next write conflicts, the client
	// refreshes and retries, and keeps the foreign trait.
	f.Bump(uuid, "CUSTOM_OPERATOR_TAG")
	if err := p.SetTraits(ctx, uuid, []string{"COMPUTE_NODE", "COMPUTE_STATUS_DISABLED", "CUSTOM_NOVALET"}, managed); err != nil {
		t.Fatal(err)
	}
	st, _ = f.Provider(uuid)
	got := st.Traits
	slices.Sort(got)
	if !slices.Equal(got, []string{"COMPUTE_NODE", "COMPUTE_STATUS_DISABLED", "CUSTOM_NOVALET", "CUSTOM_OPERATOR_TAG"}) {
		t.Fatalf("traits after conflict: %v", got)
	}
	// A second EnsureProvider finds the same provider: no duplicate.
	if _, err := p.EnsureProvider(ctx, uuid, "vm"); err != nil || f.Providers() != 1 {
		t.Fatalf("second ensure: %v, %d providers", err, f.Providers())
	}
	// Another uuid with the same name is a hard error, not a silent duplicate.
	if _, err := p.EnsureProvider(ctx, "99999999-2222-3333-4444-555555555555", "vm"); err == nil {
		t.Fatal("name conflict accepted")
	}
	if err := p.DeleteAllocations(ctx, "00000000-0000-0000-0000-000000000001"); err != nil {
		t.Fatalf("DeleteAllocations of an unknown consumer: %v", err)
	}
	const consumer = "00000000-0000-0000-0000-000000000002"
	f.Allocate(consumer, uuid, map[string]int{"VCPU": 1, "MEMORY_MB": 256})
	allocs, err := p.ProviderAllocations(ctx, uuid)
	if err != nil || len(allocs) != 1 || allocs[consumer]["MEMORY_MB"] != 256 {
		t.Fatalf("ProviderAllocations = %v, %v", allocs, err)
	}
	if err := p.DeleteAllocations(ctx, consumer); err != nil || f.HasAllocations(consumer) {
		t.Fatalf("DeleteAllocations: %v, still there: %v", err, f.HasAllocations(consumer))
	}
}
