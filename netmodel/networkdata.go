package netmodel

// The config drive's network_data.json, as nova/virt/netutils.py get_network_metadata makes it.

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
)

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
var legacyExposedVIFTypes = map[string]bool{VIFTypeBridge: true, VIFTypeDVS: true, "hw_veb": true,
	"hyperv": true, VIFTypeOVS: true, "tap": true, VIFTypeVhostUser: true, "vif": true}

// BuildNetworkData is get_network_metadata: nil when there are no VIFs (the metadata then
// says "{}"), else one link per VIF with subnets, the first IPv4 and the first IPv6 subnet
// with addresses as networks, and the subnets' DNS servers as services.
func BuildNetworkData(vifs []VIF) *NetworkData {
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
			sub     *Subnet
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
func NetworkDataJSON(vifs []VIF) ([]byte, error) {
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

func firstSubnet(n *Network, version int) *Subnet {
	for i := range n.Subnets {
		if n.Subnets[i].Version == version {
			return &n.Subnets[i]
		}
	}
	return nil
}

func ethLink(vif VIF, ifc int) NetworkDataLink {
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

func dataNetwork(vif VIF, sub *Subnet, version, netNum int, linkID string) NetworkDataNetwork {
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

func dnsServices(sub *Subnet) []NetworkDataService {
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
