package virt

import (
	"context"
	"fmt"
	"sync"
)

// ConnStates hands the connection's state to every subscriber without ever waiting for one:
// each subscriber holds at most one undelivered state, and a newer state replaces it, so a
// slow subscriber still reads the latest. *Conn publishes through it from libvirt's event loop
// thread; virttest.Fake uses it too, so both deliver alike.
type ConnStates struct {
	mu     sync.Mutex
	cur    ConnState
	subs   map[chan ConnState]struct{}
	closed bool
	done   chan struct{} // closed by Close
}

// NewConnStates returns a fan-out whose current state is initial.
func NewConnStates(initial ConnState) *ConnStates {
	return &ConnStates{cur: initial, subs: map[chan ConnState]struct{}{}, done: make(chan struct{})}
}

// Current is the last state published.
func (s *ConnStates) Current() ConnState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

// Publish makes st the current state and delivers it to every subscriber, replacing a state
// it has not read yet. It never blocks; after Close it only records st.
func (s *ConnStates) Publish(st ConnState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cur = st
	for ch := range s.subs {
		offer(ch, st)
	}
}

// offer puts st in ch (capacity 1), dropping the older state ch holds; only the publisher,
// under the lock, sends on ch.
func offer(ch chan ConnState, st ConnState) {
	select {
	case ch <- st:
		return
	default:
	}
	select {
	case <-ch:
	default:
	}
	ch <- st
}

// Watch subscribes: the current state is delivered first. The channel is closed when ctx
// ends or at Close; a closed fan-out refuses with ErrUnavailable.
func (s *ConnStates) Watch(ctx context.Context) (<-chan ConnState, error) {
	if err := ctx.Err(); err != nil {
		return nil, wrapErr("watch connection", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, &opError{op: "watch connection", class: ErrUnavailable, err: fmt.Errorf("connection closed")}
	}
	ch := make(chan ConnState, 1)
	ch <- s.cur
	s.subs[ch] = struct{}{}
	go func() {
		select {
		case <-ctx.Done():
		case <-s.done:
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, ok := s.subs[ch]; ok {
			delete(s.subs, ch)
			close(ch)
		}
	}()
	return ch, nil
}

// Close closes every subscriber's channel and refuses new subscribers.
func (s *ConnStates) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	close(s.done)
	for ch := range s.subs {
		delete(s.subs, ch)
		close(ch)
	}
}
