package netmodel

import "testing"

// FuzzParseNetworkInfo: an info cache from the database (ours or nova's, or damaged) parses or
// fails cleanly, and what parses survives a round trip through the codec unchanged.
func FuzzParseNetworkInfo(f *testing.F) {
	f.Add(`[]`)
	f.Add(`[{"id": "0c1d2e3f-aaaa-bbbb-cccc-ddddeeeeffff", "address": "fa:16:3e:12:34:56", "type": "bridge", "devname": "tap0c1d2e3f-aa",
	  "network": {"id": "n1", "bridge": "brqn1", "label": "net", "meta": {"mtu": 1450}, "subnets": [{"cidr": "10.0.0.0/24",
	  "ips": [{"address": "10.0.0.5", "type": "fixed", "version": 4, "meta": {}, "floating_ips": []}], "routes": [], "dns": [],
	  "gateway": {"address": "10.0.0.1", "type": "gateway", "version": 4, "meta": {}}, "meta": {"dhcp_server": "10.0.0.2"}}]},
	  "details": {}, "active": true, "vnic_type": "normal", "profile": {}, "preserve_on_delete": false, "meta": {}}]`)
	f.Add(`null`)
	f.Add(`[{"network": null}]`)
	f.Fuzz(func(t *testing.T, s string) {
		vifs, err := ParseNetworkInfo(s)
		if err != nil {
			return
		}
		for _, v := range vifs {
			_ = v.TapName()
			_ = v.BridgeName()
			_ = v.MTU()
		}
		if _, err := NetworkDataJSON(vifs); err != nil {
			return
		}
		text, err := MarshalNetworkInfo(vifs)
		if err != nil {
			t.Fatalf("parsed but does not marshal: %v", err)
		}
		again, err := ParseNetworkInfo(text)
		if err != nil {
			t.Fatalf("our own output does not parse: %v\n%s", err, text)
		}
		// The wire form is what nova reads back: it must be stable.
		if text2, err := MarshalNetworkInfo(again); err != nil || text2 != text {
			t.Fatalf("round trip changed the info cache (%v):\n%s\n%s", err, text, text2)
		}
	})
}
