package neutron

// Building nova's network model (network_info) from Neutron's ports, networks and subnets.

import (
	"net/netip"

	"github.com/novalet/novalet/netmodel"
)

// buildVIF is nova's _build_vif_model for one port.
func buildVIF(f vifFacts) netmodel.VIF {
	p := f.Port
	fixed := make([]netmodel.FixedIP, 0, len(p.FixedIPs))
	for _, fip := range p.FixedIPs {
		ip := netmodel.FixedIP{IP: newIP(fip.IPAddress, "fixed"), FloatingIPs: []netmodel.IP{}}
		for _, fl := range f.FloatingIPs[fip.IPAddress] {
			fl := newIP(fl, "floating")
			if !containsIP(ip.FloatingIPs, fl) {
				ip.FloatingIPs = append(ip.FloatingIPs, fl)
			}
		}
		fixed = append(fixed, ip)
	}

	network := buildNetwork(f)
	if len(p.FixedIPs) > 0 {
		for _, s := range f.Subnets {
			sub := buildSubnet(s, f.DHCPPorts)
			for _, ip := range fixed {
				if inCIDR(ip.Address, sub.CIDR) {
					sub.IPs = append(sub.IPs, ip)
				}
			}
			network.Subnets = append(network.Subnets, sub)
		}
	}

	details := p.VIFDetails
	if details == nil {
		details = map[string]any{}
	}
	profile := p.Profile
	if profile == nil {
		profile = map[string]any{}
	}
	vnic := p.VNICType
	if vnic == "" {
		vnic = "normal"
	}
	var ovsID *string
	if ovsPlugged(p) {
		ovsID = &p.ID
	}
	return netmodel.VIF{
		ID:               p.ID,
		Address:          p.MACAddress,
		Network:          network,
		Type:             p.VIFType,
		Details:          details,
		Devname:          netmodel.TapName(p.ID),
		OVSInterfaceID:   ovsID,
		Active:           !p.AdminStateUp || p.Status == "ACTIVE",
		VNICType:         vnic,
		Profile:          profile,
		PreserveOnDelete: f.Preexisting,
		DelegateCreate:   true,
		Meta:             map[string]any{},
	}
}

// ovsPlugged says whether nova gives the VIF an ovs_interfaceid (OVS-plugged types).
func ovsPlugged(p neutronPort) bool {
	switch p.VIFType {
	case netmodel.VIFTypeOVS, netmodel.VIFTypeAgilioOVS:
		return true
	case netmodel.VIFTypeVhostUser:
		return detailBool(p.VIFDetails, "vhostuser_ovs_plug")
	}
	return false
}

// buildNetwork is nova's _nw_info_build_network, without the subnets.
func buildNetwork(f vifFacts) *netmodel.Network {
	p := f.Port
	n := &netmodel.Network{ID: p.NetworkID, Subnets: []netmodel.Subnet{}}
	n.Meta = netmodel.NetworkMeta{TenantID: p.TenantID, PhysicalNetwork: f.PhysicalNetwork, Tunneled: f.Tunneled}
	if f.Network != nil {
		name := f.Network.Name
		n.Label = &name
		n.Meta.TenantID = f.Network.TenantID
		n.Meta.MTU = f.Network.MTU
	}
	bridgeName, hasName := p.VIFDetails["bridge_name"].(string)
	var bridge string
	switch {
	case p.VIFType == netmodel.VIFTypeOVS || p.VIFType == netmodel.VIFTypeAgilioOVS:
		bridge = netmodel.DefaultOVSBridge
	case p.VIFType == netmodel.VIFTypeBridge:
		bridge = "brq" + p.NetworkID
		yes := true
		n.Meta.ShouldCreateBridge = &yes
	case p.VIFType == netmodel.VIFTypeDVS:
		// The DVS port group name contains the whole network id: not cut.
		n.Bridge = &p.NetworkID
		return n
	case p.VIFType == netmodel.VIFTypeVhostUser && detailBool(p.VIFDetails, "vhostuser_ovs_plug"):
		bridge = netmodel.DefaultOVSBridge
	case p.VIFType == netmodel.VIFTypeVhostUser && detailBool(p.VIFDetails, "vhostuser_fp_plug"):
		bridge = "brq" + p.NetworkID
	default:
		return n
	}
	if hasName {
		bridge = bridgeName
	}
	bridge = truncateName(bridge, netmodel.NICNameLen)
	n.Bridge = &bridge
	return n
}

// buildSubnet is one subnet of nova's _get_subnets_from_port, without its IPs.
func buildSubnet(s neutronSubnet, dhcpPorts []neutronPort) netmodel.Subnet {
	gw := newIP(strOrEmpty(s.GatewayIP), "gateway")
	sub := netmodel.Subnet{CIDR: s.CIDR, Gateway: &gw, DNS: []netmodel.IP{}, IPs: []netmodel.FixedIP{}, Routes: []netmodel.Route{},
		Version: cidrVersion(s.CIDR), Meta: netmodel.SubnetMeta{}}
	if mode := strOrEmpty(s.IPv6AddressMode); mode != "" {
		sub.Meta["ipv6_address_mode"] = mode
	}
	// nova scans every DHCP port and keeps the last match, so a later port wins.
	for _, dp := range dhcpPorts {
		if dp.NetworkID != "" && dp.NetworkID != s.NetworkID {
			continue
		}
		for _, ip := range dp.FixedIPs {
			if ip.SubnetID == s.ID {
				sub.Meta["dhcp_server"] = ip.IPAddress
				break
			}
		}
	}
	// With DHCP on but no DHCP port (yet), nova names the gateway as the DHCP server so
	// that the metadata keeps saying "dhcp"; without a gateway that is None (null).
	if _, ok := sub.Meta["dhcp_server"]; s.EnableDHCP && !ok {
		var gw any
		if s.GatewayIP != nil {
			gw = *s.GatewayIP
		}
		sub.Meta["dhcp_server"] = gw
	}
	for _, d := range s.DNSNameservers {
		ip := newIP(d, "dns")
		if !containsIP(sub.DNS, ip) {
			sub.DNS = append(sub.DNS, ip)
		}
	}
	for _, r := range s.HostRoutes {
		gw := newIP(r.NextHop, "gateway")
		route := netmodel.Route{CIDR: r.Destination, Gateway: &gw, Meta: map[string]any{}}
		dup := false
		for _, have := range sub.Routes {
			dup = dup || (have.CIDR == route.CIDR && have.Gateway.Address == gw.Address)
		}
		if !dup {
			sub.Routes = append(sub.Routes, route)
		}
	}
	return sub
}

// newIP is model.IP(address, type): the version comes from the address.
func newIP(addr, typ string) netmodel.IP {
	ip := netmodel.IP{Address: addr, Type: typ, Meta: map[string]any{}}
	if a, err := netip.ParseAddr(addr); err == nil {
		ip.Version = 6
		if a.Is4() {
			ip.Version = 4
		}
	}
	return ip
}

// containsIP is model.IP equality (address, type, version).
func containsIP(ips []netmodel.IP, ip netmodel.IP) bool {
	for _, have := range ips {
		if have.Address == ip.Address && have.Type == ip.Type && have.Version == ip.Version {
			return true
		}
	}
	return false
}

func cidrVersion(cidr string) int {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return 0
	}
	if p.Addr().Is4() {
		return 4
	}
	return 6
}

func inCIDR(addr, cidr string) bool {
	a, err1 := netip.ParseAddr(addr)
	p, err2 := netip.ParsePrefix(cidr)
	return err1 == nil && err2 == nil && p.Contains(a)
}

func truncateName(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func strOrEmpty(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func detailBool(details map[string]any, key string) bool {
	b, _ := details[key].(bool)
	return b
}

// vifFacts is everything Neutron says about one bound port that its VIF is built from.
type vifFacts struct {
	Port neutronPort
	// Network is the port's network as the project's network list shows it; nil when the
	// network was not in that list (nova then uses the port's tenant and no label).
	Network *neutronNetwork
	// Subnets are the subnets of the port's fixed IPs, in Neutron's order.
	Subnets []neutronSubnet
	// DHCPPorts are the network:dhcp ports of the subnets' networks.
	DHCPPorts []neutronPort
	// FloatingIPs maps a fixed address to the floating addresses associated with it.
	FloatingIPs map[string][]string
	// PhysicalNetwork and Tunneled describe the network's segment.
	PhysicalNetwork *string
	Tunneled        bool
	// Preexisting is true for a port the user passed in (nova's preserve_on_delete).
	Preexisting bool
}
