package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/novalet/novalet/config"
	"github.com/novalet/novalet/rpc"
)

// errNoGlance: neither nova.conf nor the request's service catalog names an image endpoint.
var errNoGlance = errors.New("no Glance endpoint: set [glance] api_servers or endpoint_override, or use a token with a catalog")

// glanceEndpoint picks Glance's URL as nova's image API does: [glance] api_servers (the first;
// nova shuffles them, novalet keeps the operator's order), else endpoint_override, else the
// request context's service catalog (type image, [glance] valid_interfaces in order, region).
func glanceEndpoint(cfg config.Glance, rc rpc.Context) (string, error) {
	if len(cfg.APIServers) > 0 {
		return cfg.APIServers[0], nil
	}
	if cfg.EndpointOverride != "" {
		return cfg.EndpointOverride, nil
	}
	catalog, err := rc.ServiceCatalog()
	if err != nil {
		return "", err
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
	for _, svc := range catalog {
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
		return "", fmt.Errorf("%w (the catalog's image endpoints have none of the interfaces %v)", errNoGlance, interfaces)
	}
	return "", errNoGlance
}
