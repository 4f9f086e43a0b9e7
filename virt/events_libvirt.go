package virt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"libvirt.org/go/libvirt"
)

var _ EventSource = (*Conn)(nil)

// eventLoop is libvirt's default event loop implementation, registered once per process
// before the first connection opens (libvirt requires that order: a connection opened before
// it neither delivers events nor sends keepalives) and run by one goroutine for the life of
// the process, as nova runs virEventRunDefaultImpl in a native thread.
var eventLoop struct {
	once sync.Once
	err  error // registration failed: connections work, Watch refuses
}

// startEventLoop registers and starts the event loop on first use; Open calls it before
// connecting.
func startEventLoop() error {
	eventLoop.once.Do(func() {
		if err := libvirt.EventRegisterDefaultImpl(); err != nil {
			eventLoop.err = err
			return
		}
		go runEventLoop()
	})
	return eventLoop.err
}

// runEventLoop dispatches libvirt's events (lifecycle callbacks, keepalives, connection
// close) forever. An iteration only fails on a broken poll(2); it is logged and retried
// after a pause rather than spinning.
func runEventLoop() {
	for {
		if err := libvirt.EventRunDefaultImpl(); err != nil {
			slog.Error("libvirt event loop iteration failed", "error", err)
			time.Sleep(time.Second)
		}
	}
}

// connEvents is a connection's lifecycle subscription: registered with libvirtd on the first
// Watch and again on every reconnection, deregistered on Close.
type connEvents struct {
	mu         sync.Mutex
	fanout     *EventFanout
	wanted     bool   // a Watch came: register on every connection
	callbackID int    // of the registration on connection gen
	gen        uint64 // the connection registered on; 0 for none
	closed     bool
}

// Watch implements EventSource. The first call registers for libvirtd's lifecycle events on
// this connection (one bounded round trip); later calls only subscribe. While libvirtd is
// away the subscription is made and the registration waits for the reconnection.
func (c *Conn) Watch(ctx context.Context) (<-chan LifecycleEvent, error) {
	const op = "register for lifecycle events"
	if err := startEventLoop(); err != nil {
		return nil, &opError{op: op, class: ErrUnavailable, err: fmt.Errorf("libvirt event loop: %w", err)}
	}
	e := &c.events
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, &opError{op: op, class: ErrUnavailable, err: fmt.Errorf("connection closed")}
	}
	if !e.wanted {
		if lv, gen, inflight, err := c.link.acquire(op); err == nil {
			err := c.registerEventsLocked(ctx, lv, gen, inflight)
			if err != nil {
				return nil, err
			}
		} else if !errors.Is(err, ErrDisconnected) {
			return nil, err
		}
		e.wanted = true
	}
	return e.fanout.Watch(ctx)
}

// registerEventsLocked registers the lifecycle callback on connection gen (lv, one of whose
// in-flight calls this is); called with c.events.mu held.
func (c *Conn) registerEventsLocked(ctx context.Context, lv *libvirt.Connect, gen uint64, inflight *sync.WaitGroup) error {
	e := &c.events
	id, err := run(ctx, "register for lifecycle events", func() (int, error) {
		defer inflight.Done()
		return lv.DomainEventLifecycleRegister(nil, c.onLifecycle)
	}, func(late int) { _ = lv.DomainEventDeregister(late) })
	if err != nil {
		return err
	}
	e.callbackID, e.gen = id, gen
	return nil
}

// resumeEvents registers again on a new connection when a Watch asked for events.
func (c *Conn) resumeEvents(ctx context.Context, lv *libvirt.Connect, gen uint64, inflight *sync.WaitGroup) error {
	e := &c.events
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.wanted || e.closed {
		inflight.Done()
		return nil
	}
	return c.registerEventsLocked(ctx, lv, gen, inflight)
}

// DroppedEvents implements EventSource.
func (c *Conn) DroppedEvents() uint64 { return c.events.fanout.Dropped() }

// onLifecycle runs on libvirt's event loop thread: it must not block, so it only reads what
// the domain handle holds locally (uuid and name; no round trip) and publishes.
func (c *Conn) onLifecycle(_ *libvirt.Connect, d *libvirt.Domain, ev *libvirt.DomainEventLifecycle) {
	tr, ok := lifecycleTransition(ev.Event, ev.Detail)
	if !ok {
		return
	}
	name, err := d.GetName()
	if err != nil || !strings.HasPrefix(name, c.namePrefix) {
		return
	}
	id, err := d.GetUUIDString()
	if err != nil {
		return
	}
	c.events.fanout.Publish(LifecycleEvent{
		UUID: strings.ToLower(id), Name: name, Transition: tr,
		Cause: lifecycleCause(ev.Event, ev.Detail), Time: time.Now(),
	})
}

// closeEvents deregisters from libvirtd (bounded by ctx) when lv, the live connection, holds
// the registration, and closes every subscription.
func (c *Conn) closeEvents(ctx context.Context, lv *libvirt.Connect) error {
	e := &c.events
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	defer e.fanout.Close() // also stops a callback already under way from publishing
	if lv == nil || e.gen == 0 || e.gen != c.link.generation() {
		return nil
	}
	_, err := call(ctx, "deregister from lifecycle events", func() (struct{}, error) {
		return struct{}{}, lv.DomainEventDeregister(e.callbackID)
	}, nil)
	return err
}
