package neutron

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"

	"github.com/novalet/novalet/config"
	"github.com/novalet/novalet/netmodel"
	"github.com/novalet/novalet/openstack/keystone"
)

const (
	adminToken = "admin-tok"
	userToken  = "user-tok"
	testNetID  = "caf22704-7a5c-4a7c-b7e3-5a2f56726d44"
	testSubnet = "555e7541-2f06-43e3-b8dd-761a06147b46"
	projectID  = "proj-1"
	instUUID   = "11111111-2222-3333-4444-555555555555"
)

// neutronCall is one request the fake Neutron received.
type neutronCall struct {
	Method, Path, Query, Token string
	Body                       map[string]any
}

// fakeNeutron is an in-memory Neutron (ports, networks, subnets) that binds ports the way ML2
// linuxbridge does and records every request.
type fakeNeutron struct {
	t  *testing.T
	mu sync.Mutex

	networks   map[string]map[string]any
	subnets    map[string]map[string]any
	ports      map[string]map[string]any
	order      []string
	calls      []neutronCall
	extensions []string
	// agentHosts are the hosts with a live L2 agent; binding elsewhere fails.
	agentHosts map[string]bool
	delay      time.Duration
	// floating maps a fixed address to its floating addresses; nil means no L3 plugin.
	floating map[string][]string
}

func newFakeNeutron(t *testing.T) (*fakeNeutron, *httptest.Server) {
	f := &fakeNeutron{t: t, networks: map[string]map[string]any{}, subnets: map[string]map[string]any{},
		ports: map[string]map[string]any{}, agentHosts: map[string]bool{"vm": true},
		extensions: []string{"binding", "multi-provider", "port-security"}}
	f.networks[testNetID] = map[string]any{"id": testNetID, "name": "test_net", "tenant_id": "admin-proj",
		"mtu": 1500.0, "subnets": []any{testSubnet}, "shared": true, "port_security_enabled": false,
		"provider:network_type": "flat", "provider:physical_network": "provider", "dns_domain": ""}
	f.subnets[testSubnet] = map[string]any{"id": testSubnet, "network_id": testNetID, "cidr": "10.254.0.0/24",
		"gateway_ip": "10.254.0.1", "enable_dhcp": true, "ipv6_address_mode": nil,
		"dns_nameservers": []any{"10.254.0.1"}, "host_routes": []any{}}
	f.addPort(map[string]any{"id": "dhcp-port", "network_id": testNetID, "tenant_id": "admin-proj",
		"device_owner": "network:dhcp", "device_id": "dhcp-host",
		"fixed_ips": []any{map[string]any{"subnet_id": testSubnet, "ip_address": "10.254.0.2"}}})
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeNeutron) addPort(p map[string]any) {
	defaults := map[string]any{"tenant_id": projectID, "mac_address": fmt.Sprintf("fa:16:3e:00:00:%02x", len(f.order)+1),
		"admin_state_up": true, "status": "DOWN", "device_id": "", "device_owner": "", "dns_name": "",
		"fixed_ips": []any{}, "binding:host_id": "", "binding:vif_type": "unbound", "binding:vif_details": map[string]any{},
		"binding:vnic_type": "normal", "binding:profile": map[string]any{}}
	for k, v := range defaults {
		if _, ok := p[k]; !ok {
			p[k] = v
		}
	}
	f.ports[p["id"].(string)] = p
	f.order = append(f.order, p["id"].(string))
}

func (f *fakeNeutron) callsTo(method, pathPrefix string) []neutronCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []neutronCall
	for _, c := range f.calls {
		if c.Method == method && strings.HasPrefix(c.Path, pathPrefix) {
			out = append(out, c)
		}
	}
	return out
}

func neutronErr(w http.ResponseWriter, code int, typ, msg string) {
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"NeutronError": map[string]any{"type": typ, "message": msg, "detail": ""}})
}

func (f *fakeNeutron) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	delay := f.delay
	f.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c := neutronCall{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Token: r.Header.Get("X-Auth-Token")}
	if r.Body != nil {
		raw, _ := io.ReadAll(r.Body)
		if len(raw) > 0 {
			if err := json.Unmarshal(raw, &c.Body); err != nil {
				f.t.Errorf("%s %s: body is not JSON: %s", r.Method, r.URL.Path, raw)
			}
		}
	}
	f.calls = append(f.calls, c)
	if c.Token != adminToken && c.Token != userToken {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	q := r.URL.Query()
	path := strings.TrimPrefix(r.URL.Path, "/v2.0/")
	switch {
	case r.Method == "GET" && path == "extensions":
		var ext []any
		for _, a := range f.extensions {
			ext = append(ext, map[string]any{"alias": a})
		}
		json.NewEncoder(w).Encode(map[string]any{"extensions": ext})
	case r.Method == "GET" && path == "networks":
		out := []any{}
		for _, id := range slices.Sorted(maps.Keys(f.networks)) {
			if n := f.networks[id]; matches(n, q) {
				out = append(out, n)
			}
		}
		json.NewEncoder(w).Encode(map[string]any{"networks": out})
	case r.Method == "GET" && strings.HasPrefix(path, "networks/"):
		n, ok := f.networks[strings.TrimPrefix(path, "networks/")]
		if !ok {
			neutronErr(w, 404, "NetworkNotFound", "netmodel.Network could not be found.")
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"network": n})
	case r.Method == "GET" && path == "subnets":
		out := []any{}
		// Sorted by id: a real Neutron lists in a stable order too.
		for _, id := range slices.Sorted(maps.Keys(f.subnets)) {
			if s := f.subnets[id]; matches(s, q) {
				out = append(out, s)
			}
		}
		json.NewEncoder(w).Encode(map[string]any{"subnets": out})
	case r.Method == "GET" && path == "security-groups":
		json.NewEncoder(w).Encode(map[string]any{"security_groups": []any{
			map[string]any{"id": "sg-default", "name": "default"}, map[string]any{"id": "sg-web", "name": "web"}}})
	case r.Method == "GET" && path == "floatingips":
		if f.floating == nil {
			// Like a Neutron without the L3 router plugin.
			neutronErr(w, 404, "HTTPNotFound", "The resource could not be found.")
			return
		}
		out := []any{}
		for _, a := range f.floating[q.Get("fixed_ip_address")] {
			out = append(out, map[string]any{"floating_ip_address": a, "fixed_ip_address": q.Get("fixed_ip_address"), "port_id": q.Get("port_id")})
		}
		json.NewEncoder(w).Encode(map[string]any{"floatingips": out})
	case r.Method == "GET" && path == "ports":
		out := []any{}
		for _, id := range f.order {
			if p, ok := f.ports[id]; ok && matches(p, q) {
				out = append(out, p)
			}
		}
		json.NewEncoder(w).Encode(map[string]any{"ports": out})
	case r.Method == "GET" && strings.HasPrefix(path, "ports/"):
		p, ok := f.ports[strings.TrimPrefix(path, "ports/")]
		if !ok {
			neutronErr(w, 404, "PortNotFound", "Port could not be found.")
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"port": p})
	case r.Method == "POST" && path == "ports":
		f.createPort(w, c.Body["port"].(map[string]any))
	case r.Method == "PUT" && strings.HasPrefix(path, "ports/"):
		p, ok := f.ports[strings.TrimPrefix(path, "ports/")]
		if !ok {
			neutronErr(w, 404, "PortNotFound", "Port could not be found.")
			return
		}
		for k, v := range c.Body["port"].(map[string]any) {
			p[k] = v
		}
		if host, _ := p["binding:host_id"].(string); host == "" {
			p["binding:host_id"], p["binding:vif_type"], p["binding:vif_details"] = "", "unbound", map[string]any{}
		} else if f.agentHosts[host] {
			p["binding:vif_type"], p["binding:vif_details"] = "bridge", map[string]any{"port_filter": false, "connectivity": "l2"}
		} else {
			p["binding:vif_type"], p["binding:vif_details"] = "binding_failed", map[string]any{}
		}
		if p["binding:profile"] == nil {
			p["binding:profile"] = map[string]any{}
		}
		json.NewEncoder(w).Encode(map[string]any{"port": p})
	case r.Method == "DELETE" && strings.HasPrefix(path, "ports/"):
		id := strings.TrimPrefix(path, "ports/")
		if _, ok := f.ports[id]; !ok {
			neutronErr(w, 404, "PortNotFound", "Port could not be found.")
			return
		}
		delete(f.ports, id)
		w.WriteHeader(http.StatusNoContent)
	default:
		f.t.Errorf("fake neutron: unexpected %s %s", r.Method, r.URL)
		neutronErr(w, 404, "HTTPNotFound", "unexpected")
	}
}

func (f *fakeNeutron) createPort(w http.ResponseWriter, req map[string]any) {
	netID, _ := req["network_id"].(string)
	if _, ok := f.networks[netID]; !ok {
		neutronErr(w, 404, "NetworkNotFound", "netmodel.Network "+netID+" could not be found.")
		return
	}
	addr := fmt.Sprintf("10.254.0.%d", 100+len(f.order))
	if fips, ok := req["fixed_ips"].([]any); ok {
		addr = fips[0].(map[string]any)["ip_address"].(string)
		for _, p := range f.ports {
			for _, ip := range p["fixed_ips"].([]any) {
				if ip.(map[string]any)["ip_address"] == addr {
					neutronErr(w, 409, "IpAddressAlreadyAllocated", "netmodel.IP address "+addr+" already allocated in subnet")
					return
				}
			}
		}
	}
	p := map[string]any{"id": fmt.Sprintf("port-%d", len(f.order)), "network_id": netID,
		"fixed_ips": []any{map[string]any{"subnet_id": testSubnet, "ip_address": addr}}}
	for k, v := range req {
		if k != "fixed_ips" {
			p[k] = v
		}
	}
	f.addPort(p)
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(map[string]any{"port": p})
}

// matches applies Neutron's list filters: every key must equal one of its values.
func matches(obj map[string]any, q map[string][]string) bool {
	for k, vals := range q {
		if k == "fields" {
			continue
		}
		v := fmt.Sprint(obj[k])
		if b, ok := obj[k].(bool); ok {
			v = map[bool]string{true: "True", false: "False"}[b]
		}
		found := false
		for _, want := range vals {
			found = found || v == want
		}
		if !found {
			return false
		}
	}
	return true
}

func newTestNeutron(t *testing.T) (*Client, *fakeNeutron) {
	f, srv := newFakeNeutron(t)
	pc := &gophercloud.ProviderClient{}
	pc.SetToken(adminToken)
	return NewFromServiceClient(networkClient(pc, srv.URL), slog.New(slog.DiscardHandler)), f
}

func testInstance() netmodel.InstanceRef {
	return netmodel.InstanceRef{UUID: instUUID, ProjectID: projectID, AvailabilityZone: "nova", Hostname: "vm1", Host: "vm"}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustJSON(t *testing.T, want string, got map[string]any) {
	t.Helper()
	b, _ := json.Marshal(got)
	jsonEqual(t, b, want)
}

func TestNeutronAllocateOnNetwork(t *testing.T) {
	n, f := newTestNeutron(t)
	vifs, err := n.AllocateForInstance(testCtx(t), userToken, testInstance(), []netmodel.RequestedNetwork{{NetworkID: testNetID}})
	if err != nil {
		t.Fatal(err)
	}
	posts := f.callsTo("POST", "/v2.0/ports")
	if len(posts) != 1 || posts[0].Token != userToken {
		t.Fatalf("port creations %+v", posts)
	}
	mustJSON(t, `{"port": {"device_id": "`+instUUID+`", "network_id": "`+testNetID+`", "admin_state_up": true, "tenant_id": "proj-1"}}`, posts[0].Body)
	puts := f.callsTo("PUT", "/v2.0/ports/")
	if len(puts) != 1 || puts[0].Token != adminToken || puts[0].Path != "/v2.0/ports/port-1" {
		t.Fatalf("port updates %+v", puts)
	}
	mustJSON(t, `{"port": {"device_id": "`+instUUID+`", "device_owner": "compute:nova", "binding:host_id": "vm"}}`, puts[0].Body)
	if nets := f.callsTo("GET", "/v2.0/networks"); len(nets) == 0 || nets[0].Token != userToken || nets[0].Query != "id="+testNetID {
		t.Fatalf("network lookups %+v", nets)
	}

	if len(vifs) != 1 {
		t.Fatalf("vifs %+v", vifs)
	}
	b, _ := json.Marshal(vifs[0])
	jsonEqual(t, b, `{"id": "port-1", "address": "fa:16:3e:00:00:02",
	  "network": {"id": "`+testNetID+`", "bridge": "brqcaf22704-7a", "label": "test_net",
	    "subnets": [{"cidr": "10.254.0.0/24",
	      "dns": [{"address": "10.254.0.1", "type": "dns", "version": 4, "meta": {}}],
	      "gateway": {"address": "10.254.0.1", "type": "gateway", "version": 4, "meta": {}},
	      "ips": [{"address": "10.254.0.101", "type": "fixed", "version": 4, "meta": {}, "floating_ips": []}],
	      "routes": [], "version": 4, "meta": {"dhcp_server": "10.254.0.2"}}],
	    "meta": {"injected": false, "tenant_id": "admin-proj", "mtu": 1500, "physical_network": "provider",
	      "tunneled": false, "should_create_bridge": true}},
	  "type": "bridge", "details": {"port_filter": false, "connectivity": "l2"}, "devname": "tapport-1",
	  "ovs_interfaceid": null, "qbh_params": null, "qbg_params": null, "active": false, "vnic_type": "normal",
	  "profile": {}, "preserve_on_delete": false, "delegate_create": true, "meta": {}}`)
	if p := f.ports["port-1"]; p["binding:host_id"] != "vm" || p["device_id"] != instUUID {
		t.Fatalf("port in neutron %v", p)
	}
}

func TestNeutronAllocateFixedIPAndSecurityGroups(t *testing.T) {
	n, f := newTestNeutron(t)
	f.networks[testNetID]["port_security_enabled"] = true
	inst := testInstance()
	inst.SecurityGroups = []string{"web", "sg-default"}
	vifs, err := n.AllocateForInstance(testCtx(t), userToken, inst, []netmodel.RequestedNetwork{{NetworkID: testNetID, Address: "10.254.0.150"}})
	if err != nil {
		t.Fatal(err)
	}
	posts := f.callsTo("POST", "/v2.0/ports")
	mustJSON(t, `{"port": {"device_id": "`+instUUID+`", "network_id": "`+testNetID+`", "admin_state_up": true,
	  "tenant_id": "proj-1", "fixed_ips": [{"ip_address": "10.254.0.150"}], "security_groups": ["sg-web", "sg-default"]}}`, posts[0].Body)
	if sg := f.callsTo("GET", "/v2.0/security-groups"); len(sg) != 1 || sg[0].Token != userToken ||
		sg[0].Query != "fields=id&fields=name&tenant_id=proj-1" {
		t.Fatalf("security group lookups %+v", sg)
	}
	if got := vifs[0].Network.Subnets[0].IPs[0].Address; got != "10.254.0.150" {
		t.Fatalf("address %s", got)
	}

	// The same address again is taken; the port-security-disabled network refuses groups.
	_, err = n.AllocateForInstance(testCtx(t), userToken, testInstance(), []netmodel.RequestedNetwork{{NetworkID: testNetID, Address: "10.254.0.150"}})
	if !errors.Is(err, ErrPortInUse) || !errors.Is(err, ErrNeutron) || !strings.Contains(err.Error(), "already allocated") {
		t.Fatalf("taken address: %v", err)
	}
	f.networks[testNetID]["port_security_enabled"] = false
	if _, err := n.AllocateForInstance(testCtx(t), userToken, inst, []netmodel.RequestedNetwork{{NetworkID: testNetID}}); !errors.Is(err, ErrNeutron) ||
		!strings.Contains(err.Error(), "security groups cannot be applied") {
		t.Fatalf("security groups on a network without port security: %v", err)
	}
	if len(f.callsTo("POST", "/v2.0/ports")) != 2 {
		t.Fatal("a port was created although security groups cannot be applied")
	}
}

func TestNeutronAllocatePreexistingPort(t *testing.T) {
	n, f := newTestNeutron(t)
	f.addPort(map[string]any{"id": "user-port", "network_id": testNetID, "binding:profile": map[string]any{"trusted": "true"},
		"fixed_ips": []any{map[string]any{"subnet_id": testSubnet, "ip_address": "10.254.0.160"}}})
	vifs, err := n.AllocateForInstance(testCtx(t), userToken, testInstance(), []netmodel.RequestedNetwork{{PortID: "user-port"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.callsTo("POST", "/v2.0/ports")) != 0 {
		t.Fatal("a port was created for a pre-created port")
	}
	if gets := f.callsTo("GET", "/v2.0/ports/user-port"); len(gets) == 0 || gets[0].Token != adminToken {
		t.Fatalf("port check %+v", gets)
	}
	puts := f.callsTo("PUT", "/v2.0/ports/")
	mustJSON(t, `{"port": {"device_id": "`+instUUID+`", "device_owner": "compute:nova", "binding:host_id": "vm",
	  "binding:profile": {"trusted": "true"}}}`, puts[0].Body)
	if len(vifs) != 1 || !vifs[0].PreserveOnDelete || vifs[0].ID != "user-port" ||
		!reflect.DeepEqual(vifs[0].Profile, map[string]any{"trusted": "true"}) {
		t.Fatalf("vifs %+v", vifs)
	}
}

func TestNeutronAllocateRefusals(t *testing.T) {
	n, f := newTestNeutron(t)
	f.addPort(map[string]any{"id": "taken", "network_id": testNetID, "device_id": "other-instance"})
	f.addPort(map[string]any{"id": "foreign", "network_id": testNetID, "tenant_id": "someone-else"})
	for _, tc := range []struct {
		name string
		req  []netmodel.RequestedNetwork
		want error
	}{
		{"port attached elsewhere", []netmodel.RequestedNetwork{{PortID: "taken"}}, ErrPortInUse},
		{"port of another project", []netmodel.RequestedNetwork{{PortID: "foreign"}}, ErrPortInUse},
		{"port missing", []netmodel.RequestedNetwork{{PortID: "nope"}}, ErrNetworkNotFound},
		{"network missing", []netmodel.RequestedNetwork{{NetworkID: "nope"}}, ErrNetworkNotFound},
		{"empty request among others", []netmodel.RequestedNetwork{{NetworkID: testNetID}, {}}, ErrNetworkNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := n.AllocateForInstance(testCtx(t), userToken, testInstance(), tc.req)
			if !errors.Is(err, tc.want) || !errors.Is(err, ErrNeutron) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	if len(f.callsTo("POST", "/v2.0/ports")) != 0 || len(f.callsTo("PUT", "/v2.0/ports/")) != 0 {
		t.Fatal("a refused request changed ports")
	}
	if _, err := n.AllocateForInstance(testCtx(t), "", testInstance(), []netmodel.RequestedNetwork{{NetworkID: testNetID}}); !errors.Is(err, ErrNeutron) {
		t.Fatalf("no user token: %v", err)
	}
}

func TestNeutronAllocateNoneAndUnspecified(t *testing.T) {
	n, f := newTestNeutron(t)
	vifs, err := n.AllocateForInstance(testCtx(t), userToken, testInstance(), []netmodel.RequestedNetwork{{NetworkID: "none"}})
	if err != nil || vifs != nil || len(f.calls) != 0 {
		t.Fatalf("none: %v %v, %d calls", vifs, err, len(f.calls))
	}
	for _, req := range [][]netmodel.RequestedNetwork{nil, {{}}, {{NetworkID: "auto"}}} {
		vifs, err := n.AllocateForInstance(testCtx(t), userToken, testInstance(), req)
		if err != nil || len(vifs) != 1 || vifs[0].Network.ID != testNetID {
			t.Fatalf("unspecified %v: %+v %v", req, vifs, err)
		}
	}
	f.networks["second"] = map[string]any{"id": "second", "name": "other", "tenant_id": projectID, "shared": false, "subnets": []any{}}
	if _, err := n.AllocateForInstance(testCtx(t), userToken, testInstance(), nil); !errors.Is(err, ErrNetworkNotFound) {
		t.Fatalf("two candidate networks: %v", err)
	}
}

func TestNeutronAllocateBindingFailedLeavesNothing(t *testing.T) {
	n, f := newTestNeutron(t)
	f.addPort(map[string]any{"id": "user-port", "network_id": testNetID})
	inst := testInstance()
	inst.Host = "no-agent-here"
	_, err := n.AllocateForInstance(testCtx(t), userToken, inst, []netmodel.RequestedNetwork{{PortID: "user-port"}, {NetworkID: testNetID}})
	if !errors.Is(err, ErrPortBindingFailed) {
		t.Fatalf("binding on a host without agent: %v", err)
	}
	for id, p := range f.ports {
		if id != "dhcp-port" && id != "user-port" {
			t.Fatalf("created port %s left behind: %v", id, p)
		}
	}
	if dels := f.callsTo("DELETE", "/v2.0/ports/"); len(dels) != 1 || dels[0].Path != "/v2.0/ports/port-2" {
		t.Fatalf("deletes %+v", dels)
	}
	p := f.ports["user-port"]
	if p["device_id"] != "" || p["device_owner"] != "" || p["binding:host_id"] != "" {
		t.Fatalf("pre-created port not unbound: %v", p)
	}
}

func TestNeutronDeallocate(t *testing.T) {
	n, f := newTestNeutron(t)
	f.addPort(map[string]any{"id": "user-port", "network_id": testNetID,
		"binding:profile": map[string]any{"trusted": "true", "pci_slot": "0000:01:00.1", "allocation": "rp"}})
	vifs, err := n.AllocateForInstance(testCtx(t), userToken, testInstance(),
		[]netmodel.RequestedNetwork{{PortID: "user-port"}, {NetworkID: testNetID}})
	if err != nil {
		t.Fatal(err)
	}
	created := vifs[1].ID
	f.mu.Lock()
	f.calls = nil
	f.mu.Unlock()

	if err := n.DeallocateForInstance(testCtx(t), instUUID, vifs); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.ports[created]; ok {
		t.Fatalf("port %s created for the instance still exists", created)
	}
	if _, ok := f.ports["user-port"]; !ok {
		t.Fatal("the user's port was deleted")
	}
	if lists := f.callsTo("GET", "/v2.0/ports"); len(lists) == 0 || lists[0].Query != "device_id="+instUUID {
		t.Fatalf("port listing %+v", lists)
	}
	puts := f.callsTo("PUT", "/v2.0/ports/user-port")
	if len(puts) != 1 || puts[0].Token != adminToken {
		t.Fatalf("unbind %+v", puts)
	}
	mustJSON(t, `{"port": {"device_id": "", "device_owner": "", "binding:host_id": null, "binding:profile": {"trusted": "true"}}}`, puts[0].Body)

	// Again: everything is already released.
	if err := n.DeallocateForInstance(testCtx(t), instUUID, vifs); err != nil {
		t.Fatalf("second deallocate: %v", err)
	}
	// A port that vanished between listing and deleting, and a VIF whose port is gone.
	delete(f.ports, "user-port")
	if err := n.DeallocateForInstance(testCtx(t), instUUID, vifs); err != nil {
		t.Fatalf("deallocate with ports gone: %v", err)
	}
	if err := n.DeallocateForInstance(testCtx(t), "", vifs); !errors.Is(err, ErrNeutron) {
		t.Fatalf("empty uuid: %v", err)
	}
}

func TestNeutronDNSIntegration(t *testing.T) {
	n, f := newTestNeutron(t)
	f.extensions = append(f.extensions, "dns-integration")
	vifs, err := n.AllocateForInstance(testCtx(t), userToken, testInstance(), []netmodel.RequestedNetwork{{NetworkID: testNetID}})
	if err != nil {
		t.Fatal(err)
	}
	puts := f.callsTo("PUT", "/v2.0/ports/")
	mustJSON(t, `{"port": {"device_id": "`+instUUID+`", "device_owner": "compute:nova", "binding:host_id": "vm", "dns_name": "vm1"}}`, puts[0].Body)
	vifs[0].PreserveOnDelete = true
	if err := n.DeallocateForInstance(testCtx(t), instUUID, vifs); err != nil {
		t.Fatal(err)
	}
	puts = f.callsTo("PUT", "/v2.0/ports/")
	mustJSON(t, `{"port": {"device_id": "", "device_owner": "", "binding:host_id": null, "binding:profile": {}, "dns_name": ""}}`, puts[len(puts)-1].Body)
}

func TestNeutronDeadlineAndServerErrors(t *testing.T) {
	n, f := newTestNeutron(t)
	f.mu.Lock()
	f.delay = 2 * time.Second
	f.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := n.AllocateForInstance(ctx, userToken, testInstance(), []netmodel.RequestedNetwork{{NetworkID: testNetID}})
	if !errors.Is(err, ErrNeutron) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("deadline: %v", err)
	}
	f.mu.Lock()
	f.delay = 0
	f.mu.Unlock()
	if _, err := n.UserClient(""); !errors.Is(err, ErrNeutron) {
		t.Fatalf("empty token: %v", err)
	}
	bad, _ := n.UserClient("stolen")
	n2 := NewFromServiceClient(bad, nil)
	err = n2.DeallocateForInstance(testCtx(t), instUUID, nil)
	if !errors.Is(err, ErrNeutron) || !strings.Contains(err.Error(), "401") {
		t.Fatalf("bad token: %v", err)
	}
}

// TestNeutronNewFromConfig authenticates the [neutron] user against a fake Keystone whose
// catalog lists the fake Neutron, then allocates through the discovered endpoint.
func TestNeutronNewFromConfig(t *testing.T) {
	f, nsrv := newFakeNeutron(t)
	ks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Auth struct {
				Identity struct {
					Password struct {
						User struct {
							Name     string `json:"name"`
							Password string `json:"password"`
						} `json:"user"`
					} `json:"password"`
				} `json:"identity"`
			} `json:"auth"`
		}
		json.NewDecoder(r.Body).Decode(&req)
		if r.URL.Path != "/v3/auth/tokens" || req.Auth.Identity.Password.User.Name != "neutron" ||
			req.Auth.Identity.Password.User.Password != "secret" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("X-Subject-Token", adminToken)
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(map[string]any{"token": map[string]any{"expires_at": "2099-01-01T00:00:00.000000Z",
			"catalog": []any{map[string]any{"type": "network", "name": "neutron", "endpoints": []any{
				map[string]any{"interface": "public", "region": "RegionOne", "region_id": "RegionOne", "url": "http://127.0.0.1:1/"},
				map[string]any{"interface": "internal", "region": "RegionOne", "region_id": "RegionOne", "url": nsrv.URL},
			}}}}})
	}))
	t.Cleanup(ks.Close)
	var cfg config.Neutron
	cfg.AuthType, cfg.AuthURL, cfg.Username, cfg.Password = "password", ks.URL, "neutron", "secret"
	cfg.ProjectName, cfg.UserDomainName, cfg.ProjectDomainName, cfg.RegionName = "service", "Default", "Default", "RegionOne"
	cfg.HTTPRetries = 3
	n, err := New(testCtx(t), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.AllocateForInstance(testCtx(t), userToken, testInstance(), []netmodel.RequestedNetwork{{NetworkID: testNetID}}); err != nil {
		t.Fatal(err)
	}
	if puts := f.callsTo("PUT", "/v2.0/ports/"); len(puts) != 1 || puts[0].Token != adminToken {
		t.Fatalf("binding through the catalog endpoint: %+v", puts)
	}
	cfg.Password = "wrong"
	if _, err := New(testCtx(t), cfg, nil); !errors.Is(err, ErrNeutron) || !errors.Is(err, keystone.ErrAuth) {
		t.Fatalf("bad password: %v", err)
	}
}

// TestNeutronSetupInstanceNetworkOnHost: nova's _update_port_binding_for_instance: ports of
// the instance bound to another host (or whose binding failed) are bound here with
// device_owner compute:<az> and without migrating_to; a port already bound here is left alone.
func TestNeutronSetupInstanceNetworkOnHost(t *testing.T) {
	n, f := newTestNeutron(t)
	f.agentHosts["vm2"] = true
	f.addPort(map[string]any{"id": "p-elsewhere", "network_id": testNetID, "device_id": instUUID, "tenant_id": "p1",
		"binding:host_id": "vm", "binding:vif_type": "bridge", "binding:profile": map[string]any{"migrating_to": "vm2", "trusted": "true"}})
	f.addPort(map[string]any{"id": "p-here", "network_id": testNetID, "device_id": instUUID, "tenant_id": "p1",
		"binding:host_id": "vm2", "binding:vif_type": "bridge", "binding:profile": map[string]any{}})
	f.addPort(map[string]any{"id": "p-failed", "network_id": testNetID, "device_id": instUUID, "tenant_id": "p1",
		"binding:host_id": "vm2", "binding:vif_type": "binding_failed", "binding:profile": map[string]any{}})
	f.addPort(map[string]any{"id": "p-other", "network_id": testNetID, "device_id": "another-instance", "tenant_id": "p1",
		"binding:host_id": "vm", "binding:vif_type": "bridge"})
	inst := netmodel.InstanceRef{UUID: instUUID, ProjectID: "p1", AvailabilityZone: "nova", Host: "vm2"}
	if err := n.SetupInstanceNetworkOnHost(testCtx(t), inst); err != nil {
		t.Fatal(err)
	}
	if puts := f.callsTo("PUT", "/v2.0/ports/p-here"); len(puts) != 0 {
		t.Errorf("the port bound here already was updated: %+v", puts)
	}
	if puts := f.callsTo("PUT", "/v2.0/ports/p-other"); len(puts) != 0 {
		t.Errorf("another instance's port was updated: %+v", puts)
	}
	puts := f.callsTo("PUT", "/v2.0/ports/p-elsewhere")
	if len(puts) != 1 || puts[0].Token != adminToken {
		t.Fatalf("rebinding %+v", puts)
	}
	mustJSON(t, `{"port": {"binding:host_id": "vm2", "device_owner": "compute:nova", "binding:profile": {"trusted": "true"}}}`, puts[0].Body)
	puts = f.callsTo("PUT", "/v2.0/ports/p-failed")
	if len(puts) != 1 {
		t.Fatalf("a failed binding was not retried: %+v", puts)
	}
	mustJSON(t, `{"port": {"binding:host_id": "vm2", "device_owner": "compute:nova"}}`, puts[0].Body)
	if lists := f.callsTo("GET", "/v2.0/ports"); len(lists) == 0 || !strings.Contains(lists[len(lists)-1].Query, "tenant_id=p1") {
		t.Errorf("port listing %+v, want device_id and tenant_id", lists)
	}
	if err := n.SetupInstanceNetworkOnHost(testCtx(t), netmodel.InstanceRef{UUID: instUUID}); !errors.Is(err, ErrNeutron) {
		t.Errorf("no host: %v", err)
	}
}

// TestNeutronPortsActive: the status of the named ports in one listing, a port down by its
// admin counting as active (as in the VIFs), ports gone left out.
func TestNeutronPortsActive(t *testing.T) {
	n, f := newTestNeutron(t)
	f.addPort(map[string]any{"id": "up", "network_id": testNetID, "status": "ACTIVE"})
	f.addPort(map[string]any{"id": "down", "network_id": testNetID})
	f.addPort(map[string]any{"id": "off", "network_id": testNetID, "admin_state_up": false})
	got, err := n.PortsActive(testCtx(t), []string{"up", "down", "off", "gone"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || !got["up"] || got["down"] || !got["off"] {
		t.Errorf("PortsActive = %v", got)
	}
	if lists := f.callsTo("GET", "/v2.0/ports"); len(lists) != 1 {
		t.Errorf("%d port listings, want one", len(lists))
	}
}
