package agent

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/novalet/novalet/metrics"
	"github.com/novalet/novalet/netmodel"
	"github.com/novalet/novalet/netplug"
	"github.com/novalet/novalet/rpc"
	"github.com/novalet/novalet/rpc/ovo"
	"github.com/novalet/novalet/virt"
)

// Networking of an instance: Neutron ports bound to this host, the info cache nova-api and the
// metadata service read, taps plugged into the network's bridge, and the wait for Neutron to
// report each port up (network-vif-plugged).

// NetworkOptions are the [DEFAULT] vif_plugging_* options and the tap reaper's spacing.
type NetworkOptions struct {
	VIFPluggingTimeout time.Duration // 0 = do not wait for network-vif-plugged
	VIFPluggingIsFatal bool
	ReaperInterval     time.Duration // orphan tap reaping; 0 = 10 minutes
}

// allocateNetworks is nova's allocate_for_instance during a build: ports created (as the user)
// or taken, bound to this host, and the info cache saved.
func (a *Agent) allocateNetworks(ctx context.Context, rc rpc.Context, inst *instance, b *buildRequest) ([]netmodel.VIF, error) {
	az := inst.str("availability_zone")
	ref := netmodel.InstanceRef{UUID: inst.uuid(), ProjectID: inst.str("project_id"), AvailabilityZone: az,
		Hostname: inst.str("hostname"), Host: a.opts.Host, SecurityGroups: b.securityGroups}
	vifs, err := a.c.network.AllocateForInstance(ctx, rc.AuthToken(), ref, b.requested)
	if err != nil {
		return nil, err
	}
	if err := a.saveInfoCache(ctx, rc, inst, vifs); err != nil {
		// The ports exist but nova's record of them does not: give them back.
		if derr := a.c.network.DeallocateForInstance(context.WithoutCancel(ctx), inst.uuid(), vifs); derr != nil {
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
	vifs, _ := parseInstanceVIFs(inst)
	return vifs
}

// parseInstanceVIFs is instanceVIFs that says when the info cache does not parse.
func parseInstanceVIFs(inst *instance) ([]netmodel.VIF, error) {
	ic, _ := ovo.Value[*ovo.Object](inst.obj, "info_cache")
	if ic == nil {
		return nil, nil
	}
	text, _ := ovo.Value[string](ic, "network_info")
	if text == "" {
		return nil, nil
	}
	vifs, err := netmodel.ParseNetworkInfo(text)
	if err != nil {
		return nil, fmt.Errorf("instance %s: %w", inst.uuid(), err)
	}
	return vifs, nil
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

// plugVIFs plugs every VIF's tap; on failure the ones plugged are removed again.
func (a *Agent) plugVIFs(ctx context.Context, vifs []netmodel.VIF) error {
	for i, v := range vifs {
		if v.Network == nil {
			return fmt.Errorf("port %s has no network", v.ID)
		}
		err := a.c.taps.Plug(ctx, netplug.VIF{PortID: v.ID, NetworkID: v.Network.ID, MTU: v.MTU()})
		a.obs.TapOperation(metrics.TapPlug, metrics.ResultOf(err))
		if err != nil {
			a.unplugVIFs(context.WithoutCancel(ctx), vifs[:i])
			return fmt.Errorf("plug port %s: %w", v.ID, err)
		}
	}
	return nil
}

func (a *Agent) unplugVIFs(ctx context.Context, vifs []netmodel.VIF) {
	for _, v := range vifs {
		err := a.c.taps.Unplug(ctx, v.ID)
		a.obs.TapOperation(metrics.TapUnplug, metrics.ResultOf(err))
		if err != nil {
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

// waitVIFEvents waits for every registered event, bounded by vif_plugging_timeout. When
// vif_plugging_is_fatal, a failed event or a timeout is an error nova reports as
// VirtualInterfaceCreateException; otherwise both are logged and the spawn goes on (nova's
// _neutron_failed_callback and timeout handling).
// The caller forgets the registrations when it is done with them.
func (a *Agent) waitVIFEvents(ctx context.Context, uuid string, events map[string]<-chan extEvent) error {
	timer := time.NewTimer(a.c.net.VIFPluggingTimeout)
	defer timer.Stop()
	for key, ch := range events {
		select {
		case e := <-ch:
			if e.Status == "failed" {
				if !a.c.net.VIFPluggingIsFatal {
					a.log.Warn("Neutron reported network-vif-plugged failed; continuing (vif_plugging_is_fatal = false)", "instance_uuid", uuid, "event", key)
					continue
				}
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
	if len(vifs) == 0 {
		return
	}
	ctx = context.WithoutCancel(ctx)
	a.unplugVIFs(ctx, vifs)
	if err := a.c.network.DeallocateForInstance(ctx, uuid, vifs); err != nil {
		log.Error("ports of a failed build not released", "error", err)
	}
}
