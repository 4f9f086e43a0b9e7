package netplug_test

import (
	"testing"

	"github.com/novalet/novalet/netplug"
	"github.com/novalet/novalet/netplug/netplugtest"
)

func TestFakeConformance(t *testing.T) {
	netplugtest.Run(t, func(t *testing.T) netplugtest.Env {
		f := netplugtest.NewFake()
		return netplugtest.Env{
			P:            f,
			AddBridge:    func(_ *testing.T, name string, mtu int) { f.AddBridge(name, mtu) },
			AddTap:       func(_ *testing.T, name, master string, mtu int) { f.AddTap(name, master, mtu) },
			BridgeExists: func(_ *testing.T, name string) bool { _, ok := f.Bridge(name); return ok },
		}
	})
}

// recordingTB notes a failure instead of failing the test.
type recordingTB struct {
	testing.TB
	failed bool
}

func (r *recordingTB) Helper()               {}
func (r *recordingTB) Errorf(string, ...any) { r.failed = true }

func TestFakeCheckCleanSeesLeftTaps(t *testing.T) {
	f := netplugtest.NewFake()
	const port = "9f8e7d6c-1234-4567-89ab-cdef01234567"
	if err := f.Plug(t.Context(), netplug.VIF{PortID: port, NetworkID: "0c1d2e3f-aaaa-4bbb-8ccc-ddddeeeeffff"}); err != nil {
		t.Fatal(err)
	}
	r := &recordingTB{TB: t}
	f.CheckClean(r)
	if !r.failed {
		t.Fatal("CheckClean passed with a tap left")
	}
	if err := f.Unplug(t.Context(), port); err != nil {
		t.Fatal(err)
	}
	r = &recordingTB{TB: t}
	f.CheckClean(r)
	if r.failed {
		t.Fatal("CheckClean failed with only the bridge left (bridges belong to the linuxbridge agent)")
	}
}
