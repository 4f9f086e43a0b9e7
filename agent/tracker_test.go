package agent

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/novalet/novalet/openstack/placement"
	"github.com/novalet/novalet/openstack/placement/placementtest"
	"github.com/novalet/novalet/rpc/ovo"
	"github.com/novalet/novalet/virt"
)

// hangingHost answers HostFacts only when its context ends, as a libvirtd that stopped
// answering does behind virt's call deadline.
type hangingHost struct {
	*fakeHost
	hang    chan struct{} // closed: HostFacts hangs
	entered chan struct{}
}

func (h *hangingHost) HostFacts(ctx context.Context) (virt.HostFacts, error) {
	select {
	case <-h.hang:
		select {
		case h.entered <- struct{}{}:
		default:
		}
		<-ctx.Done()
		return virt.HostFacts{}, ctx.Err()
	default:
		return h.fakeHost.HostFacts(ctx)
	}
}

// TestHungLibvirtFreezesNothing: a resource pass stuck in libvirt ends at libvirt_call_timeout,
// and while it is stuck the node's identity and inventory (a build's claim, /metrics) answer at
// once: no lock is held across the pass's I/O.
func TestHungLibvirtFreezesNothing(t *testing.T) {
	var h *hangingHost
	a := testAgent(t, newFakeConductor(), t.TempDir(), nil, func(d *Deps, o *Options) {
		h = &hangingHost{fakeHost: d.Host.(*fakeHost), hang: make(chan struct{}), entered: make(chan struct{}, 1)}
		d.Host = h
		o.Resources.LibvirtCallTimeout = 300 * time.Millisecond
	})
	if err := a.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	name, id := a.NodeName(), a.NodeUUID()
	close(h.hang)
	passDone := make(chan error, 1)
	go func() { passDone <- a.updateResources(context.Background()) }()
	<-h.entered
	readers := make(chan struct{})
	go func() {
		if a.NodeName() != name || a.NodeUUID() != id || len(a.Inventory()) == 0 {
			t.Error("identity or inventory changed during a hung pass")
		}
		close(readers)
	}()
	select {
	case <-readers:
	case <-time.After(5 * time.Second):
		t.Fatal("NodeName/NodeUUID/Inventory waited behind a resource pass stuck in libvirt")
	}
	select {
	case err := <-passDone:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("hung pass = %v, want the libvirt call deadline", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the resource pass did not end at libvirt_call_timeout")
	}
}

// A fixed DiskGB (the fake driver's local_gb) is what the node and its provider report, not
// instances_path's file system.
func TestFixedDiskGBReplacesStatfs(t *testing.T) {
	fc := newFakeConductor()
	fp, sc := placementtest.New(t)
	a := testAgent(t, fc, t.TempDir(), placement.New(sc, discardLogger()), func(_ *Deps, o *Options) {
		o.Resources.DiskGB = 600000
	})
	if err := a.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	cn := fc.ComputeNode("cmp1", "cmp1.example")
	if gb, _ := ovo.Value[int64](cn, "local_gb"); gb != 600000 {
		t.Errorf("local_gb %d, want 600000", gb)
	}
	if least, _ := ovo.Value[int64](cn, "disk_available_least"); least != 0 {
		t.Errorf("disk_available_least %d, want 0 as nova's fake driver", least)
	}
	rp, ok := fp.Provider(a.NodeUUID())
	if !ok || rp.Inventories["DISK_GB"].Total != 600000 {
		t.Fatalf("provider %+v", rp)
	}
}
