package virt

import (
	"context"
	"errors"
	"testing"
	"time"
)

// wait bounds how long a test waits for something that should happen at once.
const wait = 10 * time.Second

func TestFanoutDeliversToEverySubscriber(t *testing.T) {
	f := NewEventFanout()
	defer f.Close()
	ctx := context.Background()
	a, err := f.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e := LifecycleEvent{UUID: "u", Transition: TransitionStarted}
	f.Publish(e)
	for _, ch := range []<-chan LifecycleEvent{a, b} {
		if got := <-ch; got != e {
			t.Errorf("got %+v, want %+v", got, e)
		}
	}
}

func TestFanoutDropsForAFullSubscriber(t *testing.T) {
	f := NewEventFanout()
	defer f.Close()
	stalled, err := f.Watch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	reader, err := f.Watch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	const extra = 5
	for i := 0; i < EventBuffer+extra; i++ {
		f.Publish(LifecycleEvent{UUID: "u", Transition: TransitionPaused}) // never blocks
	}
	if d := f.Dropped(); d != 2*extra {
		t.Errorf("Dropped = %d with two full subscribers, want %d", d, 2*extra)
	}
	for i := 0; i < EventBuffer; i++ {
		<-reader
	}
	f.Publish(LifecycleEvent{UUID: "u", Transition: TransitionStopped})
	select {
	case e := <-reader:
		if e.Transition != TransitionStopped {
			t.Errorf("the reader got %+v after draining, want the stop", e)
		}
	case <-time.After(wait):
		t.Fatal("the reader got nothing after draining")
	}
	if d := f.Dropped(); d != 2*extra+1 {
		t.Errorf("Dropped = %d, want %d", d, 2*extra+1)
	}
	if len(stalled) != EventBuffer {
		t.Errorf("the stalled subscriber holds %d events, want %d", len(stalled), EventBuffer)
	}
}

func TestFanoutClosesOnContextEndAndClose(t *testing.T) {
	f := NewEventFanout()
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := f.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	drainClosed(t, ch)
	f.Publish(LifecycleEvent{UUID: "u"}) // no subscriber left: nothing to drop
	if d := f.Dropped(); d != 0 {
		t.Errorf("Dropped = %d after the only subscriber left", d)
	}

	other, err := f.Watch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	drainClosed(t, other)
	f.Publish(LifecycleEvent{UUID: "u"}) // harmless after Close
	f.Close()
	if _, err := f.Watch(context.Background()); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Watch after Close = %v, want ErrUnavailable", err)
	}
}

func drainClosed(t *testing.T, ch <-chan LifecycleEvent) {
	t.Helper()
	timeout := time.After(wait)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatal("subscription not closed")
		}
	}
}

func TestTransitionPowerState(t *testing.T) {
	for tr, want := range map[Transition]PowerState{
		TransitionStarted: PowerRunning, TransitionStopped: PowerShutdown, TransitionPaused: PowerPaused,
		TransitionResumed: PowerRunning, TransitionSuspended: PowerSuspended,
		TransitionPostcopyStarted: PowerPaused, TransitionMigrationCompleted: PowerPaused,
	} {
		if got := tr.PowerState(); got != want {
			t.Errorf("%s.PowerState() = %s, want %s", tr, got, want)
		}
	}
}
