package neutron

// Port release for a delete or a failed build: nova's deallocate_for_instance.

import (
	"context"
	"errors"
	"fmt"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/ports"
	"github.com/novalet/novalet/netmodel"
)

// DeallocateForInstance releases the instance's ports as nova's deallocate_for_instance does:
// the ports whose VIF says preserve_on_delete (the user's) are unbound (device_id,
// device_owner, binding:host_id cleared, binding:profile cleaned), every other port whose
// device_id is the instance is deleted. Ports already gone are fine, so a repeated call
// converges; other failures are all returned, after every port was tried.
func (n *Client) DeallocateForInstance(ctx context.Context, instanceUUID string, vifs []netmodel.VIF) error {
	if instanceUUID == "" {
		// An empty device_id filter would match every unattached port.
		return fmt.Errorf("%w: deallocate needs the instance uuid", ErrNeutron)
	}
	log := n.log.With("instance_uuid", instanceUUID)
	attached, err := n.listPorts(ctx, neutronQuery{"device_id": {instanceUUID}})
	if err != nil {
		return err
	}
	keep := map[string]bool{}
	var errs []error
	for _, v := range vifs {
		if !v.PreserveOnDelete || keep[v.ID] {
			continue
		}
		keep[v.ID] = true
		if err := n.unbind(ctx, v.ID); err != nil {
			errs = append(errs, err)
			continue
		}
		log.Info("unbound port", "port_id", v.ID)
	}
	for _, p := range attached {
		if keep[p.ID] {
			continue
		}
		if err := n.deletePort(ctx, p.ID); err != nil {
			errs = append(errs, err)
			continue
		}
		log.Info("deleted port", "port_id", p.ID)
	}
	return errors.Join(errs...)
}

// profileKeysOfDevice are the binding:profile keys that describe this host's device, which
// nova removes when it unbinds a port.
var profileKeysOfDevice = []string{"pci_vendor_info", "pci_slot", "allocation", "arq_uuid",
	"physical_network", "card_serial_number", "vf_num", "pf_mac_address", "device_mac_address"}

// unbind is nova's _unbind_ports for one port; a port that is gone is fine.
func (n *Client) unbind(ctx context.Context, portID string) error {
	p, err := n.getPort(ctx, n.admin, portID)
	if errors.Is(err, ErrNetworkNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	profile := map[string]any{}
	for k, v := range p.Profile {
		profile[k] = v
	}
	for _, k := range profileKeysOfDevice {
		delete(profile, k)
	}
	b := portBody{"device_id": "", "device_owner": "", "binding:host_id": nil, "binding:profile": profile}
	dnsExt, err := n.hasExtension(ctx, "dns-integration")
	if err != nil {
		return err
	}
	if dnsExt {
		var nw neutronNetwork
		err := networks.Get(ctx, n.admin, p.NetworkID).ExtractInto(&nw)
		if err != nil && !gophercloud.ResponseCodeIs(err, 404) {
			return neutronError("show network "+p.NetworkID, err, nil)
		}
		if nw.DNSDomain == "" {
			b["dns_name"] = ""
		}
	}
	if _, err := updatePort(ctx, n.admin, portID, b); err != nil && !gophercloud.ResponseCodeIs(err, 404) {
		return neutronError("unbind port "+portID, err, nil)
	}
	return nil
}

// deletePort deletes a port; one that is gone is fine.
func (n *Client) deletePort(ctx context.Context, id string) error {
	if err := ports.Delete(ctx, n.admin, id).ExtractErr(); err != nil && !gophercloud.ResponseCodeIs(err, 404) {
		return neutronError("delete port "+id, err, nil)
	}
	return nil
}
