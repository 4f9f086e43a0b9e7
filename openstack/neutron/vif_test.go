package neutron

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/novalet/novalet/netmodel"
)

// protocolVIF is the real nova 26.2.2 network_info entry of PROTOCOL.md §7.3.
const protocolVIF = `{"id": "0c1d2e3f-aaaa-bbbb-cccc-ddddeeeeffff", "address": "fa:16:3e:12:34:56",
  "network": {"id": "5b3a7f8e-1111-2222-3333-444455556666", "bridge": "brq5b3a7f8e-11",
              "label": "provider",
              "subnets": [{"cidr": "192.0.2.0/24",
                           "dns": [{"address": "192.0.2.1", "type": "dns", "version": 4, "meta": {}}],
                           "gateway": {"address": "192.0.2.1", "type": "gateway", "version": 4, "meta": {}},
                           "ips": [{"address": "192.0.2.10", "type": "fixed", "version": 4, "meta": {},
                                    "floating_ips": []}],
                           "routes": [], "version": 4, "meta": {"dhcp_server": "192.0.2.2"}}],
              "meta": {"injected": false, "tenant_id": "aaaa", "mtu": 1500,
                       "physical_network": "provider", "tunneled": false,
                       "should_create_bridge": true}},
  "type": "bridge", "details": {"port_filter": true, "connectivity": "l2"},
  "devname": "tap0c1d2e3f-aa", "ovs_interfaceid": null, "qbh_params": null, "qbg_params": null,
  "active": false, "vnic_type": "normal", "profile": {}, "preserve_on_delete": false,
  "delegate_create": true, "meta": {}}`

func refOf[T any](v T) *T { return &v }

// protocolFacts is what Neutron says about the port of protocolVIF.
func protocolFacts() vifFacts {
	p := neutronPort{ID: "0c1d2e3f-aaaa-bbbb-cccc-ddddeeeeffff", NetworkID: "5b3a7f8e-1111-2222-3333-444455556666",
		TenantID: "aaaa", MACAddress: "fa:16:3e:12:34:56", AdminStateUp: true, Status: "DOWN",
		VIFType: "bridge", VIFDetails: map[string]any{"port_filter": true, "connectivity": "l2"},
		VNICType: "normal", Profile: map[string]any{}}
	p.FixedIPs = append(p.FixedIPs, struct {
		SubnetID  string `json:"subnet_id"`
		IPAddress string `json:"ip_address"`
	}{"sub-1", "192.0.2.10"})
	dhcp := neutronPort{ID: "dhcp", NetworkID: p.NetworkID, DeviceOwner: "network:dhcp"}
	dhcp.FixedIPs = append(dhcp.FixedIPs, struct {
		SubnetID  string `json:"subnet_id"`
		IPAddress string `json:"ip_address"`
	}{"sub-1", "192.0.2.2"})
	return vifFacts{
		Port:    p,
		Network: &neutronNetwork{ID: p.NetworkID, Name: "provider", TenantID: "aaaa", MTU: refOf(1500)},
		Subnets: []neutronSubnet{{ID: "sub-1", NetworkID: p.NetworkID, CIDR: "192.0.2.0/24", GatewayIP: refOf("192.0.2.1"),
			EnableDHCP: true, DNSNameservers: []string{"192.0.2.1"}}},
		DHCPPorts:       []neutronPort{dhcp},
		FloatingIPs:     map[string][]string{},
		PhysicalNetwork: refOf("provider"),
	}
}

// jsonEqual compares two JSON documents as values (key order is irrelevant).
func jsonEqual(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("got invalid JSON %s: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want invalid JSON %s: %v", want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("JSON differs\n got: %s\nwant: %s", got, want)
	}
}

func TestNetInfoBuildVIFMatchesProtocolExample(t *testing.T) {
	vif := buildVIF(protocolFacts())
	b, err := json.Marshal(vif)
	if err != nil {
		t.Fatal(err)
	}
	jsonEqual(t, b, protocolVIF)
	if vif.BridgeName() != "brq5b3a7f8e-11" || vif.MTU() != 1500 || vif.Devname != "tap0c1d2e3f-aa" {
		t.Fatalf("bridge %q mtu %d devname %q", vif.BridgeName(), vif.MTU(), vif.Devname)
	}
}

func TestNetInfoParseRoundTrip(t *testing.T) {
	vifs, err := netmodel.ParseNetworkInfo("[" + protocolVIF + "]")
	if err != nil {
		t.Fatal(err)
	}
	if len(vifs) != 1 || vifs[0].Network.Subnets[0].Meta.DHCPServer() != "192.0.2.2" || vifs[0].PreserveOnDelete {
		t.Fatalf("parsed %+v", vifs)
	}
	s, err := netmodel.MarshalNetworkInfo(vifs)
	if err != nil {
		t.Fatal(err)
	}
	jsonEqual(t, []byte(s), "["+protocolVIF+"]")

	for _, empty := range []string{"", "[]", "null"} {
		vifs, err := netmodel.ParseNetworkInfo(empty)
		if err != nil || len(vifs) != 0 {
			t.Fatalf("netmodel.ParseNetworkInfo(%q) = %v, %v", empty, vifs, err)
		}
	}
	if s, _ := netmodel.MarshalNetworkInfo(nil); s != "[]" {
		t.Fatalf("no VIFs marshal to %q", s)
	}
	if _, err := netmodel.ParseNetworkInfo("{"); err == nil {
		t.Fatal("bad JSON parsed")
	}
}

func TestNetInfoNoGatewayNoDHCPFloatingAndRoutes(t *testing.T) {
	f := protocolFacts()
	f.Subnets[0].GatewayIP = nil
	f.Subnets[0].EnableDHCP = false
	f.Subnets[0].HostRoutes = append(f.Subnets[0].HostRoutes, struct {
		Destination string `json:"destination"`
		NextHop     string `json:"nexthop"`
	}{"10.10.0.0/16", "192.0.2.254"})
	f.DHCPPorts = nil
	f.FloatingIPs["192.0.2.10"] = []string{"203.0.113.7"}
	f.Port.Status, f.Port.AdminStateUp = "ACTIVE", true
	f.Preexisting = true
	b, _ := json.Marshal(buildVIF(f))
	var got map[string]any
	json.Unmarshal(b, &got)
	sub := got["network"].(map[string]any)["subnets"].([]any)[0].(map[string]any)
	if !reflect.DeepEqual(sub["gateway"], map[string]any{"address": nil, "type": "gateway", "version": nil, "meta": map[string]any{}}) {
		t.Fatalf("gateway %v", sub["gateway"])
	}
	if !reflect.DeepEqual(sub["meta"], map[string]any{}) {
		t.Fatalf("subnet meta %v", sub["meta"])
	}
	wantRoute := map[string]any{"cidr": "10.10.0.0/16", "interface": nil, "meta": map[string]any{},
		"gateway": map[string]any{"address": "192.0.2.254", "type": "gateway", "version": 4.0, "meta": map[string]any{}}}
	if !reflect.DeepEqual(sub["routes"], []any{wantRoute}) {
		t.Fatalf("routes %v", sub["routes"])
	}
	fl := sub["ips"].([]any)[0].(map[string]any)["floating_ips"]
	if !reflect.DeepEqual(fl, []any{map[string]any{"address": "203.0.113.7", "type": "floating", "version": 4.0, "meta": map[string]any{}}}) {
		t.Fatalf("floating ips %v", fl)
	}
	if got["active"] != true || got["preserve_on_delete"] != true {
		t.Fatalf("active %v preserve %v", got["active"], got["preserve_on_delete"])
	}
}

func TestNetInfoBridgeNameDetailAndOVS(t *testing.T) {
	f := protocolFacts()
	f.Port.VIFDetails = map[string]any{"bridge_name": "brexternal-very-long"}
	vif := buildVIF(f)
	if vif.BridgeName() != "brexternal-ver" || vif.OVSInterfaceID != nil {
		t.Fatalf("bridge %q", vif.BridgeName())
	}
	f.Port.VIFType, f.Port.VIFDetails = "ovs", nil
	vif = buildVIF(f)
	if vif.BridgeName() != "br-int" || vif.OVSInterfaceID == nil || *vif.OVSInterfaceID != f.Port.ID ||
		vif.Network.Meta.ShouldCreateBridge != nil || vif.Details == nil {
		t.Fatalf("ovs vif %+v", vif)
	}
	f.Port.VIFType = "unbound"
	if vif := buildVIF(f); vif.Network.Bridge != nil {
		t.Fatalf("unbound port has bridge %q", *vif.Network.Bridge)
	}
}

func TestNetworkDataDHCP(t *testing.T) {
	b, err := netmodel.NetworkDataJSON([]netmodel.VIF{buildVIF(protocolFacts())})
	if err != nil {
		t.Fatal(err)
	}
	jsonEqual(t, b, `{"links": [{"id": "tap0c1d2e3f-aa", "vif_id": "0c1d2e3f-aaaa-bbbb-cccc-ddddeeeeffff",
            "type": "bridge", "mtu": null, "ethernet_mac_address": "fa:16:3e:12:34:56"}],
 "networks": [{"id": "network0", "type": "ipv4_dhcp", "link": "tap0c1d2e3f-aa",
               "network_id": "5b3a7f8e-1111-2222-3333-444455556666"}],
 "services": [{"type": "dns", "address": "192.0.2.1"}]}`)
}

func TestNetworkDataStaticAndIPv6(t *testing.T) {
	f := protocolFacts()
	f.Subnets[0].EnableDHCP = false
	f.DHCPPorts = nil
	f.Subnets[0].HostRoutes = append(f.Subnets[0].HostRoutes, struct {
		Destination string `json:"destination"`
		NextHop     string `json:"nexthop"`
	}{"10.10.0.0/16", "192.0.2.254"})
	f.Port.FixedIPs = append(f.Port.FixedIPs, struct {
		SubnetID  string `json:"subnet_id"`
		IPAddress string `json:"ip_address"`
	}{"sub-6", "2001:db8::10"})
	f.Subnets = append(f.Subnets, neutronSubnet{ID: "sub-6", NetworkID: f.Port.NetworkID, CIDR: "2001:db8::/64",
		GatewayIP: refOf("2001:db8::1"), IPv6AddressMode: refOf("slaac"), DNSNameservers: []string{"192.0.2.1", "2001:db8::53"}})
	b, err := netmodel.NetworkDataJSON([]netmodel.VIF{buildVIF(f)})
	if err != nil {
		t.Fatal(err)
	}
	jsonEqual(t, b, `{"links": [{"id": "tap0c1d2e3f-aa", "vif_id": "0c1d2e3f-aaaa-bbbb-cccc-ddddeeeeffff",
            "type": "bridge", "mtu": 1500, "ethernet_mac_address": "fa:16:3e:12:34:56"}],
 "networks": [
   {"id": "network0", "type": "ipv4", "link": "tap0c1d2e3f-aa", "ip_address": "192.0.2.10",
    "netmask": "255.255.255.0", "network_id": "5b3a7f8e-1111-2222-3333-444455556666",
    "routes": [{"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": "192.0.2.1"},
               {"network": "10.10.0.0", "netmask": "255.255.0.0", "gateway": "192.0.2.254"}],
    "services": [{"type": "dns", "address": "192.0.2.1"}]},
   {"id": "network1", "type": "ipv6_slaac", "link": "tap0c1d2e3f-aa", "ip_address": "2001:db8::10",
    "netmask": "ffff:ffff:ffff:ffff::", "network_id": "5b3a7f8e-1111-2222-3333-444455556666",
    "routes": [{"network": "::", "netmask": "::", "gateway": "2001:db8::1"}],
    "services": [{"type": "dns", "address": "192.0.2.1"}, {"type": "dns", "address": "2001:db8::53"}]}],
 "services": [{"type": "dns", "address": "192.0.2.1"}, {"type": "dns", "address": "2001:db8::53"}]}`)
}

func TestNetworkDataEmpty(t *testing.T) {
	b, _ := netmodel.NetworkDataJSON(nil)
	if string(b) != "{}" {
		t.Fatalf("no VIFs: %s", b)
	}
	// A VIF without subnets gives empty lists, not "{}", as nova does.
	vif := buildVIF(protocolFacts())
	vif.Network.Subnets = nil
	b, _ = netmodel.NetworkDataJSON([]netmodel.VIF{vif})
	jsonEqual(t, b, `{"links": [], "networks": [], "services": []}`)
}
