package neutron

// Port binding to the host an instance now runs on: nova's setup_instance_network_on_host
// (_update_port_binding_for_instance), for unshelve and, later, the moves.

import (
	"context"
	"errors"
	"fmt"

	"github.com/novalet/novalet/netmodel"
)

// failedVIFTypes are binding:vif_type values of a port Neutron could not bind.
var failedVIFTypes = map[string]bool{"unbound": true, "binding_failed": true}

// SetupInstanceNetworkOnHost binds the instance's ports (device_id the instance, tenant its
// project) to inst.Host: a port bound elsewhere, or whose binding failed, gets
// binding:host_id inst.Host and device_owner "compute:<az>", and loses a "migrating_to" key of
// its binding:profile. Ports already bound here are left alone. Every port is tried; the
// failures are returned together.
func (n *Client) SetupInstanceNetworkOnHost(ctx context.Context, inst netmodel.InstanceRef) error {
	if inst.UUID == "" || inst.Host == "" {
		return fmt.Errorf("%w: binding ports needs the instance uuid and the host", ErrNeutron)
	}
	q := neutronQuery{"device_id": {inst.UUID}}
	if inst.ProjectID != "" {
		q["tenant_id"] = []string{inst.ProjectID}
	}
	attached, err := n.listPorts(ctx, q)
	if err != nil {
		return err
	}
	log := n.log.With("instance_uuid", inst.UUID)
	az := inst.AvailabilityZone
	if az == "" {
		az = "None"
	}
	var errs []error
	for _, p := range attached {
		if p.HostID == inst.Host && !failedVIFTypes[p.VIFType] {
			continue
		}
		b := portBody{"binding:host_id": inst.Host, "device_owner": "compute:" + az}
		if _, ok := p.Profile["migrating_to"]; ok {
			profile := map[string]any{}
			for k, v := range p.Profile {
				if k != "migrating_to" {
					profile[k] = v
				}
			}
			b["binding:profile"] = profile
		}
		log.Info("updating port binding", "port_id", p.ID, "from_host", p.HostID, "to_host", inst.Host)
		if _, err := updatePort(ctx, n.admin, p.ID, b); err != nil {
			errs = append(errs, neutronError("bind port "+p.ID+" to "+inst.Host, err, nil))
		}
	}
	return errors.Join(errs...)
}
