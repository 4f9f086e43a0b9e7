package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/novalet/novalet/netmodel"
)

// fakeNetwork is an in-memory NetworkAPI: every requested network gets a new port bound to the
// host, reported inactive (so a build waits for network-vif-plugged). It keeps which ports
// belong to which instance and host, so CheckClean can tell a leaked port.
type fakeNetwork struct {
	mu               sync.Mutex
	ports            map[string]string // port id -> instance uuid
	hosts            map[string]string // port id -> binding:host_id
	up               map[string]bool   // port id -> status ACTIVE (setUp)
	macs             int
	mtu              int
	failAlloc        error
	failDealloc      error
	allocs, deallocs int
	bindings         int // SetupInstanceNetworkOnHost calls
}

func newFakeNetwork() *fakeNetwork {
	return &fakeNetwork{ports: map[string]string{}, hosts: map[string]string{}, up: map[string]bool{}, mtu: 1450}
}

const testNetworkID = "0c1d2e3f-aaaa-4bbb-8ccc-ddddeeeeffff"

func (f *fakeNetwork) AllocateForInstance(ctx context.Context, token string, inst netmodel.InstanceRef, requested []netmodel.RequestedNetwork) ([]netmodel.VIF, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if inst.UUID == "" || inst.Host == "" {
		return nil, errors.New("fakeNetwork: allocate needs the instance uuid and host")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.allocs++
	if f.failAlloc != nil {
		return nil, f.failAlloc
	}
	if len(requested) == 0 {
		requested = []netmodel.RequestedNetwork{{NetworkID: testNetworkID}}
	}
	var vifs []netmodel.VIF
	for _, r := range requested {
		id := r.PortID
		if id == "" {
			id = uuid.NewString()
		}
		netID := r.NetworkID
		if netID == "" {
			netID = testNetworkID
		}
		bridge, mtu := netmodel.BridgeName(netID), f.mtu
		f.ports[id] = inst.UUID
		f.hosts[id] = inst.Host
		f.macs++
		vifs = append(vifs, netmodel.VIF{ID: id, Address: fmt.Sprintf("fa:16:3e:00:00:%02x", f.macs), Type: netmodel.VIFTypeBridge,
			Devname: netmodel.TapName(id), VNICType: "normal",
			Network: &netmodel.Network{ID: netID, Bridge: &bridge, Meta: netmodel.NetworkMeta{MTU: &mtu}}})
	}
	return vifs, nil
}

func (f *fakeNetwork) DeallocateForInstance(ctx context.Context, instanceUUID string, vifs []netmodel.VIF) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deallocs++
	if f.failDealloc != nil {
		return f.failDealloc
	}
	for id, owner := range f.ports {
		if owner == instanceUUID {
			delete(f.ports, id)
			delete(f.hosts, id)
		}
	}
	return nil
}

func (f *fakeNetwork) SetupInstanceNetworkOnHost(ctx context.Context, inst netmodel.InstanceRef) error {
	if inst.UUID == "" || inst.Host == "" {
		return errors.New("fakeNetwork: binding needs the instance uuid and host")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.bindings++
	for id, owner := range f.ports {
		if owner == inst.UUID {
			f.hosts[id] = inst.Host
		}
	}
	return nil
}

// PortsActive reports the status setUp gave each existing port (DOWN until then).
func (f *fakeNetwork) PortsActive(ctx context.Context, portIDs []string) (map[string]bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]bool{}
	for _, id := range portIDs {
		if _, ok := f.ports[id]; ok {
			out[id] = f.up[id]
		}
	}
	return out, nil
}

// setUp sets a port's status, as the L2 agent's report would in Neutron.
func (f *fakeNetwork) setUp(portID string, up bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.up[portID] = up
}

// portsOf lists the ports bound for an instance.
func (f *fakeNetwork) portsOf(instanceUUID string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for id, owner := range f.ports {
		if owner == instanceUUID {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// bindingHost is the binding:host_id of a port, "" when the port does not exist.
func (f *fakeNetwork) bindingHost(portID string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hosts[portID]
}

// CheckClean fails t when a port is still allocated: every port made must be released.
func (f *fakeNetwork) CheckClean(t testing.TB) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.ports) > 0 {
		var left []string
		for id, owner := range f.ports {
			left = append(left, id+" (instance "+owner+")")
		}
		slices.Sort(left)
		t.Errorf("fakeNetwork: ports left allocated: %s", strings.Join(left, ", "))
	}
}
