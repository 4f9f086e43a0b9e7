package virt_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/novalet/novalet/virt"
	"github.com/novalet/novalet/virt/virttest"
)

// hung answers State and List only when its context ends, as Conn does for a libvirtd that
// stopped answering.
type hung struct{ *virttest.Fake }

func (hung) State(ctx context.Context, _ string) (virt.PowerState, error) {
	<-ctx.Done()
	return virt.PowerNoState, ctx.Err()
}

func (hung) List(ctx context.Context) ([]virt.DomainInfo, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func TestCallTimeoutBoundsAHungHypervisor(t *testing.T) {
	h := virt.WithCallTimeout(hung{virttest.NewFake()}, 50*time.Millisecond)
	start := time.Now()
	if _, err := h.State(context.Background(), "6f1c2b1a-3d2e-4f5a-8b7c-9d0e1f2a3b4c"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("State = %v, want the call's deadline", err)
	}
	if _, err := h.List(context.Background()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("List = %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("two hung calls took %v", took)
	}
	if virt.WithCallTimeout(hung{}, 0) == nil {
		t.Fatal("a zero timeout must return the hypervisor unchanged")
	}
}

// hungEvents never answers a subscription until its context ends, as Conn's first Watch does
// for a libvirtd that stopped answering.
type hungEvents struct{ *virttest.Fake }

func (hungEvents) Watch(ctx context.Context) (<-chan virt.LifecycleEvent, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// The bounded hypervisor passes the events through (the agent's waits for a power state end
// at them), bounds only the subscribing, and refuses for a hypervisor that sends none.
func TestCallTimeoutEvents(t *testing.T) {
	f := virttest.NewFake()
	f.NamePrefix = virttest.ListedPrefix
	h := virt.WithCallTimeout(f, 50*time.Millisecond)
	src, ok := h.(virt.EventSource)
	if !ok {
		t.Fatalf("%T is not a virt.EventSource", h)
	}
	ctx, cancel := context.WithCancel(t.Context())
	ch, err := src.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const id = "6f1c2b1a-3d2e-4f5a-8b7c-9d0e1f2a3b4c"
	x, err := virt.BuildDomainXML(virttest.TestSpec(virttest.ListedPrefix+"ev", id, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Define(t.Context(), x); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // longer than the bound: the subscription lives on
	if err := h.Start(t.Context(), id, true); err != nil {
		t.Fatal(err)
	}
	if e := <-ch; e.UUID != id || e.Transition != virt.TransitionStarted {
		t.Errorf("first event %+v, want %s started", e, id)
	}
	cancel()
	for range ch { // closed with its context
	}
	if err := h.Destroy(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	if err := h.Undefine(t.Context(), id); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	hung := virt.WithCallTimeout(hungEvents{virttest.NewFake()}, 50*time.Millisecond).(virt.EventSource)
	if _, err := hung.Watch(context.Background()); !errors.Is(err, virt.ErrTimeout) {
		t.Errorf("Watch of a hung hypervisor = %v, want ErrTimeout", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("a hung Watch took %v", took)
	}

	silent := virt.WithCallTimeout(struct{ virt.Hypervisor }{virttest.NewFake()}, time.Second).(virt.EventSource)
	if _, err := silent.Watch(t.Context()); !errors.Is(err, virt.ErrUnavailable) {
		t.Errorf("Watch of a hypervisor without events = %v, want ErrUnavailable", err)
	}
	if n := silent.DroppedEvents(); n != 0 {
		t.Errorf("DroppedEvents of a hypervisor without events = %d", n)
	}
}

// The bounded hypervisor is still a Hypervisor: the conformance suite passes through it.
func TestCallTimeoutConformance(t *testing.T) {
	virttest.Run(t, func(t *testing.T) virt.Hypervisor {
		f := virttest.NewFake()
		f.NamePrefix = virttest.ListedPrefix
		t.Cleanup(func() { f.CheckClean(t) })
		return virt.WithCallTimeout(f, 10*time.Second)
	},
		func(t *testing.T, name, id string) string {
			x, err := virt.BuildDomainXML(virttest.TestSpec(name, id, t.TempDir()))
			if err != nil {
				t.Fatal(err)
			}
			return x
		})
}
