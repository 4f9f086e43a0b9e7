package netplugtest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/novalet/novalet/netplug"
)

// Env is one Plugger under test with what the suite needs around it.
type Env struct {
	P netplug.Plugger
	// AddBridge makes a bridge as another party would (the linuxbridge agent).
	AddBridge func(t *testing.T, name string, mtu int)
	// AddTap makes a tap enslaved to master ("" for none), as a stray fixture.
	AddTap func(t *testing.T, name, master string, mtu int)
	// BridgeExists reports whether a bridge is there.
	BridgeExists func(t *testing.T, name string) bool
}

const (
	netA  = "0c1d2e3f-aaaa-4bbb-8ccc-ddddeeeeffff"
	netB  = "5b3a7f8e-1111-4222-8333-444455556666"
	port1 = "9f8e7d6c-1234-4567-89ab-cdef01234567"
	port2 = "11112222-3333-4444-8555-666677778888"
)

// Run is the conformance suite; newEnv gives each case a fresh, empty world.
func Run(t *testing.T, newEnv func(t *testing.T) Env) {
	ctx := func(t *testing.T) context.Context {
		c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		t.Cleanup(cancel)
		return c
	}
	tapOf := func(t *testing.T, e Env, port string) (netplug.Tap, bool) {
		t.Helper()
		taps, err := e.P.List(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		for _, tp := range taps {
			if tp.Name == netplug.TapName(port) {
				return tp, true
			}
		}
		return netplug.Tap{}, false
	}

	t.Run("plug makes bridge and tap", func(t *testing.T) {
		e := newEnv(t)
		if err := e.P.Plug(ctx(t), netplug.VIF{PortID: port1, NetworkID: netA, MTU: 1450}); err != nil {
			t.Fatal(err)
		}
		if !e.BridgeExists(t, netplug.BridgeName(netA)) {
			t.Fatal("bridge not made")
		}
		tp, ok := tapOf(t, e, port1)
		if !ok || tp.Master != netplug.BridgeName(netA) || tp.MTU != 1450 || !tp.Up {
			t.Fatalf("tap %+v (found %v)", tp, ok)
		}
	})
	t.Run("plug twice is fine", func(t *testing.T) {
		e := newEnv(t)
		v := netplug.VIF{PortID: port1, NetworkID: netA, MTU: 1500}
		for range 2 {
			if err := e.P.Plug(ctx(t), v); err != nil {
				t.Fatal(err)
			}
		}
		if taps, _ := e.P.List(ctx(t)); len(taps) != 1 {
			t.Fatalf("taps after two plugs: %+v", taps)
		}
	})
	t.Run("existing bridge is used and kept", func(t *testing.T) {
		e := newEnv(t)
		e.AddBridge(t, netplug.BridgeName(netB), 1500)
		if err := e.P.Plug(ctx(t), netplug.VIF{PortID: port2, NetworkID: netB}); err != nil {
			t.Fatal(err)
		}
		if tp, ok := tapOf(t, e, port2); !ok || tp.Master != netplug.BridgeName(netB) || tp.MTU != 1500 {
			t.Fatalf("tap %+v (found %v)", tp, ok)
		}
		if err := e.P.Unplug(ctx(t), port2); err != nil {
			t.Fatal(err)
		}
		if !e.BridgeExists(t, netplug.BridgeName(netB)) {
			t.Fatal("unplug removed a bridge someone else made")
		}
		if _, ok := tapOf(t, e, port2); ok {
			t.Fatal("tap still there after unplug")
		}
	})
	t.Run("unplug of a missing tap is fine", func(t *testing.T) {
		e := newEnv(t)
		if err := e.P.Unplug(ctx(t), port1); err != nil {
			t.Fatal(err)
		}
		if err := e.P.RemoveTap(ctx(t), netplug.TapName(port2)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("remove a tap by name", func(t *testing.T) {
		e := newEnv(t)
		e.AddTap(t, netplug.TapName(port2), "", 1500)
		if err := e.P.RemoveTap(ctx(t), netplug.TapName(port2)); err != nil {
			t.Fatal(err)
		}
		if _, ok := tapOf(t, e, port2); ok {
			t.Fatal("tap still there")
		}
		if err := e.P.RemoveTap(ctx(t), "eth0"); !errors.Is(err, netplug.ErrInvalid) {
			t.Errorf("remove eth0: %v, want ErrInvalid", err)
		}
	})
	t.Run("tap in the wrong bridge is moved, MTU fixed", func(t *testing.T) {
		e := newEnv(t)
		e.AddBridge(t, netplug.BridgeName(netB), 1500)
		e.AddTap(t, netplug.TapName(port1), netplug.BridgeName(netB), 1400)
		if err := e.P.Plug(ctx(t), netplug.VIF{PortID: port1, NetworkID: netA, MTU: 1450}); err != nil {
			t.Fatal(err)
		}
		if tp, ok := tapOf(t, e, port1); !ok || tp.Master != netplug.BridgeName(netA) || tp.MTU != 1450 || !tp.Up {
			t.Fatalf("tap %+v (found %v)", tp, ok)
		}
	})
	t.Run("list shows taps only", func(t *testing.T) {
		e := newEnv(t)
		for _, p := range []string{port1, port2} {
			if err := e.P.Plug(ctx(t), netplug.VIF{PortID: p, NetworkID: netA}); err != nil {
				t.Fatal(err)
			}
		}
		taps, err := e.P.List(ctx(t))
		if err != nil || len(taps) != 2 {
			t.Fatalf("list: %+v %v", taps, err)
		}
	})
	t.Run("invalid input is refused before the kernel", func(t *testing.T) {
		e := newEnv(t)
		for _, v := range []netplug.VIF{
			{PortID: "../../etc", NetworkID: netA},
			{PortID: port1, NetworkID: "x y"},
			{PortID: port1, NetworkID: netA, MTU: 10},
		} {
			if err := e.P.Plug(ctx(t), v); !errors.Is(err, netplug.ErrInvalid) {
				t.Errorf("plug %+v: %v, want ErrInvalid", v, err)
			}
		}
		if err := e.P.Unplug(ctx(t), "eth0"); !errors.Is(err, netplug.ErrInvalid) {
			t.Errorf("unplug eth0: %v, want ErrInvalid", err)
		}
		if e.BridgeExists(t, netplug.BridgeName(netA)) {
			t.Error("a refused plug made a bridge")
		}
	})
	t.Run("cancelled context", func(t *testing.T) {
		e := newEnv(t)
		c, cancel := context.WithCancel(context.Background())
		cancel()
		if err := e.P.Plug(c, netplug.VIF{PortID: port1, NetworkID: netA}); !errors.Is(err, context.Canceled) {
			t.Errorf("plug with a cancelled context: %v", err)
		}
	})
}
