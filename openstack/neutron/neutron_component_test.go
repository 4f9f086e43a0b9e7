//go:build component

package neutron

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/ports"

	"github.com/novalet/novalet/config"
	"github.com/novalet/novalet/internal/testenv"
	"github.com/novalet/novalet/netmodel"
)

// novaVIFScript builds VIFs with nova's own API._build_vif_model, its Neutron client replaced
// by one answering from the case's data, then hydrates them as _get_instance_nw_info does
// before the info cache is saved.
const novaVIFScript = `
import json, sys
from unittest import mock
from nova.network import neutron as nn, model
cases = json.load(sys.stdin)
out = []
for c in cases:
    class Client:
        def list_extensions(self):
            return {'extensions': [{'alias': a} for a in c['extensions']]}
        def show_network(self, net_id, fields=None):
            assert net_id == c['network_full']['id'], net_id
            if isinstance(fields, str):
                fields = [fields]
            return {'network': {k: v for k, v in c['network_full'].items() if k in fields}}
        def list_subnets(self, id=None, **kw):
            return {'subnets': [s for s in (c['subnets'] or []) if s['id'] in id]}
        def list_ports(self, network_id=None, device_owner=None, **kw):
            return {'ports': [p for p in (c['dhcp_ports'] or [])
                              if p['network_id'] == network_id and p['device_owner'] == device_owner]}
        def list_floatingips(self, fixed_ip_address=None, port_id=None):
            return {'floatingips': [{'floating_ip_address': a}
                                    for a in (c['floating'] or {}).get(fixed_ip_address, [])]}
    client = Client()
    with mock.patch.object(nn, 'get_client', return_value=client):
        out.append(nn.API()._build_vif_model(None, client, c['port'], c['networks'], c['preexisting'] or []))
print(model.NetworkInfo.hydrate(model.NetworkInfo(out).json()).json())
`

// novaNetworkDataScript runs nova's get_network_metadata on each network_info and writes what
// the metadata API and the config drive serve ("{}" when there is none).
const novaNetworkDataScript = `
import json, sys
from nova.network import model
from nova.virt import netutils
out = []
for nwinfo in json.load(sys.stdin):
    out.append(netutils.get_network_metadata(model.NetworkInfo.hydrate(nwinfo)) or {})
print(json.dumps(out))
`

func runNova(t *testing.T, script string, input any) []byte {
	t.Helper()
	testenv.RequirePython(t, "nova.network.neutron", "nova.virt.netutils")
	in, err := json.Marshal(input)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, testenv.Python, "-c", script)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("nova's python: %v\n%s", err, stderr.String())
	}
	return out
}

// novaCase is Neutron's view of one port, in Neutron's JSON, as both builders get it.
type novaCase struct {
	Port        map[string]any      `json:"port"`
	Networks    []map[string]any    `json:"networks"`
	Preexisting []string            `json:"preexisting"`
	NetworkFull map[string]any      `json:"network_full"`
	Subnets     []map[string]any    `json:"subnets"`
	DHCPPorts   []map[string]any    `json:"dhcp_ports"`
	Floating    map[string][]string `json:"floating"`
	Extensions  []string            `json:"extensions"`
}

func recode(t *testing.T, from, to any) {
	t.Helper()
	b, err := json.Marshal(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, to); err != nil {
		t.Fatal(err)
	}
}

// facts is what portFacts would gather from a Neutron holding the case's data.
func (c novaCase) facts(t *testing.T) vifFacts {
	t.Helper()
	var f vifFacts
	recode(t, c.Port, &f.Port)
	for _, n := range c.Networks {
		if n["id"] == f.Port.NetworkID {
			f.Network = new(neutronNetwork)
			recode(t, n, f.Network)
		}
	}
	want := map[string]bool{}
	for _, ip := range f.Port.FixedIPs {
		want[ip.SubnetID] = true
	}
	for _, s := range c.Subnets {
		if want[s["id"].(string)] {
			var sub neutronSubnet
			recode(t, s, &sub)
			f.Subnets = append(f.Subnets, sub)
		}
	}
	for _, p := range c.DHCPPorts {
		if p["device_owner"] == "network:dhcp" {
			var dp neutronPort
			recode(t, p, &dp)
			f.DHCPPorts = append(f.DHCPPorts, dp)
		}
	}
	f.FloatingIPs = c.Floating
	var full neutronNetwork
	recode(t, c.NetworkFull, &full)
	var err error
	if f.PhysicalNetwork, f.Tunneled, err = segmentOf(full); err != nil {
		t.Fatal(err)
	}
	f.Preexisting = slices.Contains(c.Preexisting, f.Port.ID)
	return f
}

func rawPort(id, netID string, vifType string, details map[string]any, ips ...[2]string) map[string]any {
	fixed := []any{}
	for _, ip := range ips {
		fixed = append(fixed, map[string]any{"subnet_id": ip[0], "ip_address": ip[1]})
	}
	return map[string]any{"id": id, "network_id": netID, "tenant_id": "port-tenant", "mac_address": "fa:16:3e:0a:0b:0c",
		"admin_state_up": true, "status": "DOWN", "device_id": "inst", "device_owner": "compute:nova",
		"fixed_ips": fixed, "binding:host_id": "vm", "binding:vif_type": vifType, "binding:vif_details": details,
		"binding:vnic_type": "normal", "binding:profile": map[string]any{}}
}

func rawSubnet(id, netID, cidr string, gateway any, dhcp bool, mode any, dns []any, routes []any) map[string]any {
	return map[string]any{"id": id, "network_id": netID, "cidr": cidr, "gateway_ip": gateway, "enable_dhcp": dhcp,
		"ipv6_address_mode": mode, "dns_nameservers": dns, "host_routes": routes}
}

func dhcpPort(netID, subnetID, addr string) map[string]any {
	return map[string]any{"id": "dhcp-" + addr, "network_id": netID, "device_owner": "network:dhcp",
		"fixed_ips": []any{map[string]any{"subnet_id": subnetID, "ip_address": addr}}}
}

// novaCases cover the branches of _build_vif_model and _get_subnets_from_port.
func novaCases() []novaCase {
	const net1, net2 = "5b3a7f8e-1111-2222-3333-444455556666", "77777777-8888-9999-aaaa-bbbbccccdddd"
	flat := map[string]any{"id": net1, "provider:network_type": "flat", "provider:physical_network": "provider"}
	netList := []map[string]any{{"id": net1, "name": "provider", "tenant_id": "net-tenant", "mtu": 1500}}
	ext := []string{"multi-provider", "binding"}
	bridge := map[string]any{"port_filter": true, "connectivity": "l2"}
	v4 := rawSubnet("s4", net1, "192.0.2.0/24", "192.0.2.1", true, nil, []any{"192.0.2.1"}, []any{})

	dual := rawPort("0c1d2e3f-aaaa-bbbb-cccc-ddddeeeeffff", net1, "bridge", bridge, [2]string{"s4", "192.0.2.10"},
		[2]string{"s6", "2001:db8::10"}, [2]string{"s6s", "2001:db8:1::10"})
	dual["status"] = "ACTIVE"
	routes := []any{map[string]any{"destination": "10.10.0.0/16", "nexthop": "192.0.2.254"},
		map[string]any{"destination": "10.10.0.0/16", "nexthop": "192.0.2.254"}}

	ovs := rawPort("ovs-port-0000-0000", net2, "ovs", map[string]any{"port_filter": true}, [2]string{"sx", "198.51.100.7"})
	ovs["admin_state_up"] = false

	noIPs := rawPort("bridge-named-port", net1, "bridge", map[string]any{"bridge_name": "brexternal-very-long"})
	vhost := rawPort("vhost-port", net1, "vhostuser", map[string]any{"vhostuser_ovs_plug": true}, [2]string{"s4", "192.0.2.11"})
	vhost["binding:profile"], vhost["binding:vnic_type"] = map[string]any{"trusted": "true"}, "direct"
	static := rawPort("static-port", net1, "macvtap", map[string]any{}, [2]string{"st", "203.0.113.9"})

	return []novaCase{
		{Port: rawPort("plain-port-1234567", net1, "bridge", bridge, [2]string{"s4", "192.0.2.10"}), Networks: netList,
			NetworkFull: flat, Subnets: []map[string]any{v4}, DHCPPorts: []map[string]any{dhcpPort(net1, "s4", "192.0.2.2")},
			Extensions: ext},
		{Port: dual, Networks: netList, Preexisting: []string{dual["id"].(string)}, NetworkFull: flat,
			Subnets: []map[string]any{
				rawSubnet("s4", net1, "192.0.2.0/24", "192.0.2.1", true, nil, []any{"192.0.2.53", "192.0.2.53", "192.0.2.54"}, routes),
				rawSubnet("s6", net1, "2001:db8::/64", "2001:db8::1", true, "slaac", []any{"2001:db8::53"}, []any{}),
				rawSubnet("s6s", net1, "2001:db8:1::/64", "2001:db8:1::1", true, "dhcpv6-stateful", []any{}, []any{}),
			},
			DHCPPorts: []map[string]any{dhcpPort(net1, "s4", "192.0.2.2"), dhcpPort(net1, "s4", "192.0.2.3")},
			Floating:  map[string][]string{"192.0.2.10": {"203.0.113.50", "203.0.113.51"}}, Extensions: ext},
		{Port: ovs, Networks: netList,
			NetworkFull: map[string]any{"id": net2, "provider:network_type": "vxlan", "provider:physical_network": nil},
			Subnets:     []map[string]any{rawSubnet("sx", net2, "198.51.100.0/24", nil, true, nil, []any{}, []any{})},
			Extensions:  ext},
		{Port: noIPs, Networks: netList, Extensions: ext,
			NetworkFull: map[string]any{"id": net1, "segments": []any{
				map[string]any{"provider:network_type": "vxlan", "provider:physical_network": nil},
				map[string]any{"provider:network_type": "vlan", "provider:physical_network": "phys2"}}}},
		{Port: vhost, Networks: []map[string]any{{"id": net1, "name": "no-mtu", "tenant_id": "net-tenant"}},
			NetworkFull: flat, Subnets: []map[string]any{v4}, Extensions: ext},
		{Port: rawPort("dvs-port", net1, "dvs", nil, [2]string{"s4", "192.0.2.12"}), Networks: netList,
			NetworkFull: flat, Subnets: []map[string]any{v4}, Extensions: []string{}},
		{Port: static, Networks: netList, NetworkFull: flat, Extensions: ext,
			Subnets: []map[string]any{rawSubnet("st", net1, "203.0.113.0/24", "203.0.113.1", false, nil,
				[]any{"203.0.113.53"}, []any{map[string]any{"destination": "10.20.0.0/16", "nexthop": "203.0.113.254"}})}},
	}
}

func compareNetworkInfo(t *testing.T, ours []netmodel.VIF, novas []byte) {
	t.Helper()
	s, err := netmodel.MarshalNetworkInfo(ours)
	if err != nil {
		t.Fatal(err)
	}
	var o, n []any
	json.Unmarshal([]byte(s), &o)
	if err := json.Unmarshal(novas, &n); err != nil {
		t.Fatalf("nova's output %s: %v", novas, err)
	}
	if len(o) != len(n) {
		t.Fatalf("%d VIFs, nova built %d", len(o), len(n))
	}
	for i := range o {
		b, _ := json.Marshal(o[i])
		nb, _ := json.Marshal(n[i])
		jsonEqual(t, b, string(nb))
	}
}

// TestNetInfoMatchesNova builds the same VIFs with buildVIF and with nova 26.2.2's own code
// from the same Neutron data.
func TestNetInfoMatchesNova(t *testing.T) {
	cases := novaCases()
	var ours []netmodel.VIF
	for _, c := range cases {
		ours = append(ours, buildVIF(c.facts(t)))
	}
	compareNetworkInfo(t, ours, runNova(t, novaVIFScript, cases))
}

// TestNetInfoAllocationMatchesNova runs the whole allocation against the fake Neutron and gives
// nova the Neutron state it left: the VIFs must be the ones nova builds from it.
func TestNetInfoAllocationMatchesNova(t *testing.T) {
	n, f := newTestNeutron(t)
	f.floating = map[string][]string{"10.254.0.160": {"203.0.113.5"}}
	f.subnets["v6"] = map[string]any{"id": "v6", "network_id": testNetID, "cidr": "2001:db8::/64", "gateway_ip": "2001:db8::1",
		"enable_dhcp": true, "ipv6_address_mode": "slaac", "dns_nameservers": []any{}, "host_routes": []any{}}
	f.networks[testNetID]["subnets"] = []any{testSubnet, "v6"}
	f.addPort(map[string]any{"id": "user-port", "network_id": testNetID, "fixed_ips": []any{
		map[string]any{"subnet_id": testSubnet, "ip_address": "10.254.0.160"},
		map[string]any{"subnet_id": "v6", "ip_address": "2001:db8::160"}}})
	vifs, err := n.AllocateForInstance(testCtx(t), userToken, testInstance(),
		[]netmodel.RequestedNetwork{{NetworkID: testNetID}, {PortID: "user-port"}})
	if err != nil {
		t.Fatal(err)
	}
	var cases []novaCase
	for _, v := range vifs {
		c := novaCase{Port: f.ports[v.ID], NetworkFull: f.networks[testNetID], Floating: f.floating,
			Networks: []map[string]any{f.networks[testNetID]}, Preexisting: []string{"user-port"}, Extensions: f.extensions}
		c.Subnets = []map[string]any{f.subnets[testSubnet], f.subnets["v6"]}
		c.DHCPPorts = []map[string]any{f.ports["dhcp-port"]}
		cases = append(cases, c)
	}
	compareNetworkInfo(t, vifs, runNova(t, novaVIFScript, cases))
}

// TestNetworkDataMatchesNova compares network_data.json with nova's get_network_metadata for
// the VIFs above, alone and together.
func TestNetworkDataMatchesNova(t *testing.T) {
	var all []netmodel.VIF
	for _, c := range novaCases() {
		all = append(all, buildVIF(c.facts(t)))
	}
	inputs := [][]netmodel.VIF{{}}
	for _, v := range all {
		inputs = append(inputs, []netmodel.VIF{v})
	}
	inputs = append(inputs, all, []netmodel.VIF{all[1], all[0], all[6]})
	var nwinfos []string
	for _, in := range inputs {
		s, err := netmodel.MarshalNetworkInfo(in)
		if err != nil {
			t.Fatal(err)
		}
		nwinfos = append(nwinfos, s)
	}
	var novas []json.RawMessage
	if err := json.Unmarshal(runNova(t, novaNetworkDataScript, nwinfos), &novas); err != nil {
		t.Fatal(err)
	}
	for i, in := range inputs {
		ours, err := netmodel.NetworkDataJSON(in)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(fmt.Sprintf("input%d", i), func(t *testing.T) { jsonEqual(t, ours, string(novas[i])) })
	}
}

// controlPlaneAdmin authenticates the control plane's admin (controlplane/admin-openrc) and
// returns the user token and project id a build request would carry.
func controlPlaneAdmin(t *testing.T, ctx context.Context) (token, project string) {
	t.Helper()
	pc, err := openstack.AuthenticatedClient(ctx, gophercloud.AuthOptions{IdentityEndpoint: "http://controller:5000/v3",
		Username: "admin", Password: "000000", DomainName: "Default",
		Scope: &gophercloud.AuthScope{ProjectName: "admin", DomainName: "Default"}})
	if err != nil {
		t.Fatalf("keystone admin login: %v", err)
	}
	res, ok := pc.GetAuthResult().(tokens.CreateResult)
	if !ok {
		t.Fatalf("unexpected auth result %T", pc.GetAuthResult())
	}
	p, err := res.ExtractProject()
	if err != nil || p == nil {
		t.Fatalf("token project: %v", err)
	}
	return pc.Token(), p.ID
}

func requireControlPlane(t *testing.T) *config.Config {
	t.Helper()
	if _, err := os.Stat("/etc/nova/nova.conf"); err != nil {
		t.Fatalf("no /etc/nova/nova.conf: install the control plane (controlplane/install.sh): %v", err)
	}
	for _, addr := range []string{"controller:5000", "controller:9696"} {
		c, err := net.DialTimeout("tcp", addr, 3*time.Second)
		if err != nil {
			t.Fatalf("control plane not running (%s): run `bash controlplane/start.sh`: %v", addr, err)
		}
		c.Close()
	}
	cfg, err := config.Load(config.DefaultSources())
	if err != nil {
		t.Fatalf("load nova.conf: %v", err)
	}
	return cfg
}

// TestNeutronRealControlPlane allocates on the control plane's test_net through the real
// Neutron: one port created for the instance, one pre-created by the user; both are bound to
// host "vm"; network_info is what nova builds from the same ports; deallocation deletes the
// first and unbinds the second.
func TestNeutronRealControlPlane(t *testing.T) {
	cfg := requireControlPlane(t)
	testenv.ControlPlaneFixtures(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	n, err := New(ctx, cfg.Neutron, log)
	if err != nil {
		t.Fatalf("New with [neutron] of nova.conf: %v", err)
	}
	token, project := controlPlaneAdmin(t, ctx)
	nets, err := n.listNetworks(ctx, n.admin, neutronQuery{"name": {"test_net"}})
	if err != nil || len(nets) != 1 {
		t.Fatalf("test_net: %v %v (controlplane/fixtures.sh creates it)", nets, err)
	}
	testNet := nets[0]

	user, err := n.UserClient(token)
	if err != nil {
		t.Fatal(err)
	}
	var own neutronPort
	if err := ports.Create(ctx, user, portBody{"network_id": testNet.ID, "name": "novalet-component-own"}).ExtractInto(&own); err != nil {
		t.Fatalf("create the user's port: %v", err)
	}
	t.Cleanup(func() {
		cctx, ccancel := context.WithTimeout(context.Background(), time.Minute)
		defer ccancel()
		n.deletePort(cctx, own.ID)
	})

	inst := netmodel.InstanceRef{UUID: uuid.NewString(), ProjectID: project, AvailabilityZone: "nova", Hostname: "novalet-ct", Host: "vm"}
	t.Cleanup(func() {
		cctx, ccancel := context.WithTimeout(context.Background(), time.Minute)
		defer ccancel()
		n.DeallocateForInstance(cctx, inst.UUID, []netmodel.VIF{{ID: own.ID, PreserveOnDelete: true}})
	})
	vifs, err := n.AllocateForInstance(ctx, token, inst, []netmodel.RequestedNetwork{{NetworkID: testNet.ID}, {PortID: own.ID}})
	if err != nil {
		t.Fatalf("allocate: %v", err)
	}
	if len(vifs) != 2 || vifs[1].ID != own.ID || !vifs[1].PreserveOnDelete || vifs[0].PreserveOnDelete {
		t.Fatalf("vifs %+v", vifs)
	}
	for _, v := range vifs {
		p, err := n.getPort(ctx, n.admin, v.ID)
		if err != nil {
			t.Fatal(err)
		}
		if p.HostID != "vm" || p.DeviceID != inst.UUID || p.DeviceOwner != "compute:nova" || p.VIFType != "bridge" {
			t.Fatalf("port %s in Neutron: host %q device %q owner %q vif_type %q", p.ID, p.HostID, p.DeviceID, p.DeviceOwner, p.VIFType)
		}
		if v.Type != "bridge" || v.BridgeName() != "brq"+testNet.ID[:11] || v.Devname != "tap"+v.ID[:11] ||
			v.MTU() != *testNet.MTU || len(v.Network.Subnets) == 0 || len(v.Network.Subnets[0].IPs) != 1 {
			t.Fatalf("vif %+v", v)
		}
	}

	// nova, given the ports as Neutron now has them, builds the same network_info.
	var cases []novaCase
	for _, v := range vifs {
		var c novaCase
		var port, full map[string]any
		if _, err := n.admin.Get(ctx, n.admin.ServiceURL("ports", v.ID), &struct {
			P *map[string]any `json:"port"`
		}{&port}, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := n.admin.Get(ctx, n.admin.ServiceURL("networks", testNet.ID), &struct {
			N *map[string]any `json:"network"`
		}{&full}, nil); err != nil {
			t.Fatal(err)
		}
		var subs, dhcp struct {
			Subnets []map[string]any `json:"subnets"`
			Ports   []map[string]any `json:"ports"`
		}
		if _, err := n.admin.Get(ctx, n.admin.ServiceURL("subnets")+neutronQuery{"network_id": {testNet.ID}}.encode(), &subs, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := n.admin.Get(ctx, n.admin.ServiceURL("ports")+neutronQuery{"network_id": {testNet.ID}, "device_owner": {"network:dhcp"}}.encode(), &dhcp, nil); err != nil {
			t.Fatal(err)
		}
		c.Port, c.NetworkFull, c.Subnets, c.DHCPPorts = port, full, subs.Subnets, dhcp.Ports
		c.Networks, c.Preexisting, c.Extensions = []map[string]any{full}, []string{own.ID}, []string{"multi-provider"}
		cases = append(cases, c)
	}
	compareNetworkInfo(t, vifs, runNova(t, novaVIFScript, cases))

	if err := n.DeallocateForInstance(ctx, inst.UUID, vifs); err != nil {
		t.Fatalf("deallocate: %v", err)
	}
	if _, err := n.getPort(ctx, n.admin, vifs[0].ID); !errors.Is(err, ErrNetworkNotFound) {
		t.Fatalf("the created port %s still exists after deallocate: %v", vifs[0].ID, err)
	}
	p, err := n.getPort(ctx, n.admin, own.ID)
	if err != nil {
		t.Fatalf("the user's port is gone: %v", err)
	}
	if p.HostID != "" || p.DeviceID != "" || p.DeviceOwner != "" || p.VIFType != "unbound" {
		t.Fatalf("the user's port is still bound: host %q device %q owner %q vif_type %q", p.HostID, p.DeviceID, p.DeviceOwner, p.VIFType)
	}
	if err := n.DeallocateForInstance(ctx, inst.UUID, vifs); err != nil {
		t.Fatalf("second deallocate: %v", err)
	}
}
