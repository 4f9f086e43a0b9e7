package netmodel

// Device names, as nova gives them (nova/network/neutron.py _build_vif_model,
// nova/network/model.py NIC_NAME_LEN) and the linuxbridge agent expects them.

// TapName is a port's tap device: "tap" + the port id, cut to NICNameLen (tap + 11 characters).
func TapName(portID string) string { return truncate("tap"+portID, NICNameLen) }

// BridgeName is the linuxbridge agent's bridge for a network: "brq" + the network id, cut to
// NICNameLen.
func BridgeName(networkID string) string { return truncate("brq"+networkID, NICNameLen) }

// TapName is the VIF's tap device: its devname, else the port's TapName.
func (v VIF) TapName() string {
	if v.Devname != "" {
		return v.Devname
	}
	return TapName(v.ID)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
