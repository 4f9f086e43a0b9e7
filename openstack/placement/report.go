// Package placement is the compute node's report client, as nova/scheduler/client/report.py
// is nova-compute's: the resource provider, its inventory and traits written at the
// microversions nova uses with generation-aware retries, allocations deleted for a consumer,
// and moved between an instance and its migration (move_allocations). placementtest holds a Placement
// test server.
package placement

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/gophercloud/gophercloud/v2"

	"github.com/novalet/novalet/openstack/keystone"
)

// Placement error classes.
var (
	ErrPlacementConflict = errors.New("placement generation conflict")
	ErrInventoryInUse    = errors.New("placement inventory in use")
	ErrPlacement         = errors.New("placement request failed")
)

// Inventory is one resource class of a provider, as Placement stores it.
type Inventory struct {
	Total           int     `json:"total"`
	Reserved        int     `json:"reserved"`
	MinUnit         int     `json:"min_unit"`
	MaxUnit         int     `json:"max_unit"`
	StepSize        int     `json:"step_size"`
	AllocationRatio float64 `json:"allocation_ratio"`
}

// Provider is what novalet knows of its resource provider; it is a cache of Placement's
// view, refreshed on any generation conflict.
type Provider struct {
	UUID        string
	Name        string
	Generation  int
	Inventories map[string]Inventory
	Traits      []string
}

// Client reports the compute node's provider, inventory and traits the way nova's report
// client does: the microversions nova uses, generation-aware writes, a refresh and retry on
// placement.concurrent_update, and no write when nothing changed.
type Client struct {
	sc  *gophercloud.ServiceClient
	log *slog.Logger

	mu    sync.Mutex
	cache map[string]*Provider

	// OnRequest, when set, is told the outcome of every request (for the metrics).
	OnRequest func(err error)

	// Writes counts PUT/POST requests sent, for tests and metrics.
	Writes int
}

// New wraps a service client whose Endpoint is Placement's root URL.
func New(sc *gophercloud.ServiceClient, log *slog.Logger) *Client {
	return &Client{sc: sc, log: log, cache: map[string]*Provider{}}
}

// maxConflictRetries is nova's: _update_to_placement is retried up to 4 times.
const maxConflictRetries = 4

type rpJSON struct {
	UUID       string `json:"uuid"`
	Name       string `json:"name"`
	Generation int    `json:"generation"`
}

// EnsureProvider finds the provider by uuid or creates it with that uuid and name.
func (p *Client) EnsureProvider(ctx context.Context, uuid, name string) (*Provider, error) {
	var list struct {
		ResourceProviders []rpJSON `json:"resource_providers"`
	}
	if err := p.do(ctx, http.MethodGet, "/resource_providers?in_tree="+uuid, "1.14", nil, &list, 200); err != nil {
		return nil, err
	}
	var rp *rpJSON
	for i := range list.ResourceProviders {
		if list.ResourceProviders[i].UUID == uuid {
			rp = &list.ResourceProviders[i]
		}
	}
	if rp == nil {
		var created rpJSON
		err := p.do(ctx, http.MethodPost, "/resource_providers", "1.20", map[string]string{"uuid": uuid, "name": name}, &created, 200)
		var perr *placementError
		switch {
		case err == nil:
			rp = &created
		case errors.As(err, &perr) && perr.status == 409 && !strings.Contains(perr.detail, "Conflicting resource provider name:"):
			// Created concurrently with the same uuid: read it.
			if err := p.do(ctx, http.MethodGet, "/resource_providers/"+uuid, "1.14", nil, &created, 200); err != nil {
				return nil, err
			}
			rp = &created
		default:
			return nil, fmt.Errorf("create resource provider %s (%s): %w", name, uuid, err)
		}
	}
	prov := &Provider{UUID: rp.UUID, Name: rp.Name, Generation: rp.Generation}
	if err := p.refresh(ctx, prov); err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.cache[uuid] = prov
	p.mu.Unlock()
	return prov, nil
}

// refresh reads the provider's inventory and traits (and so its current generation).
func (p *Client) refresh(ctx context.Context, prov *Provider) error {
	var inv struct {
		Generation  int                  `json:"resource_provider_generation"`
		Inventories map[string]Inventory `json:"inventories"`
	}
	if err := p.do(ctx, http.MethodGet, "/resource_providers/"+prov.UUID+"/inventories", "1.26", nil, &inv, 200); err != nil {
		return err
	}
	var tr struct {
		Generation int      `json:"resource_provider_generation"`
		Traits     []string `json:"traits"`
	}
	if err := p.do(ctx, http.MethodGet, "/resource_providers/"+prov.UUID+"/traits", "1.6", nil, &tr, 200); err != nil {
		return err
	}
	prov.Generation = max(inv.Generation, tr.Generation)
	prov.Inventories = inv.Inventories
	slices.Sort(tr.Traits)
	prov.Traits = tr.Traits
	return nil
}

// SetInventory makes the provider's inventory equal want; classes with total 0 are left out,
// as nova does. Nothing is sent when the cached inventory already equals want.
func (p *Client) SetInventory(ctx context.Context, uuid string, want map[string]Inventory) error {
	want = maps.Clone(want)
	maps.DeleteFunc(want, func(_ string, inv Inventory) bool { return inv.Total == 0 })
	return p.retrying(ctx, uuid, func(prov *Provider) (bool, error) {
		if maps.Equal(prov.Inventories, want) {
			return false, nil
		}
		body := map[string]any{"resource_provider_generation": prov.Generation, "inventories": want}
		var out struct {
			Generation  int                  `json:"resource_provider_generation"`
			Inventories map[string]Inventory `json:"inventories"`
		}
		if err := p.do(ctx, http.MethodPut, "/resource_providers/"+uuid+"/inventories", "1.26", body, &out, 200); err != nil {
			return true, err
		}
		prov.Generation, prov.Inventories = out.Generation, out.Inventories
		return true, nil
	})
}

// SetTraits makes the provider's traits equal want among the traits that managed reports
// as novalet's; traits set by others (an operator, another service) are kept.
func (p *Client) SetTraits(ctx context.Context, uuid string, want []string, managed func(string) bool) error {
	return p.retrying(ctx, uuid, func(prov *Provider) (bool, error) {
		next := slices.Clone(want)
		for _, t := range prov.Traits {
			if !managed(t) && !slices.Contains(next, t) {
				next = append(next, t)
			}
		}
		slices.Sort(next)
		next = slices.Compact(next)
		if slices.Equal(next, prov.Traits) {
			return false, nil
		}
		if err := p.ensureCustomTraits(ctx, want); err != nil {
			return true, err
		}
		body := map[string]any{"resource_provider_generation": prov.Generation, "traits": next}
		var out struct {
			Generation int      `json:"resource_provider_generation"`
			Traits     []string `json:"traits"`
		}
		if err := p.do(ctx, http.MethodPut, "/resource_providers/"+uuid+"/traits", "1.6", body, &out, 200); err != nil {
			return true, err
		}
		slices.Sort(out.Traits)
		prov.Generation, prov.Traits = out.Generation, out.Traits
		return true, nil
	})
}

func (p *Client) ensureCustomTraits(ctx context.Context, traits []string) error {
	for _, t := range traits {
		if strings.HasPrefix(t, "CUSTOM_") {
			if err := p.do(ctx, http.MethodPut, "/traits/"+t, "1.6", nil, nil, 201, 204); err != nil {
				return err
			}
		}
	}
	return nil
}

// DeleteAllocations removes every allocation of a consumer (an instance); 404 is success.
func (p *Client) DeleteAllocations(ctx context.Context, consumer string) error {
	return p.do(ctx, http.MethodDelete, "/allocations/"+consumer, "", nil, nil, 204, 404)
}

// ProviderAllocations lists the allocations against a provider: consumer uuid -> resource
// class -> amount (nova's get_allocations_for_resource_provider, microversion 1.0).
func (p *Client) ProviderAllocations(ctx context.Context, uuid string) (map[string]map[string]int, error) {
	var body struct {
		Allocations map[string]struct {
			Resources map[string]int `json:"resources"`
		} `json:"allocations"`
	}
	if err := p.do(ctx, http.MethodGet, "/resource_providers/"+uuid+"/allocations", "", nil, &body, 200); err != nil {
		return nil, err
	}
	out := make(map[string]map[string]int, len(body.Allocations))
	for consumer, a := range body.Allocations {
		out[consumer] = a.Resources
	}
	return out, nil
}

// retrying runs one write against the cached provider; on a generation conflict it re-reads
// the provider and tries again, up to nova's limit.
func (p *Client) retrying(ctx context.Context, uuid string, write func(*Provider) (bool, error)) error {
	p.mu.Lock()
	prov := p.cache[uuid]
	p.mu.Unlock()
	if prov == nil {
		return fmt.Errorf("%w: provider %s not ensured", ErrPlacement, uuid)
	}
	var err error
	for attempt := 1; attempt <= maxConflictRetries; attempt++ {
		var wrote bool
		wrote, err = write(prov)
		if wrote {
			p.Writes++
		}
		if !errors.Is(err, ErrPlacementConflict) {
			return err
		}
		p.log.Info("placement generation conflict, refreshing provider", "provider", uuid, "attempt", attempt)
		if rerr := p.refresh(ctx, prov); rerr != nil {
			return rerr
		}
	}
	return err
}

type placementError struct {
	status       int
	code, detail string
}

func (e *placementError) Error() string {
	return fmt.Sprintf("HTTP %d %s: %s", e.status, e.code, e.detail)
}

// do sends one request at a microversion and decodes the JSON answer.
func (p *Client) do(ctx context.Context, method, path, microversion string, body, out any, ok ...int) error {
	opts := &gophercloud.RequestOpts{OkCodes: ok, JSONBody: body, JSONResponse: out,
		MoreHeaders: map[string]string{"Accept": "application/json"}}
	if microversion != "" {
		opts.MoreHeaders["OpenStack-API-Version"] = "placement " + microversion
	}
	if out == nil {
		opts.KeepResponseBody = false
	}
	url := strings.TrimRight(p.sc.Endpoint, "/") + path
	_, err := p.sc.Request(ctx, method, url, opts)
	if p.OnRequest != nil {
		p.OnRequest(err)
	}
	if err == nil {
		return nil
	}
	var unexpected gophercloud.ErrUnexpectedResponseCode
	if !errors.As(err, &unexpected) {
		return fmt.Errorf("%w: %s %s: %w", keystone.ErrUnreachable, method, path, err)
	}
	perr := &placementError{status: unexpected.Actual, detail: strings.TrimSpace(string(unexpected.Body))}
	var eb struct {
		Errors []struct {
			Code   string `json:"code"`
			Detail string `json:"detail"`
		} `json:"errors"`
	}
	if json.Unmarshal(unexpected.Body, &eb) == nil && len(eb.Errors) > 0 {
		perr.code, perr.detail = eb.Errors[0].Code, eb.Errors[0].Detail
	}
	class := ErrPlacement
	switch perr.code {
	case "placement.concurrent_update":
		class = ErrPlacementConflict
	case "placement.inventory.inuse":
		class = ErrInventoryInUse
	}
	return fmt.Errorf("%w: %s %s: %w", class, method, path, perr)
}

// Provider returns the cached view of a provider, nil before EnsureProvider.
func (p *Client) Provider(uuid string) *Provider {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cache[uuid]
}
