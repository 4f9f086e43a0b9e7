package agent

import (
	"fmt"
	"strings"

	"github.com/novalet/novalet/openstack/glance"
	"github.com/novalet/novalet/virt"
)

// Stable device rescue: nova 26.2.2's libvirt driver rescues "stably" when the rescue image
// has hw_rescue_device or hw_rescue_bus (hardware.check_hw_rescue_props): the instance keeps
// every device it has, and the rescue disk comes last, booted first
// (blockinfo._get_stable_device_rescue_mapping).

// isStableRescue is nova's hardware.check_hw_rescue_props: either property present, even
// empty.
func isStableRescue(img *glance.Image) bool {
	_, dev := img.Properties["hw_rescue_device"]
	_, bus := img.Properties["hw_rescue_bus"]
	return dev || bus
}

// supportedDiskBuses is nova's SUPPORTED_DEVICE_BUSES for virt_type qemu and kvm.
var supportedDiskBuses = map[string]bool{"virtio": true, "scsi": true, "ide": true, "usb": true, "fdc": true, "sata": true}

// stableRescueDevice is nova's get_rescue_device and get_rescue_bus for the rescue image:
// hw_rescue_device (default disk) among nova's device types, and hw_rescue_bus when given
// (it must be a bus of the virt type), else the bus nova picks for that device type
// (get_disk_bus_for_device_type on the rescue image). Errors carry nova's messages; they are
// driver errors, raised after the guest was powered off, as in nova.
func stableRescueDevice(props map[string]string, virtType, machineType string) (*virt.RescueDevice, error) {
	device, ok := props["hw_rescue_device"]
	if !ok {
		device = "disk"
	}
	switch device {
	case "disk", "cdrom", "floppy", "lun":
	default:
		return nil, fmt.Errorf("Requested rescue device '%s' is not supported", device)
	}
	if virtType == "" {
		virtType = virt.VirtTypeQEMU
	}
	if bus, ok := props["hw_rescue_bus"]; ok {
		if !supportedDiskBuses[bus] {
			return nil, fmt.Errorf("Requested rescue bus '%s' is not supported by the %s virt driver", bus, virtType)
		}
		return &virt.RescueDevice{Device: device, Bus: bus}, nil
	}
	if bus, ok := props["hw_"+device+"_bus"]; ok {
		if !supportedDiskBuses[bus] {
			return nil, fmt.Errorf("Requested hardware '%s' is not supported by the '%s' virt driver", bus, virtType)
		}
		return &virt.RescueDevice{Device: device, Bus: bus}, nil
	}
	var bus string
	switch device {
	case "disk":
		bus = "virtio"
	case "cdrom":
		// x86_64: sata on a q35 machine type, ide otherwise (the rescue image's
		// hw_machine_type, else [libvirt] hw_machine_type).
		bus = "ide"
		mt := props["hw_machine_type"]
		if mt == "" {
			mt = machineType
		}
		if strings.Contains(mt, virt.MachineQ35) {
			bus = "sata"
		}
	case "floppy":
		bus = "fdc"
	default:
		// nova finds no bus for a lun and fails naming the dev prefix of None.
		return nil, fmt.Errorf("Unable to determine disk prefix for None")
	}
	return &virt.RescueDevice{Device: device, Bus: bus}, nil
}
