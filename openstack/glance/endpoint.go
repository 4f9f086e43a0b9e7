package glance

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/novalet/novalet/config"
	"github.com/novalet/novalet/rpc"
)

// ErrNoEndpoint: neither nova.conf nor the request's service catalog names an image endpoint.
var ErrNoEndpoint = errors.New("no Glance endpoint: set [glance] api_servers or endpoint_override, or use a token with a catalog")

// Endpoint picks Glance's URL as nova's image API does: [glance] api_servers (the first; nova
// shuffles them, novalet keeps the operator's order), else endpoint_override, else the service
// catalog (type image, [glance] valid_interfaces in order, region_name). catalog is called only
// when nova.conf names no endpoint; pass the request context's rpc.Context.ServiceCatalog.
func Endpoint(cfg config.Glance, catalog func() ([]rpc.ServiceCatalogEntry, error)) (string, error) {
	if len(cfg.APIServers) > 0 {
		return cfg.APIServers[0], nil
	}
	if cfg.EndpointOverride != "" {
		return cfg.EndpointOverride, nil
	}
	if catalog == nil {
		return "", ErrNoEndpoint
	}
	entries, err := catalog()
	if err != nil {
		return "", fmt.Errorf("glance endpoint: %w", err)
	}
	interfaces := cfg.ValidInterfaces
	if len(interfaces) == 0 {
		interfaces = []string{"internal", "public"}
	}
	type endpoint struct {
		Interface string `json:"interface"`
		Region    string `json:"region"`
		RegionID  string `json:"region_id"`
		URL       string `json:"url"`
	}
	var found []endpoint
	for _, svc := range entries {
		if svc.Type != "image" {
			continue
		}
		for _, raw := range svc.Endpoints {
			var ep endpoint
			if json.Unmarshal(raw, &ep) != nil || ep.URL == "" {
				continue
			}
			if cfg.RegionName != "" && ep.Region != cfg.RegionName && ep.RegionID != cfg.RegionName {
				continue
			}
			found = append(found, ep)
		}
	}
	for _, want := range interfaces {
		want = strings.TrimSuffix(want, "URL")
		if i := slices.IndexFunc(found, func(ep endpoint) bool { return ep.Interface == want }); i >= 0 {
			return found[i].URL, nil
		}
	}
	if len(found) > 0 {
		return "", fmt.Errorf("%w (the catalog's image endpoints have none of the interfaces %v)", ErrNoEndpoint, interfaces)
	}
	return "", ErrNoEndpoint
}
