package netplug_test

import (
	"testing"

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
