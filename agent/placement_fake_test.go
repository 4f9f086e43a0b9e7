package agent

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
)

// fakePlacement keeps providers with generations and answers 409 placement.concurrent_update
// on a stale generation, as Placement 8.0 does. It checks the microversion of every call.
type fakePlacement struct {
	mu        sync.Mutex
	providers map[string]*fakeRP
	writes    int
	t         *testing.T
}

type fakeRP struct {
	uuid, name  string
	generation  int
	inventories map[string]Inventory
	traits      []string
}

func newFakePlacement(t *testing.T) (*fakePlacement, *gophercloud.ServiceClient) {
	f := &fakePlacement{providers: map[string]*fakeRP{}, t: t}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	sc := &gophercloud.ServiceClient{ProviderClient: &gophercloud.ProviderClient{HTTPClient: *srv.Client()}, Endpoint: srv.URL + "/"}
	return f, sc
}

// bump simulates another writer (e.g. an operator adding a trait) changing the provider.
func (f *fakePlacement) bump(uuid string, trait string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rp := f.providers[uuid]
	rp.traits = append(rp.traits, trait)
	rp.generation++
}

func conflict(w http.ResponseWriter) {
	w.WriteHeader(409)
	fmt.Fprint(w, `{"errors": [{"status": 409, "title": "Conflict", "code": "placement.concurrent_update", "detail": "resource provider generation conflict"}]}`)
}

func (f *fakePlacement) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	mv := r.Header.Get("OpenStack-API-Version")
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	w.Header().Set("Content-Type", "application/json")
	want := func(v string) {
		if mv != "placement "+v {
			f.t.Errorf("%s %s sent microversion %q, want %q", r.Method, r.URL.Path, mv, v)
		}
	}
	var body map[string]json.RawMessage
	if r.Body != nil {
		json.NewDecoder(r.Body).Decode(&body)
	}
	gen := func() int { var g int; json.Unmarshal(body["resource_provider_generation"], &g); return g }
	switch {
	case r.Method == "GET" && len(parts) == 1 && parts[0] == "resource_providers":
		want("1.14")
		var out []map[string]any
		if rp := f.providers[r.URL.Query().Get("in_tree")]; rp != nil {
			out = append(out, map[string]any{"uuid": rp.uuid, "name": rp.name, "generation": rp.generation})
		}
		json.NewEncoder(w).Encode(map[string]any{"resource_providers": out})
	case r.Method == "POST" && len(parts) == 1:
		want("1.20")
		f.writes++
		var uuid, name string
		json.Unmarshal(body["uuid"], &uuid)
		json.Unmarshal(body["name"], &name)
		for _, rp := range f.providers {
			if rp.name == name {
				w.WriteHeader(409)
				fmt.Fprintf(w, `{"errors": [{"status": 409, "code": "placement.duplicate_name", "detail": "Conflicting resource provider name: %s already exists."}]}`, name)
				return
			}
		}
		f.providers[uuid] = &fakeRP{uuid: uuid, name: name, inventories: map[string]Inventory{}}
		json.NewEncoder(w).Encode(map[string]any{"uuid": uuid, "name": name, "generation": 0})
	case len(parts) == 3 && parts[2] == "inventories":
		want("1.26")
		rp := f.providers[parts[1]]
		if r.Method == "PUT" {
			f.writes++
			if gen() != rp.generation {
				conflict(w)
				return
			}
			inv := map[string]Inventory{}
			json.Unmarshal(body["inventories"], &inv)
			rp.inventories = inv
			rp.generation++
		}
		json.NewEncoder(w).Encode(map[string]any{"resource_provider_generation": rp.generation, "inventories": rp.inventories})
	case len(parts) == 3 && parts[2] == "traits":
		want("1.6")
		rp := f.providers[parts[1]]
		if r.Method == "PUT" {
			f.writes++
			if gen() != rp.generation {
				conflict(w)
				return
			}
			var traits []string
			json.Unmarshal(body["traits"], &traits)
			rp.traits = traits
			rp.generation++
		}
		json.NewEncoder(w).Encode(map[string]any{"resource_provider_generation": rp.generation, "traits": rp.traits})
	case r.Method == "PUT" && len(parts) == 2 && parts[0] == "traits":
		want("1.6")
		w.WriteHeader(204)
	case r.Method == "DELETE" && len(parts) == 2 && parts[0] == "allocations":
		w.WriteHeader(404)
	default:
		http.NotFound(w, r)
	}
}

func TestPlacementProviderInventoryTraits(t *testing.T) {
	f, sc := newFakePlacement(t)
	p := NewPlacement(sc, discardLogger())
	ctx := t.Context()
	const uuid = "11111111-2222-3333-4444-555555555555"
	prov, err := p.EnsureProvider(ctx, uuid, "vm")
	if err != nil || prov.Generation != 0 {
		t.Fatalf("EnsureProvider = %+v, %v", prov, err)
	}
	inv := map[string]Inventory{
		"VCPU":      {Total: 2, MinUnit: 1, MaxUnit: 2, StepSize: 1, AllocationRatio: 16},
		"MEMORY_MB": {Total: 24000, Reserved: 512, MinUnit: 1, MaxUnit: 24000, StepSize: 1, AllocationRatio: 1.5},
		"DISK_GB":   {Total: 0, MinUnit: 1, MaxUnit: 0, StepSize: 1, AllocationRatio: 1},
	}
	if err := p.SetInventory(ctx, uuid, inv); err != nil {
		t.Fatal(err)
	}
	if got := f.providers[uuid].inventories; len(got) != 2 || got["VCPU"].AllocationRatio != 16 {
		t.Fatalf("inventory in placement: %+v (DISK_GB with total 0 must be left out)", got)
	}
	writes := f.writes
	// Nothing changed: no request that writes.
	if err := p.SetInventory(ctx, uuid, inv); err != nil || f.writes != writes {
		t.Fatalf("unchanged inventory wrote (%d -> %d): %v", writes, f.writes, err)
	}
	managed := func(tr string) bool { return strings.HasPrefix(tr, "COMPUTE_") }
	if err := p.SetTraits(ctx, uuid, []string{"COMPUTE_NODE", "COMPUTE_IMAGE_TYPE_QCOW2", "CUSTOM_NOVALET"}, managed); err != nil {
		t.Fatal(err)
	}
	// Someone else adds a trait and bumps the generation: the next write conflicts, the client
	// refreshes and retries, and keeps the foreign trait.
	f.bump(uuid, "CUSTOM_OPERATOR_TAG")
	if err := p.SetTraits(ctx, uuid, []string{"COMPUTE_NODE", "COMPUTE_STATUS_DISABLED", "CUSTOM_NOVALET"}, managed); err != nil {
		t.Fatal(err)
	}
	got := f.providers[uuid].traits
	slices.Sort(got)
	if !slices.Equal(got, []string{"COMPUTE_NODE", "COMPUTE_STATUS_DISABLED", "CUSTOM_NOVALET", "CUSTOM_OPERATOR_TAG"}) {
		t.Fatalf("traits after conflict: %v", got)
	}
	// A second EnsureProvider finds the same provider: no duplicate.
	if _, err := p.EnsureProvider(ctx, uuid, "vm"); err != nil || len(f.providers) != 1 {
		t.Fatalf("second ensure: %v, %d providers", err, len(f.providers))
	}
	// Another uuid with the same name is a hard error, not a silent duplicate.
	if _, err := p.EnsureProvider(ctx, "99999999-2222-3333-4444-555555555555", "vm"); err == nil {
		t.Fatal("name conflict accepted")
	}
	if err := p.DeleteAllocations(ctx, "00000000-0000-0000-0000-000000000001"); err != nil {
		t.Fatalf("DeleteAllocations of an unknown consumer: %v", err)
	}
}
