package neutron

// Port allocation for a build: nova's allocate_for_instance.

import (
	"context"
	"fmt"
	"slices"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/ports"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/subnets"
	"github.com/novalet/novalet/netmodel"
)

// AllocateForInstance gives the instance a bound port for every request, in order: it checks
// pre-created ports (not attached elsewhere, same project), creates ports on requested
// networks as the user ({device_id, network_id, admin_state_up, tenant_id, [fixed_ips],
// [security_groups]}), binds every port to inst.Host with the service credentials
// ({device_id, device_owner, binding:host_id, [binding:profile], [dns_name]}), and returns
// the VIFs for network_info (inactive until Neutron reports the port up). On error nothing is
// left behind: created ports are deleted and pre-created ones unbound.
func (n *Client) AllocateForInstance(ctx context.Context, userToken string, inst netmodel.InstanceRef, requested []netmodel.RequestedNetwork) ([]netmodel.VIF, error) {
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
func (n *Client) requestedPorts(ctx context.Context, inst netmodel.InstanceRef, requested []netmodel.RequestedNetwork) ([]portSlot, error) {
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
			case p.VIFType == netmodel.VIFTypeBindingFailed:
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
func (n *Client) requestedNetworks(ctx context.Context, user *gophercloud.ServiceClient, inst netmodel.InstanceRef,
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
func (n *Client) securityGroupIDs(ctx context.Context, user *gophercloud.ServiceClient, inst netmodel.InstanceRef) ([]string, error) {
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
func (n *Client) createPort(ctx context.Context, user *gophercloud.ServiceClient, inst netmodel.InstanceRef, networkID, address string, sgIDs []string) (*neutronPort, error) {
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
	if port.VIFType == netmodel.VIFTypeBindingFailed {
		if err := n.deletePort(ctx, port.ID); err != nil {
			n.log.Error("cannot delete port whose binding failed", "port_id", port.ID, "error", err)
		}
		return nil, fmt.Errorf("%w: %w: port %s", ErrNeutron, ErrPortBindingFailed, port.ID)
	}
	return &port, nil
}

// bind is nova's _update_ports_for_instance for one port, with the service credentials.
func (n *Client) bind(ctx context.Context, user *gophercloud.ServiceClient, inst netmodel.InstanceRef, s portSlot, nw *neutronNetwork, dnsExt bool) error {
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
	if port.VIFType == netmodel.VIFTypeBindingFailed {
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
func (n *Client) networkInfo(ctx context.Context, inst netmodel.InstanceRef, slots []portSlot, nets map[string]*neutronNetwork) ([]netmodel.VIF, error) {
	current, err := n.listPorts(ctx, neutronQuery{"tenant_id": {inst.ProjectID}, "device_id": {inst.UUID}})
	if err != nil {
		return nil, err
	}
	byID := map[string]neutronPort{}
	for _, p := range current {
		byID[p.ID] = p
	}
	var vifs []netmodel.VIF
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
func (n *Client) portFacts(ctx context.Context, f *vifFacts) error {
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
func (n *Client) segment(ctx context.Context, networkID string) (*string, bool, error) {
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
func (n *Client) floatingIPs(ctx context.Context, fixed, portID string) ([]string, error) {
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
