package netmodel

import "testing"

func TestDeviceNames(t *testing.T) {
	const port = "0c1d2e3f-aaaa-bbbb-cccc-ddddeeeeffff"
	if got := TapName(port); got != "tap0c1d2e3f-aa" {
		t.Fatalf("TapName = %q, want nova's tap + 11 characters", got)
	}
	if got := BridgeName(port); got != "brq0c1d2e3f-aa" {
		t.Fatalf("BridgeName = %q", got)
	}
	if got := TapName("short"); got != "tapshort" {
		t.Fatalf("TapName(short) = %q", got)
	}
	if got := (VIF{ID: port}).TapName(); got != "tap0c1d2e3f-aa" {
		t.Fatalf("VIF.TapName without devname = %q", got)
	}
	if got := (VIF{ID: port, Devname: "vhu0c1d2e3f-aa"}).TapName(); got != "vhu0c1d2e3f-aa" {
		t.Fatalf("VIF.TapName with devname = %q, want the devname", got)
	}
}

func TestNetworkInfoCodecEmpty(t *testing.T) {
	if s, err := MarshalNetworkInfo(nil); err != nil || s != "[]" {
		t.Fatalf("MarshalNetworkInfo(nil) = %q, %v; nova stores []", s, err)
	}
	for _, in := range []string{"", "  ", "null", "[]"} {
		vifs, err := ParseNetworkInfo(in)
		if err != nil || len(vifs) != 0 {
			t.Fatalf("ParseNetworkInfo(%q) = %v, %v; want no VIFs", in, vifs, err)
		}
	}
	if _, err := ParseNetworkInfo("{not json"); err == nil {
		t.Fatal("ParseNetworkInfo accepted a broken info cache")
	}
}
