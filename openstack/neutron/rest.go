package neutron

// The Neutron REST calls the client makes, each bounded by its context.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/ports"
)

func (n *Client) getPort(ctx context.Context, c *gophercloud.ServiceClient, id string) (*neutronPort, error) {
	var port neutronPort
	if err := ports.Get(ctx, c, id).ExtractInto(&port); err != nil {
		return nil, neutronError("show port "+id, err, ErrNetworkNotFound)
	}
	return &port, nil
}

// updatePort sends PUT /v2.0/ports/<id> with exactly the body given (gophercloud's
// ports.Update wants an options struct).
func updatePort(ctx context.Context, c *gophercloud.ServiceClient, id string, b portBody) (*neutronPort, error) {
	var resp struct {
		Port neutronPort `json:"port"`
	}
	_, err := c.Put(ctx, c.ServiceURL("ports", id), map[string]any{"port": map[string]any(b)}, &resp,
		&gophercloud.RequestOpts{OkCodes: []int{200}})
	if err != nil {
		return nil, err
	}
	return &resp.Port, nil
}

func (n *Client) listPorts(ctx context.Context, q neutronQuery) ([]neutronPort, error) {
	page, err := ports.List(n.admin, q).AllPages(ctx)
	if err != nil {
		return nil, neutronError("list ports", err, nil)
	}
	var out []neutronPort
	if err := ports.ExtractPortsInto(page, &out); err != nil {
		return nil, fmt.Errorf("%w: ports: %w", ErrNeutron, err)
	}
	return out, nil
}

func (n *Client) listNetworks(ctx context.Context, c *gophercloud.ServiceClient, q neutronQuery) ([]neutronNetwork, error) {
	page, err := networks.List(c, q).AllPages(ctx)
	if err != nil {
		return nil, neutronError("list networks", err, nil)
	}
	var out []neutronNetwork
	if err := networks.ExtractNetworksInto(page, &out); err != nil {
		return nil, fmt.Errorf("%w: networks: %w", ErrNeutron, err)
	}
	return out, nil
}

// hasExtension reads Neutron's extension list, cached for nova's extension_sync_interval.
func (n *Client) hasExtension(ctx context.Context, alias string) (bool, error) {
	n.mu.Lock()
	fresh := n.extensions != nil && time.Since(n.extSynced) < extensionSyncInterval
	if fresh {
		defer n.mu.Unlock()
		return n.extensions[alias], nil
	}
	n.mu.Unlock()
	var resp struct {
		Extensions []struct {
			Alias string `json:"alias"`
		} `json:"extensions"`
	}
	if _, err := n.admin.Get(ctx, n.admin.ServiceURL("extensions"), &resp, nil); err != nil {
		return false, neutronError("list extensions", err, nil)
	}
	ext := map[string]bool{}
	for _, e := range resp.Extensions {
		ext[e.Alias] = true
	}
	n.mu.Lock()
	n.extensions, n.extSynced = ext, time.Now()
	n.mu.Unlock()
	return ext[alias], nil
}

// conflictsInUse are the NeutronError types that mean a requested address is taken.
var conflictsInUse = map[string]bool{"IpAddressInUse": true, "IpAddressAlreadyAllocated": true,
	"MacAddressInUse": true, "PortInUse": true}

// neutronError classifies a failed request: 404 is notFound (when given), a taken address is
// ErrPortInUse, anything else plain ErrNeutron; Neutron's own message is kept.
func neutronError(op string, err error, notFound error) error {
	var u gophercloud.ErrUnexpectedResponseCode
	if !errors.As(err, &u) {
		return fmt.Errorf("%w: %s: %w", ErrNeutron, op, err)
	}
	var e struct {
		NeutronError struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"NeutronError"`
	}
	msg := strings.TrimSpace(string(u.Body))
	if json.Unmarshal(u.Body, &e) == nil && e.NeutronError.Message != "" {
		msg = e.NeutronError.Type + ": " + e.NeutronError.Message
	}
	var class error
	switch {
	case u.Actual == 404 && notFound != nil:
		class = notFound
	case conflictsInUse[e.NeutronError.Type]:
		class = ErrPortInUse
	}
	if class != nil {
		return fmt.Errorf("%w: %w: %s: HTTP %d: %s", ErrNeutron, class, op, u.Actual, msg)
	}
	return fmt.Errorf("%w: %s: HTTP %d: %s", ErrNeutron, op, u.Actual, msg)
}

// PortsActive reads the ports' status as nova's network info "active" flag shows it (a port
// administratively down counts as active, as in buildVIF): what nova's periodic
// _heal_instance_info_cache would have put in the info cache. Ports Neutron no longer has are
// left out.
func (n *Client) PortsActive(ctx context.Context, portIDs []string) (map[string]bool, error) {
	out := map[string]bool{}
	if len(portIDs) == 0 {
		return out, nil
	}
	ps, err := n.listPorts(ctx, neutronQuery{"id": portIDs})
	if err != nil {
		return nil, err
	}
	for _, p := range ps {
		out[p.ID] = !p.AdminStateUp || p.Status == "ACTIVE"
	}
	return out, nil
}
