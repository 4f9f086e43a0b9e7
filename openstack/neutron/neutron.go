// Package neutron is the network API of the compute manager, as nova/network/neutron.py is
// nova's: ports for an instance are created with the user's token and bound to this host with
// the [neutron] service credentials (allocate_for_instance), unbound or deleted on delete
// (deallocate_for_instance), and the network model (netmodel) is built from what Neutron
// says. Binding a port to a destination host for migrations will land here.
package neutron

// This file is the Neutron client: ports for an instance are created with the user's token and
// bound to this host with the [neutron] service credentials, as nova's
// nova.network.neutron.API.allocate_for_instance / deallocate_for_instance do (PROTOCOL.md
// §7.1-7.2). Bodies are built by hand so that they carry exactly nova's keys.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gophercloud/gophercloud/v2"

	"github.com/novalet/novalet/config"
	"github.com/novalet/novalet/netmodel"
	"github.com/novalet/novalet/openstack/keystone"
)

// Neutron error classes. Every error from Neutron's methods matches ErrNeutron; the ones a
// caller may act on also match one of the others.
var (
	ErrNeutron = errors.New("neutron request failed")
	// ErrNetworkNotFound: a requested network or port does not exist or is not visible to the
	// project, or no network was requested and the project has none (or several) to choose.
	ErrNetworkNotFound = errors.New("network or port not found")
	// ErrPortInUse: a requested port is attached to another device or belongs to another
	// project, or a requested fixed IP or MAC address is taken.
	ErrPortInUse = errors.New("port or address in use")
	// ErrPortBindingFailed: Neutron could not bind the port to this host (binding:vif_type
	// binding_failed), typically because no live L2 agent runs here.
	ErrPortBindingFailed = errors.New("port binding failed")
)

// extensionSyncInterval is nova's [neutron] extension_sync_interval default.
const extensionSyncInterval = 600 * time.Second

// cleanupTimeout bounds the undo of a failed allocation, which runs even when the build's own
// context has expired.
const cleanupTimeout = 60 * time.Second

// Client talks to Neutron for one compute host.
type Client struct {
	admin *gophercloud.ServiceClient
	log   *slog.Logger

	mu         sync.Mutex
	extensions map[string]bool
	extSynced  time.Time
}

// New authenticates the [neutron] service user and finds the network endpoint.
func New(ctx context.Context, cfg config.Neutron, log *slog.Logger) (*Client, error) {
	pc, err := keystone.NewServiceSession(ctx, "neutron", cfg.Keystone)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNeutron, err)
	}
	endpoint, err := keystone.Endpoint(pc, cfg.Adapter, "network")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNeutron, err)
	}
	pc.RetryFunc = connectRetries(cfg.HTTPRetries)
	return NewFromServiceClient(networkClient(pc, endpoint), log), nil
}

// NewFromServiceClient wraps a service client for Neutron authenticated as the service user;
// its ResourceBase ends in "v2.0/".
func NewFromServiceClient(admin *gophercloud.ServiceClient, log *slog.Logger) *Client {
	if log == nil {
		log = slog.Default()
	}
	return &Client{admin: admin, log: log}
}

// networkClient points a provider client at Neutron's v2.0 API.
func networkClient(pc *gophercloud.ProviderClient, endpoint string) *gophercloud.ServiceClient {
	endpoint = strings.TrimRight(endpoint, "/") + "/"
	base := endpoint
	if !strings.HasSuffix(base, "/v2.0/") {
		base += "v2.0/"
	}
	return &gophercloud.ServiceClient{ProviderClient: pc, Endpoint: endpoint, ResourceBase: base, Type: "network"}
}

// connectRetries is keystoneauth's connect_retries ([neutron] http_retries): retry a request
// that could not connect, with a doubling delay; a request that reached Neutron is never
// repeated, so a POST cannot create a port twice.
func connectRetries(n int) gophercloud.RetryFunc {
	return func(ctx context.Context, _, _ string, _ *gophercloud.RequestOpts, err error, attempt uint) error {
		var op *net.OpError
		if int(attempt) > n || ctx.Err() != nil || !errors.As(err, &op) || op.Op != "dial" {
			return err
		}
		delay := time.Duration(500<<min(attempt-1, 5)) * time.Millisecond
		select {
		case <-ctx.Done():
			return err
		case <-time.After(delay):
			return nil
		}
	}
}

// UserClient is a Neutron client acting with the user's token (from the request context), as
// nova's get_client(context) is: it lists the project's networks and creates its ports. The
// token is used as is; it is not renewed.
func (n *Client) UserClient(token string) (*gophercloud.ServiceClient, error) {
	if token == "" {
		return nil, fmt.Errorf("%w: the request carries no user token", ErrNeutron)
	}
	pc := &gophercloud.ProviderClient{HTTPClient: n.admin.HTTPClient, UserAgent: n.admin.UserAgent,
		RetryFunc: n.admin.RetryFunc}
	pc.SetToken(token)
	return &gophercloud.ServiceClient{ProviderClient: pc, Endpoint: n.admin.Endpoint,
		ResourceBase: n.admin.ResourceBase, Type: "network"}, nil
}

// neutronPort is the part of a Neutron port novalet reads.
type neutronPort struct {
	ID           string `json:"id"`
	NetworkID    string `json:"network_id"`
	TenantID     string `json:"tenant_id"`
	MACAddress   string `json:"mac_address"`
	AdminStateUp bool   `json:"admin_state_up"`
	Status       string `json:"status"`
	DeviceID     string `json:"device_id"`
	DeviceOwner  string `json:"device_owner"`
	DNSName      string `json:"dns_name"`
	FixedIPs     []struct {
		SubnetID  string `json:"subnet_id"`
		IPAddress string `json:"ip_address"`
	} `json:"fixed_ips"`
	HostID     string         `json:"binding:host_id"`
	VIFType    string         `json:"binding:vif_type"`
	VIFDetails map[string]any `json:"binding:vif_details"`
	VNICType   string         `json:"binding:vnic_type"`
	Profile    map[string]any `json:"binding:profile"`
}

// neutronNetwork is the part of a Neutron network novalet reads.
type neutronNetwork struct {
	ID                  string           `json:"id"`
	Name                string           `json:"name"`
	TenantID            string           `json:"tenant_id"`
	MTU                 *int             `json:"mtu"`
	Subnets             []string         `json:"subnets"`
	PortSecurityEnabled *bool            `json:"port_security_enabled"`
	DNSDomain           string           `json:"dns_domain"`
	NetworkType         string           `json:"provider:network_type"`
	PhysicalNetwork     *string          `json:"provider:physical_network"`
	Segments            []map[string]any `json:"segments"`
}

// neutronSubnet is the part of a Neutron subnet novalet reads.
type neutronSubnet struct {
	ID              string   `json:"id"`
	NetworkID       string   `json:"network_id"`
	CIDR            string   `json:"cidr"`
	GatewayIP       *string  `json:"gateway_ip"`
	EnableDHCP      bool     `json:"enable_dhcp"`
	IPv6AddressMode *string  `json:"ipv6_address_mode"`
	DNSNameservers  []string `json:"dns_nameservers"`
	HostRoutes      []struct {
		Destination string `json:"destination"`
		NextHop     string `json:"nexthop"`
	} `json:"host_routes"`
}

// portBody is a port request body with exactly the keys given: gophercloud's option structs would
// drop empty strings and send null for an empty binding:profile.
type portBody map[string]any

// ToPortCreateMap makes portBody gophercloud's ports.CreateOptsBuilder.
func (b portBody) ToPortCreateMap() (map[string]any, error) {
	return map[string]any{"port": map[string]any(b)}, nil
}

// neutronQuery is a list filter; Neutron takes a repeated key as "any of".
type neutronQuery url.Values

func (q neutronQuery) encode() string                      { return "?" + url.Values(q).Encode() }
func (q neutronQuery) ToPortListQuery() (string, error)    { return q.encode(), nil }
func (q neutronQuery) ToNetworkListQuery() (string, error) { return q.encode(), nil }
func (q neutronQuery) ToSubnetListQuery() (string, error)  { return q.encode(), nil }

// portSlot is one requested network or port on its way to becoming a VIF.
type portSlot struct {
	req         netmodel.RequestedNetwork
	networkID   string
	preexisting *neutronPort // the user's port, nil when novalet creates one
	portID      string
}
