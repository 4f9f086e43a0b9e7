package glance

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/novalet/novalet/config"
	"github.com/novalet/novalet/rpc"
)

// catalogOf is a service catalog as nova-api puts it in the request context.
func catalogOf(t *testing.T, entries ...map[string]any) func() ([]rpc.ServiceCatalogEntry, error) {
	t.Helper()
	raw, err := json.Marshal(entries)
	if err != nil {
		t.Fatal(err)
	}
	rc := rpc.Context{}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	rc[rpc.CtxServiceCatalog] = v
	return rc.ServiceCatalog
}

func imageService(endpoints ...map[string]any) map[string]any {
	return map[string]any{"type": "image", "name": "glance", "endpoints": endpoints}
}

func TestEndpointPrefersNovaConf(t *testing.T) {
	never := func() ([]rpc.ServiceCatalogEntry, error) {
		t.Fatal("the catalog was read although nova.conf names the endpoint")
		return nil, nil
	}
	got, err := Endpoint(config.Glance{APIServers: []string{"http://g1:9292", "http://g2:9292"},
		Adapter: config.Adapter{EndpointOverride: "http://override:9292"}}, never)
	if err != nil || got != "http://g1:9292" {
		t.Fatalf("api_servers: %q, %v; want the first server", got, err)
	}
	got, err = Endpoint(config.Glance{Adapter: config.Adapter{EndpointOverride: "http://override:9292"}}, never)
	if err != nil || got != "http://override:9292" {
		t.Fatalf("endpoint_override: %q, %v", got, err)
	}
}

func TestEndpointFromCatalog(t *testing.T) {
	cat := catalogOf(t,
		map[string]any{"type": "compute", "name": "nova", "endpoints": []map[string]any{
			{"interface": "internal", "region": "RegionOne", "url": "http://nova:8774/v2.1"}}},
		imageService(
			map[string]any{"interface": "public", "region": "RegionOne", "region_id": "RegionOne", "url": "http://public:9292"},
			map[string]any{"interface": "internal", "region": "RegionOne", "region_id": "RegionOne", "url": "http://internal:9292"},
			map[string]any{"interface": "internal", "region": "RegionTwo", "region_id": "RegionTwo", "url": "http://two:9292"},
			map[string]any{"interface": "admin", "region": "RegionOne", "url": ""},
		))
	cases := []struct {
		name string
		cfg  config.Glance
		want string
	}{
		{"internal before public by default", config.Glance{}, "http://internal:9292"},
		{"valid_interfaces order", config.Glance{Adapter: config.Adapter{ValidInterfaces: []string{"public", "internal"}}}, "http://public:9292"},
		{"the old publicURL spelling", config.Glance{Adapter: config.Adapter{ValidInterfaces: []string{"publicURL"}}}, "http://public:9292"},
		{"region_name", config.Glance{Adapter: config.Adapter{RegionName: "RegionTwo"}}, "http://two:9292"},
	}
	for _, tc := range cases {
		got, err := Endpoint(tc.cfg, cat)
		if err != nil || got != tc.want {
			t.Errorf("%s: %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
}

func TestEndpointNone(t *testing.T) {
	if _, err := Endpoint(config.Glance{}, catalogOf(t)); !errors.Is(err, ErrNoEndpoint) {
		t.Errorf("empty catalog: %v, want ErrNoEndpoint", err)
	}
	if _, err := Endpoint(config.Glance{}, nil); !errors.Is(err, ErrNoEndpoint) {
		t.Errorf("no catalog: %v, want ErrNoEndpoint", err)
	}
	adminOnly := catalogOf(t, imageService(map[string]any{"interface": "admin", "url": "http://admin:9292"}))
	if _, err := Endpoint(config.Glance{}, adminOnly); !errors.Is(err, ErrNoEndpoint) {
		t.Errorf("admin endpoint only: %v, want ErrNoEndpoint", err)
	}
	elsewhere := catalogOf(t, imageService(map[string]any{"interface": "internal", "region": "RegionOne", "url": "http://one:9292"}))
	if _, err := Endpoint(config.Glance{Adapter: config.Adapter{RegionName: "RegionTwo"}}, elsewhere); !errors.Is(err, ErrNoEndpoint) {
		t.Errorf("no endpoint in region: %v, want ErrNoEndpoint", err)
	}
	broken := func() ([]rpc.ServiceCatalogEntry, error) { return nil, errors.New("service_catalog: bad JSON") }
	if _, err := Endpoint(config.Glance{}, broken); err == nil || errors.Is(err, ErrNoEndpoint) {
		t.Errorf("undecodable catalog: %v, want its error", err)
	}
}
