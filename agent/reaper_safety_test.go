package agent

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/novalet/novalet/netmodel"
	"github.com/novalet/novalet/netplug/netplugtest"
	"github.com/novalet/novalet/rpc/ovo"
	"github.com/novalet/novalet/virt"
	"github.com/novalet/novalet/virt/virttest"
)

// reaperEnv is an agent whose taps and domains the test sets up by hand.
func reaperEnv(t *testing.T) (*Agent, *fakeConductor, *netplugtest.Fake, *virttest.Fake) {
	fc := newFakeConductor()
	taps, hv := netplugtest.NewFake(), virttest.NewFake()
	a := testAgent(t, fc, t.TempDir(), nil, func(d *Deps, _ *Options) { d.Taps, d.Hypervisor = taps, hv })
	return a, fc, taps, hv
}

func instanceWithInfoCache(t *testing.T, networkInfo string) *ovo.Object {
	t.Helper()
	ic, _ := ovo.New("InstanceInfoCache")
	inst, _ := ovo.New("Instance")
	id := uuid.NewString()
	if err := ic.Set("instance_uuid", id); err != nil {
		t.Fatal(err)
	}
	if err := ic.Set("network_info", networkInfo); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]any{"uuid": id, "host": "cmp1", "vm_state": "active", "info_cache": ic} {
		if err := inst.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	return inst
}

// keptObserver records what the reapers left in doubt.
type keptObserver struct {
	noObserver
	mu   sync.Mutex
	kept []string
}

func (o *keptObserver) OrphanKept(kind, reason string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.kept = append(o.kept, kind+"/"+reason)
}

func (o *keptObserver) got() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.kept)
}

func TestTapReaperNeverTakesALiveGuest(t *testing.T) {
	const ownedPort, orphanPort, heldPort = "aaaaaaaa-0000-4000-8000-000000000001", "bbbbbbbb-0000-4000-8000-000000000002", "cccccccc-0000-4000-8000-000000000003"
	owned, orphan, held := netmodel.TapName(ownedPort), netmodel.TapName(orphanPort), netmodel.TapName(heldPort)

	t.Run("orphans go, owned and held-open taps stay", func(t *testing.T) {
		a, fc, taps, _ := reaperEnv(t)
		obs := &keptObserver{}
		a.obs = obs
		info, _ := netmodel.MarshalNetworkInfo([]netmodel.VIF{{ID: ownedPort}})
		fc.PutInstance(instanceWithInfoCache(t, info))
		for _, n := range []string{owned, orphan, held} {
			taps.AddTap(n, "brq0c1d2e3f-aa", 1450)
		}
		taps.SetCarrier(held, true)
		n, err := a.reapTaps(t.Context(), nil)
		if err != nil || n != 1 {
			t.Fatalf("reaped %d, %v; want the one orphan", n, err)
		}
		if got := taps.Taps(); len(got) != 2 || got[0] != owned || got[1] != held {
			t.Fatalf("taps left %v, want %s and %s", got, owned, held)
		}
		if got := obs.got(); !slices.Equal(got, []string{"tap/held_open"}) {
			t.Errorf("kept in doubt %v, want the held-open tap counted", got)
		}
		_ = taps.RemoveTap(t.Context(), owned)
		taps.SetCarrier(held, false)
		_ = taps.RemoveTap(t.Context(), held)
	})

	t.Run("an info cache that does not parse stops the pass", func(t *testing.T) {
		a, fc, taps, _ := reaperEnv(t)
		obs := &keptObserver{}
		a.obs = obs
		fc.PutInstance(instanceWithInfoCache(t, `{"not": "a list of VIFs"}`))
		taps.AddTap(orphan, "", 1500)
		if _, err := a.reapTaps(t.Context(), nil); !errors.Is(err, errUntrustedCensus) {
			t.Fatalf("reapTaps = %v, want an untrusted census", err)
		}
		// The periodic pass counts the skipped pass.
		a.c.net.ReaperInterval = 5 * time.Millisecond
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { a.tapReaperLoop(ctx); close(done) }()
		waitFor(t, func() bool { return slices.Contains(obs.got(), "tap_pass/census_untrusted") })
		cancel()
		<-done
		if len(taps.Taps()) != 1 {
			t.Fatal("a tap was removed on a census that could not be read")
		}
		_ = taps.RemoveTap(t.Context(), orphan)
	})

	t.Run("no instance listed while libvirt has domains stops the pass", func(t *testing.T) {
		a, _, taps, hv := reaperEnv(t)
		id := uuid.NewString()
		xml, err := virt.BuildDomainXML(virttest.TestSpec("instance-00000001", id, t.TempDir()))
		if err != nil {
			t.Fatal(err)
		}
		if err := hv.Define(t.Context(), xml); err != nil {
			t.Fatal(err)
		}
		taps.AddTap(orphan, "", 1500)
		if _, err := a.reapTaps(t.Context(), nil); !errors.Is(err, errUntrustedCensus) {
			t.Fatalf("reapTaps = %v, want an untrusted census (a renamed host must not unplug its guests)", err)
		}
		if len(taps.Taps()) != 1 {
			t.Fatal("a tap was removed while the conductor listed nothing and libvirt had a guest")
		}
		_ = taps.RemoveTap(t.Context(), orphan)
		_ = hv.Undefine(t.Context(), id)
	})
}
