package agent

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/novalet/novalet/openstack/placement"
	"github.com/novalet/novalet/openstack/placement/placementtest"
	"github.com/novalet/novalet/rpc/ovo"
)

func TestResourcePassRemovesAllocationsOfDeletedInstances(t *testing.T) {
	row := func(id string, deleted bool) *ovo.Object {
		o, _ := ovo.New("Instance")
		_ = o.Set("uuid", id)
		_ = o.Set("deleted", deleted)
		_ = o.Set("hidden", false)
		_ = o.Set("host", "cmp1")
		return o
	}
	const (
		deleted   = "11111111-0000-4000-8000-000000000001" // its delete could not reach Placement
		unknown   = "11111111-0000-4000-8000-000000000002" // the scheduler just claimed for it
		elsewhere = "11111111-0000-4000-8000-000000000003" // alive, not on this node
	)
	// The conductor fake answers Instance.get_by_uuid as nova's database does: a soft-deleted
	// row only for a context that reads deleted rows, InstanceNotFound otherwise.
	fc := newFakeConductor()
	fc.PutInstance(row(deleted, true))
	fc.PutInstance(row(elsewhere, false))
	fp, sc := placementtest.New(t)
	a := testAgent(t, fc, t.TempDir(), placement.New(sc, discardLogger()))
	if err := a.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{deleted, unknown, elsewhere} {
		fp.Allocate(id, a.NodeUUID(), map[string]int{"VCPU": 1, "MEMORY_MB": 256})
	}
	if err := a.updateResources(t.Context()); err != nil {
		t.Fatal(err)
	}
	if fp.HasAllocations(deleted) {
		t.Error("the allocations of an instance the database marks deleted are still there")
	}
	if !fp.HasAllocations(unknown) || !fp.HasAllocations(elsewhere) {
		t.Error("allocations of an unknown or a live instance were removed")
	}
}

// TestPlacementErrorAtStartIsNotFatal: as nova's update_available_resource at start-up, a
// Placement that answers 500 leaves the node registered; the next pass retries.
func TestPlacementErrorAtStartIsNotFatal(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, `{"errors": [{"status": 500, "detail": "database gone"}]}`, 500)
	}))
	t.Cleanup(srv.Close)
	sc := &gophercloud.ServiceClient{ProviderClient: &gophercloud.ProviderClient{HTTPClient: *srv.Client()}, Endpoint: srv.URL + "/"}
	fc := newFakeConductor()
	a := testAgent(t, fc, t.TempDir(), placement.New(sc, discardLogger()))
	if err := a.Start(t.Context()); err != nil {
		t.Fatalf("Start with Placement failing: %v", err)
	}
	if a.NodeUUID() == "" || fc.Service("cmp1") == nil {
		t.Fatal("node not registered")
	}
	if err := a.updateResources(t.Context()); !errors.Is(err, errPlacementSync) {
		t.Fatalf("a later pass: %v, want the placement error", err)
	}
}
