// Package netmodel is nova's network model (nova/network/model.py): an instance's
// network_info, the list of VIFs the InstanceInfoCache keeps as JSON (PROTOCOL.md §7.3), with
// its codec; the network_data.json that the config drive and the metadata API derive from it
// (nova/virt/netutils.py, §9.2); the device names nova gives taps and bridges; and what a build
// asks of the network (requested networks, the instance's facts). openstack/neutron builds it
// from Neutron's ports; agent stores it, plugs it and defines domains from it.
package netmodel

import (
	"encoding/json"
	"fmt"
	"strings"
)

// NICNameLen is nova's NIC_NAME_LEN: Linux interface names (bridge, tap) are cut to 14 chars.
const NICNameLen = 14

// VIF types nova knows by name; linuxbridge binds with "bridge".
const (
	VIFTypeBridge        = "bridge"
	VIFTypeOVS           = "ovs"
	VIFTypeAgilioOVS     = "agilio_ovs"
	VIFTypeDVS           = "dvs"
	VIFTypeVhostUser     = "vhostuser"
	VIFTypeBindingFailed = "binding_failed"
)

// DefaultOVSBridge is nova's [neutron] ovs_bridge default, used for OVS VIFs without a
// bridge_name detail.
const DefaultOVSBridge = "br-int"

// VIF is one entry of an instance's network_info, with nova's JSON keys. It is what the
// info cache stores (as a JSON string), what the domain's interfaces and the tap plumbing are
// built from, and what DeallocateForInstance reads back to know which ports to keep.
type VIF struct {
	ID             string         `json:"id"`
	Address        string         `json:"address"`
	Network        *Network       `json:"network"`
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

// Network is the VIF's network with the subnets the port has addresses in.
type Network struct {
	ID      string      `json:"id"`
	Bridge  *string     `json:"bridge"`
	Label   *string     `json:"label"`
	Subnets []Subnet    `json:"subnets"`
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

// Subnet is one subnet of the VIF's network.
type Subnet struct {
	CIDR    string     `json:"cidr"`
	DNS     []IP       `json:"dns"`
	Gateway *IP        `json:"gateway"`
	IPs     []FixedIP  `json:"ips"`
	Routes  []Route    `json:"routes"`
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

// Route is nova's model.Route (a subnet host route).
type Route struct {
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
func (v VIF) BridgeName() string {
	if v.Network == nil || v.Network.Bridge == nil {
		return ""
	}
	return *v.Network.Bridge
}

// MTU is the network's MTU, 0 when Neutron gave none.
func (v VIF) MTU() int {
	if v.Network == nil || v.Network.Meta.MTU == nil {
		return 0
	}
	return *v.Network.Meta.MTU
}

// MarshalNetworkInfo renders network_info as the JSON string the InstanceInfoCache holds; no
// VIFs is "[]".
func MarshalNetworkInfo(vifs []VIF) (string, error) {
	if vifs == nil {
		vifs = []VIF{}
	}
	b, err := json.Marshal(vifs)
	if err != nil {
		return "", fmt.Errorf("network_info: %w", err)
	}
	return string(b), nil
}

// ParseNetworkInfo reads an InstanceInfoCache network_info string (ours or nova's); an empty
// string or "null" is no VIFs.
func ParseNetworkInfo(s string) ([]VIF, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var vifs []VIF
	if err := json.Unmarshal([]byte(s), &vifs); err != nil {
		return nil, fmt.Errorf("network_info: %w", err)
	}
	return vifs, nil
}
