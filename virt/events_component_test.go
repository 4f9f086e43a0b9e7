//go:build component

package virt_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/novalet/novalet/internal/testenv"
	"github.com/novalet/novalet/virt"
	"github.com/novalet/novalet/virt/virttest"
)

// TestConnEventsMatchFake runs one script of power operations on libvirtd and on
// virttest.Fake and compares the lifecycle events each sent, transition and cause: the fake
// the agent's tests use must send what libvirtd sends. (A soft reboot is left out: what the
// guest does with the button is timing.)
func TestConnEventsMatchFake(t *testing.T) {
	testenv.RequireRoot(t)
	base := virttest.GuestBase(t)
	prefix := virttest.NamePrefix + "events-"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c := virttest.Open(t, prefix)
	id := uuid.NewString()
	spec := virttest.TestSpec(prefix+id[:8], id, t.TempDir())
	virttest.DefineGuest(t, c, spec, base)

	fake := virttest.NewFake()
	fake.NamePrefix = prefix
	x, err := virt.BuildDomainXML(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := fake.Define(ctx, x); err != nil {
		t.Fatal(err)
	}

	fromLibvirt := eventScript(ctx, t, c, id)
	want := eventScript(ctx, t, fake, id)
	if strings.Join(fromLibvirt, "\n") != strings.Join(want, "\n") {
		t.Errorf("libvirtd sent\n\t%s\nthe fake sends\n\t%s", strings.Join(fromLibvirt, "\n\t"), strings.Join(want, "\n\t"))
	}
	if err := fake.Undefine(ctx, id); err != nil {
		t.Fatal(err)
	}
}

// eventScript runs the script on h and returns the events of id as "step: Transition/cause",
// each step's followed by the power state it left, "step: now paused".
func eventScript(ctx context.Context, t *testing.T, h interface {
	virt.Hypervisor
	virt.EventSource
}, id string) []string {
	t.Helper()
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	ch, err := h.Watch(wctx)
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	steps := []struct {
		name string
		op   func() error
	}{
		{"start", func() error { return h.Start(ctx, id, false) }},
		{"pause", func() error { return h.Pause(ctx, id) }},
		{"pause again", func() error { return h.Pause(ctx, id) }},
		{"hard reboot while paused", func() error { return h.Reboot(ctx, id, true) }},
		{"resume", func() error { return h.Resume(ctx, id) }},
		{"hard reboot", func() error { return h.Reboot(ctx, id, true) }},
		{"suspend", func() error { return h.Suspend(ctx, id) }},
		{"restore paused", func() error { return h.Start(ctx, id, true) }},
		{"suspend while paused", func() error { return h.Suspend(ctx, id) }},
		{"restore", func() error { return h.Start(ctx, id, false) }},
		{"resume restored", func() error { return h.Resume(ctx, id) }},
		{"suspend again", func() error { return h.Suspend(ctx, id) }},
		{"restore running", func() error { return h.Start(ctx, id, false) }},
		{"destroy", func() error { return h.Destroy(ctx, id) }},
		{"boot paused", func() error { return h.Start(ctx, id, true) }},
		{"destroy paused", func() error { return h.Destroy(ctx, id) }},
	}
	var got []string
	for i, s := range steps {
		if err := s.op(); err != nil {
			t.Fatalf("%T: %s: %v", h, s.name, err)
		}
		// Each step ends in a known state; State is a round trip on the same connection, so
		// libvirtd has queued the step's events by the time it answers. Then collect them.
		state, err := h.State(ctx, id)
		if err != nil {
			t.Fatalf("%T: state after %s: %v", h, s.name, err)
		}
		got = append(got, collect(ch, id, s.name, i == len(steps)-1)...)
		got = append(got, s.name+": now "+state.String())
	}
	return got
}

// collect takes what the subscription holds for id, waiting for a stop when last is set and a
// short settling time otherwise (events travel asynchronously from libvirtd).
func collect(ch <-chan virt.LifecycleEvent, id, step string, last bool) []string {
	var out []string
	settle := time.After(500 * time.Millisecond)
	for {
		select {
		case e, ok := <-ch:
			if !ok {
				return out
			}
			if e.UUID != strings.ToLower(id) {
				continue
			}
			out = append(out, step+": "+e.Transition.String()+"/"+e.Cause)
			if last && e.Transition == virt.TransitionStopped {
				return out
			}
		case <-settle:
			if !last {
				return out
			}
			settle = time.After(time.Minute) // a stop that never comes ends the wait
			last = false
		}
	}
}

// TestConnEventsEndAtClose checks that Close ends the subscriptions and that a closed
// connection refuses new ones.
func TestConnEventsEndAtClose(t *testing.T) {
	testenv.RequireRoot(t)
	uri := testenv.LibvirtURI(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := virt.Open(ctx, uri, virt.WithNamePrefix(virttest.NamePrefix+"close-"))
	if err != nil {
		t.Fatalf("open %s: %v", uri, err)
	}
	ch, err := c.Watch(ctx)
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	select {
	case _, ok := <-ch:
		if ok {
			t.Error("an event after Close")
		}
	case <-ctx.Done():
		t.Fatal("subscription still open after Close")
	}
	if _, err := c.Watch(ctx); !errors.Is(err, virt.ErrUnavailable) {
		t.Errorf("Watch after Close = %v, want ErrUnavailable", err)
	}
}
