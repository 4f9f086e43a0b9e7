package agent

// This file is the Neutron client: ports for an instance are created with the user's token and
// bound to this host with the [neutron] service credentials, as nova's
// nova.network.neutron.API.allocate_for_instance / deallocate_for_instance do (PROTOCOL.md
// §7.1-7.2). Bodies are built by hand so that they carry exactly nova's keys.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/ports"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/subnets"

	"github.com/novalet/novalet/config"
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

// Neutron talks to Neutron for one compute host.
type Neutron struct {
	admin *gophercloud.ServiceClient
	log   *slog.Logger

	mu         sync.Mutex
	extensions map[string]bool
	extSynced  time.Time
}

// InstanceRef is what port allocation needs to know about the instance.
type InstanceRef struct {
	UUID      string
	ProjectID string
	// AvailabilityZone makes device_owner "compute:<az>" (nova writes "compute:None" when the
	// instance has none).
	AvailabilityZone string
	// Hostname is the port's dns_name when Neutron has the dns-integration extension.
	Hostname string
	// Host is binding:host_id: [DEFAULT] host, which must equal the L2 agent's host.
	Host string
	// SecurityGroups are the names or ids requested at boot; just "default" means none, as
	// Neutron applies it anyway.
	SecurityGroups []string
}

// RequestedNetwork is one NetworkRequest of the build: a network (with an optional fixed IP)
// or a pre-created port. A single request whose NetworkID is "none" allocates nothing; no
// request, a single empty one or "auto" takes the project's only available network.
type RequestedNetwork struct {
	NetworkID string
	PortID    string
	Address   string
}

// NewNeutron authenticates the [neutron] service user and finds the network endpoint.
func NewNeutron(ctx context.Context, cfg config.Neutron, log *slog.Logger) (*Neutron, error) {
	pc, err := NewServiceSession(ctx, "neutron", cfg.Keystone)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNeutron, err)
	}
	endpoint, err := Endpoint(pc, cfg.Adapter, "network")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNeutron, err)
	}
	pc.RetryFunc = connectRetries(cfg.HTTPRetries)
	return NewNeutronFromClient(networkClient(pc, endpoint), log), nil
}

// NewNeutronFromClient wraps a service client for Neutron authenticated as the service user;
// its ResourceBase ends in "v2.0/".
func NewNeutronFromClient(admin *gophercloud.ServiceClient, log *slog.Logger) *Neutron {
	if log == nil {
		log = slog.Default()
	}
	return &Neutron{admin: admin, log: log}
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
func (n *Neutron) UserClient(token string) (*gophercloud.ServiceClient, error) {
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
	req         RequestedNetwork
	networkID   string
	preexisting *neutronPort // the user's port, nil when novalet creates one
	portID      string
}

// AllocateForInstance gives the instance a bound port for every request, in order: it checks
// pre-created ports (not attached elsewhere, same project), creates ports on requested
// networks as the user ({device_id, network_id, admin_state_up, tenant_id, [fixed_ips],
// [security_groups]}), binds every port to inst.Host with the service credentials
// ({device_id, device_owner, binding:host_id, [binding:profile], [dns_name]}), and returns
// the VIFs for network_info (inactive until Neutron reports the port up). On error nothing is
// left behind: created ports are deleted and pre-created ones unbound.
func (n *Neutron) AllocateForInstance(ctx context.Context, userToken string, inst InstanceRef, requested []RequestedNetwork) ([]VIFInfo, error) {
	if inst.UUID == "" || inst.ProjectID == "" || inst.Host == "" {
		return nil, fmt.Errorf("%w: allocate needs the instance uuid, project and host", ErrNeutron)
	}
	if len(requested) == 1 && requested[0].NetworkID == "none" {
		return nil, nil
	}
	user, err := n.UserClient(userToken)
	if err != nil {
		return nil, err
	}
	log := n.log.With("instance_uuid", inst.UUID)

	slots, err := n.requestedPorts(ctx, inst, requested)
	if err != nil {
		return nil, err
	}
	nets, err := n.requestedNetworks(ctx, user, inst, &slots)
	if err != nil {
		return nil, err
	}
	sgIDs, err := n.securityGroupIDs(ctx, user, inst)
	if err != nil {
		return nil, err
	}

	var created, bound []string
	undo := func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		for _, id := range bound {
			if err := n.unbind(cctx, id); err != nil {
				log.Error("cannot unbind port after a failed allocation", "port_id", id, "error", err)
			}
		}
		for _, id := range created {
			if err := n.deletePort(cctx, id); err != nil {
				log.Error("cannot delete port after a failed allocation", "port_id", id, "error", err)
			}
		}
	}

	for i := range slots {
		s := &slots[i]
		if err := checkPortSecurity(nets[s.networkID], sgIDs); err != nil {
			undo()
			return nil, err
		}
		if s.preexisting != nil {
			s.portID = s.preexisting.ID
			continue
		}
		p, err := n.createPort(ctx, user, inst, s.networkID, s.req.Address, sgIDs)
		if err != nil {
			undo()
			return nil, err
		}
		created = append(created, p.ID)
		s.portID = p.ID
		log.Debug("created port", "port_id", p.ID, "network_id", s.networkID)
	}

	dnsExt, err := n.hasExtension(ctx, "dns-integration")
	if err != nil {
		undo()
		return nil, err
	}
	for _, s := range slots {
		if s.preexisting != nil {
			// Counted before the update: a failed or half-done bind must be undone too, and
			// unbinding a port that was free before is harmless.
			bound = append(bound, s.portID)
		}
		if err := n.bind(ctx, user, inst, s, nets[s.networkID], dnsExt); err != nil {
			undo()
			return nil, err
		}
		log.Info("bound port", "port_id", s.portID, "host", inst.Host)
	}

	vifs, err := n.networkInfo(ctx, inst, slots, nets)
	if err != nil {
		undo()
		return nil, err
	}
	return vifs, nil
}

// requestedPorts turns the requests into slots, reading and checking pre-created ports with
// the service credentials (nova's _validate_requested_port_ids).
func (n *Neutron) requestedPorts(ctx context.Context, inst InstanceRef, requested []RequestedNetwork) ([]portSlot, error) {
	var slots []portSlot
	for _, r := range requested {
		s := portSlot{req: r, networkID: r.NetworkID}
		if r.PortID != "" {
			p, err := n.getPort(ctx, n.admin, r.PortID)
			if err != nil {
				return nil, err
			}
			switch {
			case p.TenantID != inst.ProjectID:
				return nil, fmt.Errorf("%w: %w: port %s belongs to another project", ErrNeutron, ErrPortInUse, p.ID)
			case p.DeviceID != "":
				return nil, fmt.Errorf("%w: %w: port %s is attached to device %s", ErrNeutron, ErrPortInUse, p.ID, p.DeviceID)
			case p.DNSName != "" && p.DNSName != inst.Hostname:
				return nil, fmt.Errorf("%w: %w: port %s has dns_name %q, not the instance hostname %q",
					ErrNeutron, ErrPortInUse, p.ID, p.DNSName, inst.Hostname)
			case p.VIFType == vifTypeBindingFailed:
				return nil, fmt.Errorf("%w: %w: port %s", ErrNeutron, ErrPortBindingFailed, p.ID)
			}
			s.preexisting = p
			s.networkID = p.NetworkID
		}
		if s.networkID == "" || s.networkID == "auto" {
			if s.preexisting == nil && len(requested) > 1 {
				return nil, fmt.Errorf("%w: %w: a request names neither network nor port", ErrNeutron, ErrNetworkNotFound)
			}
			s.networkID = ""
		}
		slots = append(slots, s)
	}
	if len(slots) == 0 {
		slots = []portSlot{{}}
	}
	return slots, nil
}

// requestedNetworks reads the networks the slots use as the user (which checks the project
// may use them); a slot without a network gets the project's only available network.
func (n *Neutron) requestedNetworks(ctx context.Context, user *gophercloud.ServiceClient, inst InstanceRef,
	slots *[]portSlot) (map[string]*neutronNetwork, error) {
	if len(*slots) == 1 && (*slots)[0].networkID == "" {
		// Nothing specific asked: the project's own networks plus the shared ones.
		own, err := n.listNetworks(ctx, user, neutronQuery{"tenant_id": {inst.ProjectID}, "shared": {"False"}})
		if err != nil {
			return nil, err
		}
		shared, err := n.listNetworks(ctx, user, neutronQuery{"shared": {"True"}})
		if err != nil {
			return nil, err
		}
		all := append(own, shared...)
		if len(all) != 1 {
			return nil, fmt.Errorf("%w: %w: no network requested and %d available to project %s",
				ErrNeutron, ErrNetworkNotFound, len(all), inst.ProjectID)
		}
		(*slots)[0].networkID = all[0].ID
		return map[string]*neutronNetwork{all[0].ID: &all[0]}, nil
	}
	q := neutronQuery{}
	for _, s := range *slots {
		q["id"] = append(q["id"], s.networkID)
	}
	list, err := n.listNetworks(ctx, user, q)
	if err != nil {
		return nil, err
	}
	nets := map[string]*neutronNetwork{}
	for i := range list {
		nets[list[i].ID] = &list[i]
	}
	for _, s := range *slots {
		if nets[s.networkID] == nil {
			return nil, fmt.Errorf("%w: %w: network %s", ErrNeutron, ErrNetworkNotFound, s.networkID)
		}
	}
	return nets, nil
}

// securityGroupIDs resolves the requested security groups by name, then id, among the
// project's (nova's _process_security_groups).
func (n *Neutron) securityGroupIDs(ctx context.Context, user *gophercloud.ServiceClient, inst InstanceRef) ([]string, error) {
	groups := inst.SecurityGroups
	if len(groups) == 0 || (len(groups) == 1 && groups[0] == "default") {
		return nil, nil
	}
	var resp struct {
		SecurityGroups []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"security_groups"`
	}
	u := user.ServiceURL("security-groups") + neutronQuery{"tenant_id": {inst.ProjectID}, "fields": {"id", "name"}}.encode()
	if _, err := user.Get(ctx, u, &resp, nil); err != nil {
		return nil, neutronError("list security groups", err, nil)
	}
	var ids []string
	for _, want := range groups {
		var byName, byID string
		for _, g := range resp.SecurityGroups {
			if g.Name == want {
				if byName != "" {
					return nil, fmt.Errorf("%w: several security groups are named %q", ErrNeutron, want)
				}
				byName = g.ID
			}
			if g.ID == want {
				byID = g.ID
			}
		}
		switch {
		case byName != "":
			ids = append(ids, byName)
		case byID != "":
			ids = append(ids, byID)
		default:
			return nil, fmt.Errorf("%w: security group %q not found", ErrNeutron, want)
		}
	}
	return ids, nil
}

// checkPortSecurity is nova's SecurityGroupCannotBeApplied check.
func checkPortSecurity(nw *neutronNetwork, sgIDs []string) error {
	enabled := nw.PortSecurityEnabled == nil || *nw.PortSecurityEnabled
	switch {
	case enabled && len(nw.Subnets) == 0:
		return fmt.Errorf("%w: network %s has port security but no subnet: security groups cannot be applied", ErrNeutron, nw.ID)
	case !enabled && len(sgIDs) > 0:
		return fmt.Errorf("%w: network %s has port security disabled: security groups cannot be applied", ErrNeutron, nw.ID)
	}
	return nil
}

// createPort is nova's _create_port_minimal, as the user.
func (n *Neutron) createPort(ctx context.Context, user *gophercloud.ServiceClient, inst InstanceRef, networkID, address string, sgIDs []string) (*neutronPort, error) {
	b := portBody{"device_id": inst.UUID, "network_id": networkID, "admin_state_up": true, "tenant_id": inst.ProjectID}
	if address != "" {
		b["fixed_ips"] = []map[string]string{{"ip_address": address}}
	}
	if len(sgIDs) > 0 {
		b["security_groups"] = sgIDs
	}
	var port neutronPort
	if err := ports.Create(ctx, user, b).ExtractInto(&port); err != nil {
		return nil, neutronError("create port on network "+networkID, err, ErrNetworkNotFound)
	}
	if port.VIFType == vifTypeBindingFailed {
		if err := n.deletePort(ctx, port.ID); err != nil {
			n.log.Error("cannot delete port whose binding failed", "port_id", port.ID, "error", err)
		}
		return nil, fmt.Errorf("%w: %w: port %s", ErrNeutron, ErrPortBindingFailed, port.ID)
	}
	return &port, nil
}

// bind is nova's _update_ports_for_instance for one port, with the service credentials.
func (n *Neutron) bind(ctx context.Context, user *gophercloud.ServiceClient, inst InstanceRef, s portSlot, nw *neutronNetwork, dnsExt bool) error {
	az := inst.AvailabilityZone
	if az == "" {
		az = "None"
	}
	b := portBody{"device_id": inst.UUID, "device_owner": "compute:" + az, "binding:host_id": inst.Host}
	if s.preexisting != nil && len(s.preexisting.Profile) > 0 {
		b["binding:profile"] = s.preexisting.Profile
	}
	if dnsExt && nw.DNSDomain == "" {
		b["dns_name"] = inst.Hostname
	}
	port, err := updatePort(ctx, n.admin, s.portID, b)
	if err != nil {
		return neutronError("bind port "+s.portID, err, ErrNetworkNotFound)
	}
	if port.VIFType == vifTypeBindingFailed {
		return fmt.Errorf("%w: %w: port %s on host %s", ErrNeutron, ErrPortBindingFailed, s.portID, inst.Host)
	}
	if dnsExt && nw.DNSDomain != "" {
		// External DNS records live in the user's zone, so the user sets dns_name.
		if _, err := updatePort(ctx, user, s.portID, portBody{"dns_name": inst.Hostname}); err != nil {
			return neutronError("set dns_name of port "+s.portID, err, nil)
		}
	}
	return nil
}

// networkInfo re-reads the instance's ports and builds their VIFs in request order (nova's
// _build_network_info_model), with the service credentials.
func (n *Neutron) networkInfo(ctx context.Context, inst InstanceRef, slots []portSlot, nets map[string]*neutronNetwork) ([]VIFInfo, error) {
	current, err := n.listPorts(ctx, neutronQuery{"tenant_id": {inst.ProjectID}, "device_id": {inst.UUID}})
	if err != nil {
		return nil, err
	}
	byID := map[string]neutronPort{}
	for _, p := range current {
		byID[p.ID] = p
	}
	var vifs []VIFInfo
	for _, s := range slots {
		p, ok := byID[s.portID]
		if !ok {
			return nil, fmt.Errorf("%w: port %s is no longer attached to instance %s", ErrNeutron, s.portID, inst.UUID)
		}
		facts := vifFacts{Port: p, Network: nets[p.NetworkID], Preexisting: s.preexisting != nil,
			FloatingIPs: map[string][]string{}}
		if err := n.portFacts(ctx, &facts); err != nil {
			return nil, err
		}
		vifs = append(vifs, buildVIF(facts))
	}
	return vifs, nil
}

// portFacts reads a port's floating IPs, subnets, DHCP servers and segment.
func (n *Neutron) portFacts(ctx context.Context, f *vifFacts) error {
	var subnetIDs []string
	for _, ip := range f.Port.FixedIPs {
		fips, err := n.floatingIPs(ctx, ip.IPAddress, f.Port.ID)
		if err != nil {
			return err
		}
		f.FloatingIPs[ip.IPAddress] = fips
		if !slices.Contains(subnetIDs, ip.SubnetID) {
			subnetIDs = append(subnetIDs, ip.SubnetID)
		}
	}
	if len(subnetIDs) > 0 {
		page, err := subnets.List(n.admin, neutronQuery{"id": subnetIDs}).AllPages(ctx)
		if err != nil {
			return neutronError("list subnets", err, nil)
		}
		if err := page.(subnets.SubnetPage).ExtractIntoSlicePtr(&f.Subnets, "subnets"); err != nil {
			return fmt.Errorf("%w: subnets: %w", ErrNeutron, err)
		}
		var netIDs []string
		for _, s := range f.Subnets {
			if !slices.Contains(netIDs, s.NetworkID) {
				netIDs = append(netIDs, s.NetworkID)
			}
		}
		for _, id := range netIDs {
			dhcp, err := n.listPorts(ctx, neutronQuery{"network_id": {id}, "device_owner": {"network:dhcp"}})
			if err != nil {
				return err
			}
			f.DHCPPorts = append(f.DHCPPorts, dhcp...)
		}
	}
	physnet, tunneled, err := n.segment(ctx, f.Port.NetworkID)
	if err != nil {
		return err
	}
	f.PhysicalNetwork, f.Tunneled = physnet, tunneled
	return nil
}

// segment reads the network's segment with the service credentials.
func (n *Neutron) segment(ctx context.Context, networkID string) (*string, bool, error) {
	var nw neutronNetwork
	if err := networks.Get(ctx, n.admin, networkID).ExtractInto(&nw); err != nil {
		return nil, false, neutronError("show network "+networkID, err, ErrNetworkNotFound)
	}
	return segmentOf(nw)
}

// segmentOf is nova's _get_physnet_tunneled_info: the first segment with a physical network
// of a multi-segment network, else the provider attributes.
func segmentOf(nw neutronNetwork) (*string, bool, error) {
	if len(nw.Segments) > 0 {
		for _, seg := range nw.Segments {
			if p, _ := seg["provider:physical_network"].(string); p != "" {
				return &p, false, nil
			}
		}
		return nil, false, fmt.Errorf("%w: none of the segments of network %s provides a physical_network", ErrNeutron, nw.ID)
	}
	switch nw.NetworkType {
	case "vxlan", "gre", "geneve":
		return nw.PhysicalNetwork, true, nil
	}
	return nw.PhysicalNetwork, false, nil
}

// floatingIPs lists the floating addresses of a fixed IP; without an L3 plugin Neutron has no
// floatingips resource and answers 404, which means none.
func (n *Neutron) floatingIPs(ctx context.Context, fixed, portID string) ([]string, error) {
	var resp struct {
		FloatingIPs []struct {
			Address string `json:"floating_ip_address"`
		} `json:"floatingips"`
	}
	u := n.admin.ServiceURL("floatingips") + neutronQuery{"fixed_ip_address": {fixed}, "port_id": {portID}}.encode()
	if _, err := n.admin.Get(ctx, u, &resp, nil); err != nil {
		if gophercloud.ResponseCodeIs(err, 404) {
			return nil, nil
		}
		return nil, neutronError("list floating IPs", err, nil)
	}
	var out []string
	for _, f := range resp.FloatingIPs {
		out = append(out, f.Address)
	}
	return out, nil
}

// DeallocateForInstance releases the instance's ports as nova's deallocate_for_instance does:
// the ports whose VIF says preserve_on_delete (the user's) are unbound (device_id,
// device_owner, binding:host_id cleared, binding:profile cleaned), every other port whose
// device_id is the instance is deleted. Ports already gone are fine, so a repeated call
// converges; other failures are all returned, after every port was tried.
func (n *Neutron) DeallocateForInstance(ctx context.Context, instanceUUID string, vifs []VIFInfo) error {
	if instanceUUID == "" {
		// An empty device_id filter would match every unattached port.
		return fmt.Errorf("%w: deallocate needs the instance uuid", ErrNeutron)
	}
	log := n.log.With("instance_uuid", instanceUUID)
	attached, err := n.listPorts(ctx, neutronQuery{"device_id": {instanceUUID}})
	if err != nil {
		return err
	}
	keep := map[string]bool{}
	var errs []error
	for _, v := range vifs {
		if !v.PreserveOnDelete || keep[v.ID] {
			continue
		}
		keep[v.ID] = true
		if err := n.unbind(ctx, v.ID); err != nil {
			errs = append(errs, err)
			continue
		}
		log.Info("unbound port", "port_id", v.ID)
	}
	for _, p := range attached {
		if keep[p.ID] {
			continue
		}
		if err := n.deletePort(ctx, p.ID); err != nil {
			errs = append(errs, err)
			continue
		}
		log.Info("deleted port", "port_id", p.ID)
	}
	return errors.Join(errs...)
}

// profileKeysOfDevice are the binding:profile keys that describe this host's device, which
// nova removes when it unbinds a port.
var profileKeysOfDevice = []string{"pci_vendor_info", "pci_slot", "allocation", "arq_uuid",
	"physical_network", "card_serial_number", "vf_num", "pf_mac_address", "device_mac_address"}

// unbind is nova's _unbind_ports for one port; a port that is gone is fine.
func (n *Neutron) unbind(ctx context.Context, portID string) error {
	p, err := n.getPort(ctx, n.admin, portID)
	if errors.Is(err, ErrNetworkNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	profile := map[string]any{}
	for k, v := range p.Profile {
		profile[k] = v
	}
	for _, k := range profileKeysOfDevice {
		delete(profile, k)
	}
	b := portBody{"device_id": "", "device_owner": "", "binding:host_id": nil, "binding:profile": profile}
	dnsExt, err := n.hasExtension(ctx, "dns-integration")
	if err != nil {
		return err
	}
	if dnsExt {
		var nw neutronNetwork
		err := networks.Get(ctx, n.admin, p.NetworkID).ExtractInto(&nw)
		if err != nil && !gophercloud.ResponseCodeIs(err, 404) {
			return neutronError("show network "+p.NetworkID, err, nil)
		}
		if nw.DNSDomain == "" {
			b["dns_name"] = ""
		}
	}
	if _, err := updatePort(ctx, n.admin, portID, b); err != nil && !gophercloud.ResponseCodeIs(err, 404) {
		return neutronError("unbind port "+portID, err, nil)
	}
	return nil
}

// deletePort deletes a port; one that is gone is fine.
func (n *Neutron) deletePort(ctx context.Context, id string) error {
	if err := ports.Delete(ctx, n.admin, id).ExtractErr(); err != nil && !gophercloud.ResponseCodeIs(err, 404) {
		return neutronError("delete port "+id, err, nil)
	}
	return nil
}

func (n *Neutron) getPort(ctx context.Context, c *gophercloud.ServiceClient, id string) (*neutronPort, error) {
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

func (n *Neutron) listPorts(ctx context.Context, q neutronQuery) ([]neutronPort, error) {
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

func (n *Neutron) listNetworks(ctx context.Context, c *gophercloud.ServiceClient, q neutronQuery) ([]neutronNetwork, error) {
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
func (n *Neutron) hasExtension(ctx context.Context, alias string) (bool, error) {
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
