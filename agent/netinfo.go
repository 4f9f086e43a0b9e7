package agent

// This file holds the instance's network_info (the InstanceInfoCache list nova keeps per
// instance, PROTOCOL.md §7.3), built from Neutron's ports, networks and subnets exactly as
// nova.network.neutron._build_vif_model and nova.network.model do, and the network_data.json
// that the config drive and the metadata API derive from it (nova.virt.netutils, §9.2).

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// nicNameLen is nova's NIC_NAME_LEN: Linux interface names (bridge, tap) are cut to 14 chars.
const nicNameLen = 14

// VIF types nova knows by name; linuxbridge binds with "bridge".
const (
	vifTypeBridge        = "bridge"
	vifTypeOVS           = "ovs"
	vifTypeAgilioOVS     = "agilio_ovs"
	vifTypeDVS           = "dvs"
	vifTypeVhostUser     = "vhostuser"
	vifTypeBindingFailed = "binding_failed"
)

// defaultOVSBridge is nova's [neutron] ovs_bridge default, used for OVS VIFs without a
// bridge_name detail.
const defaultOVSBridge = "br-int"

// VIFInfo is one entry of an instance's network_info, with nova's JSON keys. It is what the
// info cache stores (as a JSON string), what the domain's interfaces and the tap plumbing are
// built from, and what DeallocateForInstance reads back to know which ports to keep.
type VIFInfo struct {
	ID             string         `json:"id"`
	Address        string         `json:"address"`
	Network        *VIFNetwork    `json:"network"`
	Type           string         `json:"type"`
	Details        map[string]any `json:"details"`
	Devname        string         `json:"devname"`
	OVSInterfaceID *string        `json:"ovs_interfaceid"`
	QbhParams      map[string]any `json:"qbh_params"`
	QbgParams      map[string]any `json:"qbg_params"`
	// Active is true once Neutron reports the port ACTIVE (or it is administratively down);
	// an inactive VIF is one whose network-vif-plugged event the build waits for.
	Active   bool           `json:"active"`
	VNICType string         `json:"vnic_type"`
	Profile  map[string]any `json:"profile"`
	// PreserveOnDelete marks a port the user created: on delete it is unbound, not deleted.
	PreserveOnDelete bool           `json:"preserve_on_delete"`
	DelegateCreate   bool           `json:"delegate_create"`
	Meta             map[string]any `json:"meta"`
}

// VIFNetwork is the VIF's network with the subnets the port has addresses in.
type VIFNetwork struct {
	ID      string      `json:"id"`
	Bridge  *string     `json:"bridge"`
	Label   *string     `json:"label"`
	Subnets []VIFSubnet `json:"subnets"`
	Meta    NetworkMeta `json:"meta"`
}

// NetworkMeta is the network's "meta" dict.
type NetworkMeta struct {
	Injected           bool    `json:"injected"`
	TenantID           string  `json:"tenant_id"`
	MTU                *int    `json:"mtu"`
	PhysicalNetwork    *string `json:"physical_network"`
	Tunneled           bool    `json:"tunneled"`
	ShouldCreateBridge *bool   `json:"should_create_bridge,omitempty"`
}

// VIFSubnet is one subnet of the VIF's network.
type VIFSubnet struct {
	CIDR    string     `json:"cidr"`
	DNS     []IP       `json:"dns"`
	Gateway *IP        `json:"gateway"`
	IPs     []FixedIP  `json:"ips"`
	Routes  []VIFRoute `json:"routes"`
	Version int        `json:"version"`
	Meta    SubnetMeta `json:"meta"`
}

// SubnetMeta is the subnet's "meta" dict: "dhcp_server" when the subnet has DHCP (null when
// DHCP is on but neither a DHCP port nor a gateway exists, as in nova) and
// "ipv6_address_mode" when set. A map keeps whatever else a cache written by nova holds.
type SubnetMeta map[string]any

// DHCPServer is the subnet's DHCP server address, "" when none (absent or null).
func (m SubnetMeta) DHCPServer() string { s, _ := m["dhcp_server"].(string); return s }

// IPv6AddressMode is the subnet's ipv6_address_mode (slaac, dhcpv6-stateful, ...), "" when none.
func (m SubnetMeta) IPv6AddressMode() string { s, _ := m["ipv6_address_mode"].(string); return s }

// MarshalJSON writes {} for no meta, never null.
func (m SubnetMeta) MarshalJSON() ([]byte, error) {
	if m == nil {
		return []byte("{}"), nil
	}
	return json.Marshal(map[string]any(m))
}

// IP is nova's model.IP; an empty Address or a zero Version is JSON null, as in nova (a
// subnet without gateway has a gateway IP with a null address).
type IP struct {
	Address string
	Type    string
	Version int
	Meta    map[string]any
}

// FixedIP is nova's model.FixedIP: an IP of type "fixed" with its floating IPs.
type FixedIP struct {
	IP
	FloatingIPs []IP
}

// VIFRoute is nova's model.Route (a subnet host route).
type VIFRoute struct {
	CIDR      string         `json:"cidr"`
	Gateway   *IP            `json:"gateway"`
	Interface *string        `json:"interface"`
	Meta      map[string]any `json:"meta"`
}

type ipJSON struct {
	Address *string        `json:"address"`
	Type    *string        `json:"type"`
	Version *int           `json:"version"`
	Meta    map[string]any `json:"meta"`
}

func (ip IP) wire() ipJSON {
	w := ipJSON{Meta: ip.Meta}
	if ip.Address != "" {
		w.Address = &ip.Address
	}
	if ip.Type != "" {
		w.Type = &ip.Type
	}
	if ip.Version != 0 {
		w.Version = &ip.Version
	}
	if w.Meta == nil {
		w.Meta = map[string]any{}
	}
	return w
}

func (w ipJSON) ip() IP {
	ip := IP{Meta: w.Meta}
	if w.Address != nil {
		ip.Address = *w.Address
	}
	if w.Type != nil {
		ip.Type = *w.Type
	}
	if w.Version != nil {
		ip.Version = *w.Version
	}
	return ip
}

// MarshalJSON writes nova's keys, with nulls where nova has None.
func (ip IP) MarshalJSON() ([]byte, error) { return json.Marshal(ip.wire()) }

// UnmarshalJSON reads nova's keys.
func (ip *IP) UnmarshalJSON(b []byte) error {
	var w ipJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*ip = w.ip()
	return nil
}

type fixedIPJSON struct {
	ipJSON
	FloatingIPs []IP `json:"floating_ips"`
}

// MarshalJSON writes the IP keys plus floating_ips (never null).
func (f FixedIP) MarshalJSON() ([]byte, error) {
	w := fixedIPJSON{ipJSON: f.IP.wire(), FloatingIPs: f.FloatingIPs}
	if w.FloatingIPs == nil {
		w.FloatingIPs = []IP{}
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads the IP keys plus floating_ips.
func (f *FixedIP) UnmarshalJSON(b []byte) error {
	var w fixedIPJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*f = FixedIP{IP: w.ip(), FloatingIPs: w.FloatingIPs}
	return nil
}

// BridgeName is the Linux bridge the VIF's tap belongs in ("" when the VIF has none).
func (v VIFInfo) BridgeName() string {
	if v.Network == nil || v.Network.Bridge == nil {
		return ""
	}
	return *v.Network.Bridge
}

// MTU is the network's MTU, 0 when Neutron gave none.
func (v VIFInfo) MTU() int {
	if v.Network == nil || v.Network.Meta.MTU == nil {
		return 0
	}
	return *v.Network.Meta.MTU
}

// MarshalNetworkInfo renders network_info as the JSON string the InstanceInfoCache holds; no
// VIFs is "[]".
func MarshalNetworkInfo(vifs []VIFInfo) (string, error) {
	if vifs == nil {
		vifs = []VIFInfo{}
	}
	b, err := json.Marshal(vifs)
	if err != nil {
		return "", fmt.Errorf("network_info: %w", err)
	}
	return string(b), nil
}

// ParseNetworkInfo reads an InstanceInfoCache network_info string (ours or nova's); an empty
// string or "null" is no VIFs.
func ParseNetworkInfo(s string) ([]VIFInfo, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var vifs []VIFInfo
	if err := json.Unmarshal([]byte(s), &vifs); err != nil {
		return nil, fmt.Errorf("network_info: %w", err)
	}
	return vifs, nil
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

// buildVIF is nova's _build_vif_model for one port.
func buildVIF(f vifFacts) VIFInfo {
	p := f.Port
	fixed := make([]FixedIP, 0, len(p.FixedIPs))
	for _, fip := range p.FixedIPs {
		ip := FixedIP{IP: newIP(fip.IPAddress, "fixed"), FloatingIPs: []IP{}}
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
	return VIFInfo{
		ID:               p.ID,
		Address:          p.MACAddress,
		Network:          network,
		Type:             p.VIFType,
		Details:          details,
		Devname:          truncateName("tap"+p.ID, nicNameLen),
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
	case vifTypeOVS, vifTypeAgilioOVS:
		return true
	case vifTypeVhostUser:
		return detailBool(p.VIFDetails, "vhostuser_ovs_plug")
	}
	return false
}

// buildNetwork is nova's _nw_info_build_network, without the subnets.
func buildNetwork(f vifFacts) *VIFNetwork {
	p := f.Port
	n := &VIFNetwork{ID: p.NetworkID, Subnets: []VIFSubnet{}}
	n.Meta = NetworkMeta{TenantID: p.TenantID, PhysicalNetwork: f.PhysicalNetwork, Tunneled: f.Tunneled}
	if f.Network != nil {
		name := f.Network.Name
		n.Label = &name
		n.Meta.TenantID = f.Network.TenantID
		n.Meta.MTU = f.Network.MTU
	}
	bridgeName, hasName := p.VIFDetails["bridge_name"].(string)
	var bridge string
	switch {
	case p.VIFType == vifTypeOVS || p.VIFType == vifTypeAgilioOVS:
		bridge = defaultOVSBridge
	case p.VIFType == vifTypeBridge:
		bridge = "brq" + p.NetworkID
		yes := true
		n.Meta.ShouldCreateBridge = &yes
	case p.VIFType == vifTypeDVS:
		// The DVS port group name contains the whole network id: not cut.
		n.Bridge = &p.NetworkID
		return n
	case p.VIFType == vifTypeVhostUser && detailBool(p.VIFDetails, "vhostuser_ovs_plug"):
		bridge = defaultOVSBridge
	case p.VIFType == vifTypeVhostUser && detailBool(p.VIFDetails, "vhostuser_fp_plug"):
		bridge = "brq" + p.NetworkID
	default:
		return n
	}
	if hasName {
		bridge = bridgeName
	}
	bridge = truncateName(bridge, nicNameLen)
	n.Bridge = &bridge
	return n
}

// buildSubnet is one subnet of nova's _get_subnets_from_port, without its IPs.
func buildSubnet(s neutronSubnet, dhcpPorts []neutronPort) VIFSubnet {
	gw := newIP(strOrEmpty(s.GatewayIP), "gateway")
	sub := VIFSubnet{CIDR: s.CIDR, Gateway: &gw, DNS: []IP{}, IPs: []FixedIP{}, Routes: []VIFRoute{},
		Version: cidrVersion(s.CIDR), Meta: SubnetMeta{}}
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
		route := VIFRoute{CIDR: r.Destination, Gateway: &gw, Meta: map[string]any{}}
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
func newIP(addr, typ string) IP {
	ip := IP{Address: addr, Type: typ, Meta: map[string]any{}}
	if a, err := netip.ParseAddr(addr); err == nil {
		ip.Version = 6
		if a.Is4() {
			ip.Version = 4
		}
	}
	return ip
}

// containsIP is model.IP equality (address, type, version).
func containsIP(ips []IP, ip IP) bool {
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

// NetworkData is network_data.json (nova.virt.netutils.get_network_metadata).
type NetworkData struct {
	Links    []NetworkDataLink    `json:"links"`
	Networks []NetworkDataNetwork `json:"networks"`
	Services []NetworkDataService `json:"services"`
}

// NetworkDataLink is one guest NIC.
type NetworkDataLink struct {
	ID                 string `json:"id"`
	VIFID              string `json:"vif_id"`
	Type               string `json:"type"`
	MTU                *int   `json:"mtu"`
	EthernetMACAddress string `json:"ethernet_mac_address"`
}

// NetworkDataNetwork is one L3 network of a link: "ipv4_dhcp"-style entries carry only id,
// type, link and network_id; static ones also the address, netmask, routes and services.
type NetworkDataNetwork struct {
	ID        string
	Type      string
	Link      string
	NetworkID string
	Static    bool
	IPAddress string
	Netmask   string
	Routes    []NetworkDataRoute
	Services  []NetworkDataService
}

// NetworkDataRoute is one route of a static network.
type NetworkDataRoute struct {
	Network string `json:"network"`
	Netmask string `json:"netmask"`
	Gateway string `json:"gateway"`
}

// NetworkDataService is a DNS server.
type NetworkDataService struct {
	Type    string `json:"type"`
	Address string `json:"address"`
}

// MarshalJSON writes the keys nova writes for the network's kind.
func (n NetworkDataNetwork) MarshalJSON() ([]byte, error) {
	m := map[string]any{"id": n.ID, "type": n.Type, "link": n.Link, "network_id": n.NetworkID}
	if n.Static {
		routes, services := n.Routes, n.Services
		if routes == nil {
			routes = []NetworkDataRoute{}
		}
		if services == nil {
			services = []NetworkDataService{}
		}
		m["ip_address"], m["netmask"], m["routes"], m["services"] = n.IPAddress, n.Netmask, routes, services
	}
	return json.Marshal(m)
}

// legacyExposedVIFTypes are the VIF types network_data.json names; others are "phy".
var legacyExposedVIFTypes = map[string]bool{vifTypeBridge: true, vifTypeDVS: true, "hw_veb": true,
	"hyperv": true, vifTypeOVS: true, "tap": true, vifTypeVhostUser: true, "vif": true}

// BuildNetworkData is get_network_metadata: nil when there are no VIFs (the metadata then
// says "{}"), else one link per VIF with subnets, the first IPv4 and the first IPv6 subnet
// with addresses as networks, and the subnets' DNS servers as services.
func BuildNetworkData(vifs []VIFInfo) *NetworkData {
	if len(vifs) == 0 {
		return nil
	}
	nd := &NetworkData{Links: []NetworkDataLink{}, Networks: []NetworkDataNetwork{}, Services: []NetworkDataService{}}
	ifc, netNum := -1, -1
	for _, vif := range vifs {
		if vif.Network == nil || len(vif.Network.Subnets) == 0 {
			continue
		}
		v4, v6 := firstSubnet(vif.Network, 4), firstSubnet(vif.Network, 6)
		ifc++
		if v4 == nil && v6 == nil {
			continue
		}
		link := ethLink(vif, ifc)
		nd.Links = append(nd.Links, link)
		for _, s := range []struct {
			sub     *VIFSubnet
			version int
		}{{v4, 4}, {v6, 6}} {
			if s.sub == nil || len(s.sub.IPs) == 0 {
				continue
			}
			netNum++
			nd.Networks = append(nd.Networks, dataNetwork(vif, s.sub, s.version, netNum, link.ID))
			for _, d := range dnsServices(s.sub) {
				dup := false
				for _, have := range nd.Services {
					dup = dup || have == d
				}
				if !dup {
					nd.Services = append(nd.Services, d)
				}
			}
		}
	}
	return nd
}

// NetworkDataJSON is the content of openstack/<version>/network_data.json.
func NetworkDataJSON(vifs []VIFInfo) ([]byte, error) {
	nd := BuildNetworkData(vifs)
	if nd == nil {
		return []byte("{}"), nil
	}
	b, err := json.Marshal(nd)
	if err != nil {
		return nil, fmt.Errorf("network_data.json: %w", err)
	}
	return b, nil
}

func firstSubnet(n *VIFNetwork, version int) *VIFSubnet {
	for i := range n.Subnets {
		if n.Subnets[i].Version == version {
			return &n.Subnets[i]
		}
	}
	return nil
}

func ethLink(vif VIFInfo, ifc int) NetworkDataLink {
	id := vif.Devname
	if id == "" {
		id = fmt.Sprintf("interface%d", ifc)
	}
	typ := "phy"
	if legacyExposedVIFTypes[vif.Type] {
		typ = vif.Type
	}
	link := NetworkDataLink{ID: id, VIFID: vif.ID, Type: typ, EthernetMACAddress: vif.Address}
	// With DHCP the guest learns the MTU from DHCP, so nova leaves it out.
	dhcp := false
	for _, s := range vif.Network.Subnets {
		dhcp = dhcp || s.Meta.DHCPServer() != ""
	}
	if !dhcp {
		link.MTU = vif.Network.Meta.MTU
	}
	return link
}

func dataNetwork(vif VIFInfo, sub *VIFSubnet, version, netNum int, linkID string) NetworkDataNetwork {
	n := NetworkDataNetwork{ID: fmt.Sprintf("network%d", netNum), Link: linkID, NetworkID: vif.Network.ID}
	suffix := ""
	switch {
	case sub.Meta.IPv6AddressMode() != "":
		suffix = "_" + sub.Meta.IPv6AddressMode()
	case sub.Meta.DHCPServer() != "":
		n.Type = fmt.Sprintf("ipv%d_dhcp", version)
		return n
	}
	n.Type = fmt.Sprintf("ipv%d%s", version, suffix)
	n.Static = true
	n.IPAddress = sub.IPs[0].Address
	n.Netmask = maskString(sub.CIDR)
	n.Routes = []NetworkDataRoute{}
	if sub.Gateway != nil && sub.Gateway.Address != "" {
		any := "0.0.0.0"
		if version == 6 {
			any = "::"
		}
		n.Routes = append(n.Routes, NetworkDataRoute{Network: any, Netmask: any, Gateway: sub.Gateway.Address})
	}
	for _, r := range sub.Routes {
		rn := NetworkDataRoute{Network: prefixNetwork(r.CIDR), Netmask: maskString(r.CIDR)}
		if r.Gateway != nil {
			rn.Gateway = r.Gateway.Address
		}
		n.Routes = append(n.Routes, rn)
	}
	n.Services = dnsServices(sub)
	return n
}

func dnsServices(sub *VIFSubnet) []NetworkDataService {
	out := []NetworkDataService{}
	for _, d := range sub.DNS {
		out = append(out, NetworkDataService{Type: "dns", Address: d.Address})
	}
	return out
}

// maskString is the prefix's mask written as an address (255.255.255.0, ffff:ffff:ffff:ffff::).
func maskString(cidr string) string {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return ""
	}
	bits := 32
	if !p.Addr().Is4() {
		bits = 128
	}
	return net.IP(net.CIDRMask(p.Bits(), bits)).String()
}

func prefixNetwork(cidr string) string {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return ""
	}
	return p.Masked().Addr().String()
}
