package netplugfake

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/novalet/novalet/netplug"
)

// Fake is an in-memory kernel of bridges and taps with netplug's rules.
type Fake struct {
	mu      sync.Mutex
	bridges map[string]int   // name -> MTU
	taps    map[string]*link // name -> tap
	inject  []error          // returned by the next Plug calls, in order
}

type link struct {
	master  string
	mtu     int
	up      bool
	carrier bool
}

var _ netplug.Plugger = (*Fake)(nil)

// New returns an empty fake.
func New() *Fake { return &Fake{bridges: map[string]int{}, taps: map[string]*link{}} }

// FailNextPlug makes the next Plug fail with err.
func (f *Fake) FailNextPlug(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inject = append(f.inject, err)
}

// AddBridge makes a bridge as another party (the linuxbridge agent) would.
func (f *Fake) AddBridge(name string, mtu int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.bridges[name] = mtu
}

// AddTap makes a tap in a given bridge ("" for none), as a test fixture.
func (f *Fake) AddTap(name, master string, mtu int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.taps[name] = &link{master: master, mtu: mtu}
}

// Plug implements netplug.Plugger.
func (f *Fake) Plug(ctx context.Context, v netplug.VIF) error {
	if err := netplug.Validate(v); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.inject) > 0 {
		err := f.inject[0]
		f.inject = f.inject[1:]
		return err
	}
	mtu := v.MTU
	if mtu == 0 {
		mtu = 1500
	}
	br := netplug.BridgeName(v.NetworkID)
	if _, ok := f.bridges[br]; !ok {
		f.bridges[br] = mtu
	}
	name := netplug.TapName(v.PortID)
	t := f.taps[name]
	if t == nil {
		t = &link{}
		f.taps[name] = t
	}
	t.master, t.mtu, t.up = br, mtu, true
	return nil
}

// Unplug implements netplug.Plugger.
func (f *Fake) Unplug(ctx context.Context, portID string) error {
	if err := netplug.ValidatePortID(portID); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return f.RemoveTap(ctx, netplug.TapName(portID))
}

// RemoveTap implements netplug.Plugger.
func (f *Fake) RemoveTap(ctx context.Context, name string) error {
	if !netplug.IsTapName(name) {
		return fmt.Errorf("%w: %q is not a port's tap name", netplug.ErrInvalid, name)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.taps, name)
	return nil
}

// List implements netplug.Plugger.
func (f *Fake) List(ctx context.Context) ([]netplug.Tap, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []netplug.Tap
	for name, t := range f.taps {
		if netplug.IsTapName(name) {
			out = append(out, netplug.Tap{Name: name, Master: t.master, MTU: t.mtu, Up: t.up, Carrier: t.carrier})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Bridge reports a bridge's MTU, for the suite's inspector.
func (f *Fake) Bridge(name string) (mtu int, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	mtu, ok = f.bridges[name]
	return mtu, ok
}

// SetCarrier says whether a process (a guest's QEMU) holds the tap open, as the kernel's carrier
// would show it.
func (f *Fake) SetCarrier(name string, on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t := f.taps[name]; t != nil {
		t.carrier = on
	}
}

// Taps lists the tap names the fake holds, sorted.
func (f *Fake) Taps() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	names := make([]string, 0, len(f.taps))
	for name := range f.taps {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// CheckClean fails t when any tap is left: every tap plugged must be unplugged or reaped.
// Bridges may stay (the linuxbridge agent owns them).
func (f *Fake) CheckClean(t TB) {
	t.Helper()
	if left := f.Taps(); len(left) > 0 {
		t.Errorf("netplugfake.Fake: taps left: %s", strings.Join(left, ", "))
	}
}

func (f *Fake) String() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return fmt.Sprintf("bridges %v taps %d", f.bridges, len(f.taps))
}
