package virt_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/novalet/novalet/virt"
	"github.com/novalet/novalet/virt/virttest"
)

const waitID = "0b6bd7a4-6c36-4a39-8d4e-0d3a2f1c9e03"

// stateSpy is the fake, telling each State call.
type stateSpy struct {
	*virttest.Fake
	reads chan struct{}
}

func (s stateSpy) State(ctx context.Context, id string) (virt.PowerState, error) {
	st, err := s.Fake.State(ctx, id)
	select {
	case s.reads <- struct{}{}:
	default:
	}
	return st, err
}

// pollOnly hides the fake's events.
type pollOnly struct{ virt.Hypervisor }

func pausedFake(t *testing.T) stateSpy {
	t.Helper()
	f := virttest.NewFake()
	ctx := context.Background()
	x, err := virt.BuildDomainXML(virttest.TestSpec(virt.InstanceName(9), waitID, "/srv"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Define(ctx, x); err != nil {
		t.Fatal(err)
	}
	if err := f.Start(ctx, waitID, true); err != nil {
		t.Fatal(err)
	}
	return stateSpy{Fake: f, reads: make(chan struct{}, 1)}
}

// TestWaitForStateWakesOnEvent proves the wait ends on the event: its poll is an hour, so
// returning at all after the transition means the event woke it.
func TestWaitForStateWakesOnEvent(t *testing.T) {
	h := pausedFake(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	type result struct {
		st  virt.PowerState
		err error
	}
	done := make(chan result, 1)
	go func() {
		st, err := virt.WaitForState(ctx, h, waitID, time.Hour, virt.PowerRunning)
		done <- result{st, err}
	}()
	<-h.reads // the first read saw it paused; the wait is subscribed
	select {
	case r := <-done:
		t.Fatalf("WaitForState returned %v, %v while the domain is paused", r.st, r.err)
	default:
	}
	if err := h.Resume(ctx, waitID); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil || r.st != virt.PowerRunning {
		t.Fatalf("WaitForState = %v, %v; want running", r.st, r.err)
	}
}

func TestWaitForStatePollsWithoutEvents(t *testing.T) {
	h := pausedFake(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := virt.WaitForState(ctx, pollOnly{h}, waitID, 10*time.Millisecond, virt.PowerShutdown, virt.PowerCrashed)
		done <- err
	}()
	<-h.reads
	if err := h.Destroy(ctx, waitID); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("WaitForState by polling: %v", err)
	}
}

func TestWaitForStateEnds(t *testing.T) {
	h := pausedFake(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	st, err := virt.WaitForState(ctx, h, waitID, time.Hour, virt.PowerRunning)
	if !errors.Is(err, virt.ErrTimeout) || st != virt.PowerPaused {
		t.Errorf("WaitForState past its deadline = %v, %v; want paused, ErrTimeout", st, err)
	}
	_, err = virt.WaitForState(context.Background(), h, "0b6bd7a4-6c36-4a39-8d4e-0d3a2f1c9eff", 0, virt.PowerRunning)
	if !errors.Is(err, virt.ErrNotFound) {
		t.Errorf("WaitForState of an unknown domain = %v, want ErrNotFound", err)
	}
}
