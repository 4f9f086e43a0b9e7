// Package placementtest is a Placement 8.0 test server: resource providers with generations,
// inventories and traits, a 409 placement.concurrent_update on a stale generation, and a check
// of the microversion of every call.
package placementtest

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/novalet/novalet/openstack/placement"
)

// Server keeps providers with generations and answers 409 placement.concurrent_update
// on a stale generation, as Placement 8.0 does. It checks the microversion of every call.
type Server struct {
	mu        sync.Mutex
	providers map[string]*fakeRP
	writes    int
	t         *testing.T
	// allocations by consumer: what the scheduler claimed (one provider each here).
	allocations map[string]allocation
}

type allocation struct {
	provider      string
	resources     map[string]int
	generation    int
	project, user string
}

type fakeRP struct {
	uuid, name  string
	generation  int
	inventories map[string]placement.Inventory
	traits      []string
}

// New starts a Server for the test's lifetime and returns a service client pointing at it.
func New(t *testing.T) (*Server, *gophercloud.ServiceClient) {
	f := &Server{providers: map[string]*fakeRP{}, allocations: map[string]allocation{}, t: t}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	sc := &gophercloud.ServiceClient{ProviderClient: &gophercloud.ProviderClient{HTTPClient: *srv.Client()}, Endpoint: srv.URL + "/"}
	return f, sc
}

// Bump simulates another writer (e.g. an operator adding a trait) changing the provider.
func (f *Server) Bump(uuid string, trait string) {
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

// ServeHTTP answers Placement's API.
func (f *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
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
	case len(parts) == 1 && parts[0] == "allocations" && r.Method == "POST":
		want("1.28")
		f.postAllocations(w, body)
	case len(parts) == 2 && parts[0] == "allocations" && r.Method == "PUT":
		want("1.28")
		f.postAllocations(w, map[string]json.RawMessage{parts[1]: mustMarshal(body)})
	case len(parts) == 2 && parts[0] == "allocations" && r.Method == "GET":
		want("1.28")
		a, ok := f.allocations[parts[1]]
		if !ok {
			json.NewEncoder(w).Encode(map[string]any{"allocations": map[string]any{}})
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"allocations": map[string]any{a.provider: map[string]any{
			"resources": a.resources, "generation": f.providers[a.provider].generationOrZero()}},
			"consumer_generation": a.generation, "project_id": a.project, "user_id": a.user})
	case r.Method == "POST" && len(parts) == 1 && parts[0] == "resource_providers":
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
		f.providers[uuid] = &fakeRP{uuid: uuid, name: name, inventories: map[string]placement.Inventory{}}
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
			inv := map[string]placement.Inventory{}
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
		if _, ok := f.allocations[parts[1]]; !ok {
			w.WriteHeader(404)
			return
		}
		delete(f.allocations, parts[1])
		w.WriteHeader(204)
	case r.Method == "GET" && len(parts) == 3 && parts[0] == "resource_providers" && parts[2] == "allocations":
		if mv != "" {
			want("1.0")
		}
		if f.providers[parts[1]] == nil {
			w.WriteHeader(404)
			return
		}
		out := map[string]any{}
		for consumer, a := range f.allocations {
			if a.provider == parts[1] {
				out[consumer] = map[string]any{"resources": a.resources}
			}
		}
		json.NewEncoder(w).Encode(map[string]any{"allocations": out, "resource_provider_generation": f.providers[parts[1]].generation})
	default:
		http.NotFound(w, r)
	}
}

// ProviderState is a copy of what the server holds for one provider.
type ProviderState struct {
	UUID, Name  string
	Generation  int
	Inventories map[string]placement.Inventory
	Traits      []string
}

// Provider returns a copy of the provider's state; ok is false for an unknown uuid.
func (f *Server) Provider(uuid string) (ProviderState, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rp := f.providers[uuid]
	if rp == nil {
		return ProviderState{}, false
	}
	return ProviderState{UUID: rp.uuid, Name: rp.name, Generation: rp.generation,
		Inventories: maps.Clone(rp.inventories), Traits: slices.Clone(rp.traits)}, true
}

func mustMarshal(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

func (rp *fakeRP) generationOrZero() int {
	if rp == nil {
		return 0
	}
	return rp.generation
}

// postAllocations is POST /allocations (1.28), and PUT /allocations/{consumer} for one
// consumer: every consumer's generation is checked first (null for a consumer without
// allocations), then each consumer's allocations are replaced, an empty set removing them.
func (f *Server) postAllocations(w http.ResponseWriter, body map[string]json.RawMessage) {
	type consumer struct {
		Allocations map[string]struct {
			Resources map[string]int `json:"resources"`
		} `json:"allocations"`
		ConsumerGeneration *int   `json:"consumer_generation"`
		ProjectID          string `json:"project_id"`
		UserID             string `json:"user_id"`
	}
	parsed := map[string]consumer{}
	for id, raw := range body {
		var c consumer
		if err := json.Unmarshal(raw, &c); err != nil {
			w.WriteHeader(400)
			return
		}
		cur, exists := f.allocations[id]
		if exists != (c.ConsumerGeneration != nil) || exists && cur.generation != *c.ConsumerGeneration {
			w.WriteHeader(409)
			fmt.Fprint(w, `{"errors": [{"status": 409, "code": "placement.concurrent_update", "detail": "consumer generation conflict"}]}`)
			return
		}
		if len(c.Allocations) > 1 {
			f.t.Errorf("POST /allocations: consumer %s on %d providers; this server holds one", id, len(c.Allocations))
		}
		parsed[id] = c
	}
	f.writes++
	for id, c := range parsed {
		if len(c.Allocations) == 0 {
			delete(f.allocations, id)
			continue
		}
		gen := 0
		if c.ConsumerGeneration != nil {
			gen = *c.ConsumerGeneration + 1
		}
		for rp, a := range c.Allocations {
			f.allocations[id] = allocation{provider: rp, resources: maps.Clone(a.Resources), generation: gen,
				project: c.ProjectID, user: c.UserID}
		}
	}
	w.WriteHeader(204)
}

// Allocations returns a copy of a consumer's resources; nil when it holds none.
func (f *Server) Allocations(consumer string) map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.allocations[consumer]
	if !ok {
		return nil
	}
	return maps.Clone(a.resources)
}

// Allocate records a consumer's allocation against a provider, as the scheduler's claim does.
func (f *Server) Allocate(consumer, provider string, resources map[string]int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.allocations[consumer] = allocation{provider: provider, resources: maps.Clone(resources)}
}

// HasAllocations says whether a consumer holds allocations.
func (f *Server) HasAllocations(consumer string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.allocations[consumer]
	return ok
}

// Providers is how many providers the server holds.
func (f *Server) Providers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.providers)
}

// Writes is how many writing requests (POST, PUT) the server received.
func (f *Server) Writes() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.writes
}
