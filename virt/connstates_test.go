package virt

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A subscriber gets the current state first; one that does not read keeps only the latest
// state, and Publish never waits for it; Close ends every subscription and refuses new ones.
func TestConnStatesDeliverLatest(t *testing.T) {
	s := NewConnStates(ConnState{Up: true})
	ch, err := s.Watch(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if st := <-ch; !st.Up {
		t.Fatalf("first state = %+v, want the current (up)", st)
	}
	for i := uint64(1); i <= 5; i++ {
		s.Publish(ConnState{Up: i%2 == 0, Reason: "lost", Losses: i})
	}
	if st := <-ch; st.Losses != 5 || st.Up {
		t.Errorf("after 5 unread publishes the subscriber reads %+v, want the 5th", st)
	}
	select {
	case st := <-ch:
		t.Errorf("a second state %+v is waiting, want only the latest", st)
	default:
	}
	if cur := s.Current(); cur.Losses != 5 {
		t.Errorf("Current = %+v", cur)
	}

	ctx, cancel := context.WithCancel(t.Context())
	ended, err := s.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	<-ended
	cancel()
	waitClosed(t, ended)

	s.Close()
	waitClosed(t, ch)
	if _, err := s.Watch(t.Context()); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Watch after Close = %v, want ErrUnavailable", err)
	}
	s.Publish(ConnState{Up: true}) // records, does not panic on closed channels
}

func waitClosed(t *testing.T, ch <-chan ConnState) {
	t.Helper()
	timeout := time.After(10 * time.Second)
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

// ErrDisconnected is of the unavailable class, so callers that handle a broken libvirt
// connection (errors.Is(err, ErrUnavailable)) handle it too.
func TestErrDisconnectedIsUnavailable(t *testing.T) {
	err := &opError{op: "list domains", class: ErrDisconnected, err: errors.New("Connection to libvirt lost: 1")}
	if !errors.Is(err, ErrDisconnected) || !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrTimeout) {
		t.Errorf("%v: classes wrong", err)
	}
	if got := err.Error(); got != "virt: list domains: Connection to libvirt lost: 1" {
		t.Errorf("message %q", got)
	}
}
