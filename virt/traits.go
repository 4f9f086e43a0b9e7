package virt

import (
	"context"
	"slices"
	"strings"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"
)

// capabilityTraits are the libvirt driver's capability traits in nova 26.2.2
// (LibvirtDriver.capabilities through CAPABILITY_TRAITS_MAP) that hold for a QEMU host
// without UEFI secure boot.
var capabilityTraits = []string{
	"COMPUTE_ACCELERATORS", "COMPUTE_DEVICE_TAGGING",
	"COMPUTE_IMAGE_TYPE_AKI", "COMPUTE_IMAGE_TYPE_AMI", "COMPUTE_IMAGE_TYPE_ARI",
	"COMPUTE_IMAGE_TYPE_ISO", "COMPUTE_IMAGE_TYPE_QCOW2", "COMPUTE_IMAGE_TYPE_RAW",
	"COMPUTE_NET_ATTACH_INTERFACE", "COMPUTE_NET_ATTACH_INTERFACE_WITH_TAG",
	"COMPUTE_RESCUE_BFV", "COMPUTE_SOCKET_PCI_NUMA_AFFINITY", "COMPUTE_TRUSTED_CERTS",
	"COMPUTE_VOLUME_ATTACH_WITH_TAG", "COMPUTE_VOLUME_EXTEND", "COMPUTE_VOLUME_MULTI_ATTACH",
}

// vifModels is nova's libvirt SUPPORTED_VIF_MODELS per virt type.
var vifModels = map[string][]string{
	"qemu": {"virtio", "ne2k_pci", "pcnet", "rtl8139", "e1000", "e1000e", "lan9118", "spapr-vlan", "vmxnet3"},
	"kvm":  {"virtio", "ne2k_pci", "pcnet", "rtl8139", "e1000", "e1000e", "spapr-vlan", "vmxnet3"},
}

// standardTraits are the os-traits 2.9.0 names in the families built from domain
// capabilities; a name outside them is not a standard trait and Placement would refuse it,
// so it is dropped as nova's ot.check_traits does.
var standardTraits = map[string]bool{}

func init() {
	for _, t := range []string{
		"COMPUTE_GRAPHICS_MODEL_BOCHS", "COMPUTE_GRAPHICS_MODEL_CIRRUS", "COMPUTE_GRAPHICS_MODEL_GOP",
		"COMPUTE_GRAPHICS_MODEL_NONE", "COMPUTE_GRAPHICS_MODEL_QXL", "COMPUTE_GRAPHICS_MODEL_VGA",
		"COMPUTE_GRAPHICS_MODEL_VIRTIO", "COMPUTE_GRAPHICS_MODEL_VMVGA", "COMPUTE_GRAPHICS_MODEL_XEN",
		"COMPUTE_STORAGE_BUS_FDC", "COMPUTE_STORAGE_BUS_IDE", "COMPUTE_STORAGE_BUS_LXC",
		"COMPUTE_STORAGE_BUS_SATA", "COMPUTE_STORAGE_BUS_SCSI", "COMPUTE_STORAGE_BUS_UML",
		"COMPUTE_STORAGE_BUS_USB", "COMPUTE_STORAGE_BUS_VIRTIO", "COMPUTE_STORAGE_BUS_XEN",
		"COMPUTE_NET_VIF_MODEL_E1000", "COMPUTE_NET_VIF_MODEL_E1000E", "COMPUTE_NET_VIF_MODEL_LAN9118",
		"COMPUTE_NET_VIF_MODEL_NE2K_PCI", "COMPUTE_NET_VIF_MODEL_NETFRONT", "COMPUTE_NET_VIF_MODEL_PCNET",
		"COMPUTE_NET_VIF_MODEL_RTL8139", "COMPUTE_NET_VIF_MODEL_SPAPR_VLAN", "COMPUTE_NET_VIF_MODEL_SRIOV",
		"COMPUTE_NET_VIF_MODEL_VIRTIO", "COMPUTE_NET_VIF_MODEL_VMXNET", "COMPUTE_NET_VIF_MODEL_VMXNET3",
	} {
		standardTraits[t] = true
	}
}

// machineTypes are the x86_64 machine types whose domain capabilities nova reads.
var machineTypes = []string{"pc", "q35"}

// ManagedTrait reports whether nova's libvirt driver owns a trait (and so novalet may remove
// it); everything else on the provider belongs to someone else and is left alone.
func ManagedTrait(t string) bool {
	return strings.HasPrefix(t, "COMPUTE_") || strings.HasPrefix(t, "HW_CPU_")
}

// DriverTraits returns the traits the libvirt driver reports for this host: capability traits,
// storage buses and video models from the domain capabilities of each machine type, and the
// VIF models of the virt type, and the host CPU's feature traits.
func (c *Conn) DriverTraits(ctx context.Context, virtType string) ([]string, error) {
	traits := slices.Clone(capabilityTraits)
	for _, m := range vifModels[virtType] {
		traits = append(traits, "COMPUTE_NET_VIF_MODEL_"+strings.ToUpper(strings.ReplaceAll(m, "-", "_")))
	}
	capsXML, err := connCall(ctx, c, "capabilities", func(lv *libvirt.Connect) (string, error) { return lv.GetCapabilities() }, nil)
	if err != nil {
		return nil, err
	}
	var caps libvirtxml.Caps
	if err := caps.Unmarshal(capsXML); err != nil {
		return nil, wrapErr("capabilities", err)
	}
	if virtType == "qemu" || virtType == "kvm" {
		traits = append(traits, cpuTraits(caps.Host)...)
	}
	for _, machine := range machineTypes {
		raw, err := connCall(ctx, c, "domain capabilities "+machine, func(lv *libvirt.Connect) (string, error) {
			return lv.GetDomainCapabilities("", "x86_64", machine, virtType, 0)
		}, nil)
		if err != nil {
			return nil, err
		}
		var dc libvirtxml.DomainCaps
		if err := dc.Unmarshal(raw); err != nil {
			return nil, wrapErr("domain capabilities "+machine, err)
		}
		traits = append(traits, domCapsTraits(&dc)...)
	}
	traits = slices.DeleteFunc(traits, func(t string) bool {
		fam := strings.HasPrefix(t, "COMPUTE_GRAPHICS_MODEL_") || strings.HasPrefix(t, "COMPUTE_STORAGE_BUS_") ||
			strings.HasPrefix(t, "COMPUTE_NET_VIF_MODEL_")
		return fam && !standardTraits[t]
	})
	slices.Sort(traits)
	return slices.Compact(traits), nil
}

func domCapsTraits(dc *libvirtxml.DomainCaps) []string {
	var out []string
	if dc.Devices == nil {
		return out
	}
	enumValues := func(enums []libvirtxml.DomainCapsEnum, name string) []string {
		for _, e := range enums {
			if e.Name == name {
				return e.Values
			}
		}
		return nil
	}
	if d := dc.Devices.Disk; d != nil && d.Supported == "yes" {
		for _, b := range enumValues(d.Enums, "bus") {
			out = append(out, "COMPUTE_STORAGE_BUS_"+strings.ToUpper(b))
		}
	}
	if v := dc.Devices.Video; v != nil && v.Supported == "yes" {
		for _, m := range enumValues(v.Enums, "modelType") {
			out = append(out, "COMPUTE_GRAPHICS_MODEL_"+strings.ToUpper(m))
		}
	}
	return out
}
