package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/novalet/novalet/config"
	"github.com/novalet/novalet/netmodel"
	"github.com/novalet/novalet/openstack/neutron"
	"github.com/novalet/novalet/rpc"
	"github.com/novalet/novalet/rpc/ovo"
	"github.com/novalet/novalet/virt"
)

// Networking of an instance: Neutron ports bound to this host, the info cache nova-api and the
// metadata service read, taps plugged into the network's bridge, and the wait for Neutron to
// report each port up (network-vif-plugged).

// NetworkOptions are the [DEFAULT] vif_plugging_* options and [neutron].
type NetworkOptions struct {
	Neutron            config.Neutron
	VIFPluggingTimeout time.Duration // 0 = do not wait for network-vif-plugged
	VIFPluggingIsFatal bool
	NewNeutron         func(ctx context.Context) (*neutron.Client, error) // nil = [neutron] from Neutron
	AvailabilityZone   string
	ReaperInterval     time.Duration // orphan tap reaping; 0 = 10 minutes
}

// neutronClient builds the Neutron client on first use and keeps it; a failure is retried at
// the next use (Keystone or Neutron may come up after novalet).
type neutronClient struct {
	mu   sync.Mutex
	n    *neutron.Client
	make func(ctx context.Context) (*neutron.Client, error)
}

func (c *neutronClient) get(ctx context.Context) (*neutron.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n != nil {
		return c.n, nil
	}
	if c.make == nil {
		return nil, errors.New("no Neutron client configured")
	}
	n, err := c.make(ctx)
	if err != nil {
		return nil, err
	}
	c.n = n
	return n, nil
}

// allocateNetworks is nova's allocate_for_instance during a build: ports created (as the user)
// or taken, bound to this host, and the info cache saved.
func (a *Agent) allocateNetworks(ctx context.Context, rc rpc.Context, inst *instance, b *buildRequest) ([]netmodel.VIF, error) {
	n, err := a.c.neutron.get(ctx)
	if err != nil {
		return nil, err
	}
	az := inst.str("availability_zone")
	ref := netmodel.InstanceRef{UUID: inst.uuid(), ProjectID: inst.str("project_id"), AvailabilityZone: az,
		Hostname: inst.str("hostname"), Host: a.opts.Resources.Host, SecurityGroups: b.securityGroups}
	vifs, err := n.AllocateForInstance(ctx, rc.AuthToken(), ref, b.requested)
	if err != nil {
		return nil, err
	}
	if err := a.saveInfoCache(ctx, rc, inst, vifs); err != nil {
		// The ports exist but nova's record of them does not: give them back.
		if derr := n.DeallocateForInstance(context.WithoutCancel(ctx), inst.uuid(), vifs); derr != nil {
			a.log.Error("ports of a failed allocation not released", "instance_uuid", inst.uuid(), "error", derr)
		}
		return nil, err
	}
	return vifs, nil
}

// saveInfoCache writes the instance's network_info (nova's update_instance_cache_with_nw_info).
func (a *Agent) saveInfoCache(ctx context.Context, rc rpc.Context, inst *instance, vifs []netmodel.VIF) error {
	text, err := netmodel.MarshalNetworkInfo(vifs)
	if err != nil {
		return err
	}
	ic, err := ovo.New("InstanceInfoCache")
	if err == nil {
		err = set(ic, map[string]any{"instance_uuid": inst.uuid(), "network_info": text})
	}
	if err != nil {
		return err
	}
	if _, err := a.svc.objs.action(ctx, rc, ic, "save", nil, nil); err != nil {
		return fmt.Errorf("InstanceInfoCache.save: %w", classifyInstanceError(err))
	}
	ic.ObjResetChangesRecursive()
	if err := inst.obj.Set("info_cache", ic); err == nil {
		inst.obj.ObjResetChanges("info_cache")
	}
	return nil
}

// instanceVIFs reads network_info from the instance's info cache.
func instanceVIFs(inst *instance) []netmodel.VIF {
	ic, _ := ovo.Value[*ovo.Object](inst.obj, "info_cache")
	if ic == nil {
		return nil
	}
	text, _ := ovo.Value[string](ic, "network_info")
	if text == "" {
		return nil
	}
	vifs, err := netmodel.ParseNetworkInfo(text)
	if err != nil {
		return nil
	}
	return vifs
}

// domainVIFs is what the domain definition needs of each VIF.
func domainVIFs(vifs []netmodel.VIF) []virt.VIF {
	out := make([]virt.VIF, 0, len(vifs))
	for _, v := range vifs {
		dv := virt.VIF{PortID: v.ID, MAC: v.Address, TapName: v.Devname, MTU: v.MTU()}
		if v.Network != nil {
			for _, s := range v.Network.Subnets {
				for _, ip := range s.IPs {
					dv.IPs = append(dv.IPs, virt.IP{Type: "fixed", Address: ip.Address, Version: ip.Version})
					for _, f := range ip.FloatingIPs {
						dv.IPs = append(dv.IPs, virt.IP{Type: "floating", Address: f.Address, Version: f.Version})
					}
				}
			}
		}
		out = append(out, dv)
	}
	return out
}

// TapPlugger is the host side of VIFs: a tap per port in the network's bridge (netplug
// implements it through an adapter in cmd/novalet; tests use a fake).
type TapPlugger interface {
	// Plug makes tap<port[:11]> with the MTU and enslaves it to brq<network[:11]>.
	Plug(ctx context.Context, portID, networkID string, mtu int) error
	// Unplug removes the port's tap; a missing one is fine.
	Unplug(ctx context.Context, portID string) error
	// Taps lists the taps novalet may own, by device name.
	Taps(ctx context.Context) ([]string, error)
	// RemoveTap removes a tap by device name (the reaper knows orphans by name only).
	RemoveTap(ctx context.Context, name string) error
}

// EnableNetworking turns on Neutron ports and taps for builds that ask for networks.
func (a *Agent) EnableNetworking(opts NetworkOptions, taps TapPlugger) {
	if opts.ReaperInterval <= 0 {
		opts.ReaperInterval = 10 * time.Minute
	}
	mk := opts.NewNeutron
	if mk == nil {
		cfg := opts.Neutron
		mk = func(ctx context.Context) (*neutron.Client, error) { return neutron.New(ctx, cfg, a.log) }
	}
	a.c.net = opts
	a.c.taps = taps
	a.c.neutron = &neutronClient{make: mk}
}

// plugVIFs plugs every VIF's tap; on failure the ones plugged are removed again.
func (a *Agent) plugVIFs(ctx context.Context, vifs []netmodel.VIF) error {
	for i, v := range vifs {
		if v.Network == nil {
			return fmt.Errorf("port %s has no network", v.ID)
		}
		if err := a.c.taps.Plug(ctx, v.ID, v.Network.ID, v.MTU()); err != nil {
			a.unplugVIFs(context.WithoutCancel(ctx), vifs[:i])
			return fmt.Errorf("plug port %s: %w", v.ID, err)
		}
	}
	return nil
}

func (a *Agent) unplugVIFs(ctx context.Context, vifs []netmodel.VIF) {
	if a.c.taps == nil {
		return
	}
	for _, v := range vifs {
		if err := a.c.taps.Unplug(ctx, v.ID); err != nil {
			a.log.Error("tap not removed", "port_id", v.ID, "error", err)
		}
	}
}

// vifEvents registers for network-vif-plugged of every VIF Neutron has not reported active
// yet (nova's _get_neutron_events), before anything can make Neutron send it.
func (a *Agent) vifEvents(uuid string, vifs []netmodel.VIF) map[string]<-chan extEvent {
	if a.c.net.VIFPluggingTimeout <= 0 {
		return nil
	}
	out := map[string]<-chan extEvent{}
	for _, v := range vifs {
		if !v.Active {
			key := "network-vif-plugged-" + v.ID
			out[key] = a.c.events.prepare(uuid, key)
		}
	}
	return out
}

// waitVIFEvents waits for every registered event, bounded by vif_plugging_timeout. A failed
// event or, when vif_plugging_is_fatal, a timeout is an error nova reports as
// VirtualInterfaceCreateException.
// The caller forgets the registrations when it is done with them.
func (a *Agent) waitVIFEvents(ctx context.Context, uuid string, events map[string]<-chan extEvent) error {
	timer := time.NewTimer(a.c.net.VIFPluggingTimeout)
	defer timer.Stop()
	for key, ch := range events {
		select {
		case e := <-ch:
			if e.Status == "failed" {
				return newFault("VirtualInterfaceCreateException", 500, nil,
					"Virtual Interface creation failed: Neutron reported %s failed", key)
			}
		case <-timer.C:
			if a.c.net.VIFPluggingIsFatal {
				return newFault("VirtualInterfaceCreateException", 500, nil,
					"Virtual Interface creation failed: port %s did not come up (no network-vif-plugged from Neutron within vif_plugging_timeout %s)",
					key[len("network-vif-plugged-"):], a.c.net.VIFPluggingTimeout)
			}
			a.log.Warn("timeout waiting for network-vif-plugged; continuing (vif_plugging_is_fatal = false)", "instance_uuid", uuid, "event", key)
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// cleanupNetworks is nova's _cleanup_allocated_networks after a failed build: taps removed,
// ports created for the instance deleted, pre-existing ones unbound.
func (a *Agent) cleanupNetworks(ctx context.Context, uuid string, vifs []netmodel.VIF, log *slog.Logger) {
	if a.c.neutron == nil || len(vifs) == 0 {
		return
	}
	ctx = context.WithoutCancel(ctx)
	a.unplugVIFs(ctx, vifs)
	if err := a.deallocateNetworks(ctx, uuid, vifs); err != nil {
		log.Error("ports of a failed build not released", "error", err)
	}
}

// deallocateNetworks is nova's deallocate_for_instance: every port of the instance (those in
// vifs and any other with its device_id) deleted, or unbound if the user brought it.
func (a *Agent) deallocateNetworks(ctx context.Context, uuid string, vifs []netmodel.VIF) error {
	n, err := a.c.neutron.get(ctx)
	if err != nil {
		return err
	}
	return n.DeallocateForInstance(ctx, uuid, vifs)
}
