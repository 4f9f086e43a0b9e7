package virt

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
)

// EventFanout hands each published event to every subscriber without ever waiting for one: a
// subscriber whose buffer is full loses the event, and the loss is counted. *Conn publishes
// from libvirt's event loop thread through it, which must never block; virttest.Fake uses it
// too, so the fake's subscribers see the same delivery rules.
type EventFanout struct {
	mu      sync.Mutex
	subs    map[chan LifecycleEvent]struct{}
	closed  bool
	done    chan struct{} // closed by Close
	dropped atomic.Uint64
}

// NewEventFanout returns a fan-out with no subscribers.
func NewEventFanout() *EventFanout {
	return &EventFanout{subs: map[chan LifecycleEvent]struct{}{}, done: make(chan struct{})}
}

// Publish delivers e to every subscriber with room in its buffer and counts the others as
// drops. It never blocks; after Close it does nothing.
func (f *EventFanout) Publish(e LifecycleEvent) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for ch := range f.subs {
		select {
		case ch <- e:
		default:
			f.dropped.Add(1)
		}
	}
}

// Watch subscribes with a buffer of EventBuffer events; the channel is closed when ctx ends
// or at Close. A closed fan-out refuses with ErrUnavailable.
func (f *EventFanout) Watch(ctx context.Context) (<-chan LifecycleEvent, error) {
	if err := ctx.Err(); err != nil {
		return nil, wrapErr("watch lifecycle events", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, &opError{op: "watch lifecycle events", class: ErrUnavailable, err: fmt.Errorf("event source closed")}
	}
	ch := make(chan LifecycleEvent, EventBuffer)
	f.subs[ch] = struct{}{}
	go func() {
		select {
		case <-ctx.Done():
		case <-f.done:
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if _, ok := f.subs[ch]; ok { // Close may have closed it already
			delete(f.subs, ch)
			close(ch)
		}
	}()
	return ch, nil
}

// Dropped counts the events not delivered because a subscriber's buffer was full.
func (f *EventFanout) Dropped() uint64 { return f.dropped.Load() }

// Close closes every subscriber's channel and refuses new subscribers.
func (f *EventFanout) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	f.closed = true
	close(f.done)
	for ch := range f.subs {
		delete(f.subs, ch)
		close(ch)
	}
}
