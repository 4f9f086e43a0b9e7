package virt

import (
	"context"
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
// Watch, deregistered on Close.
type connEvents struct {
	mu         sync.Mutex
	fanout     *EventFanout
	callbackID int
	registered bool
	closed     bool
}

// Watch implements EventSource. The first call registers for libvirtd's lifecycle events on
// this connection (one bounded round trip); later calls only subscribe.
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
	if !e.registered {
		id, err := call(ctx, op, func() (int, error) {
			return c.lv.DomainEventLifecycleRegister(nil, c.onLifecycle)
		}, func(late int) { _ = c.lv.DomainEventDeregister(late) })
		if err != nil {
			return nil, err
		}
		e.callbackID, e.registered = id, true
	}
	return e.fanout.Watch(ctx)
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

// closeEvents deregisters from libvirtd (bounded by ctx) and closes every subscription.
func (c *Conn) closeEvents(ctx context.Context) error {
	e := &c.events
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	defer e.fanout.Close() // also stops a callback already under way from publishing
	if !e.registered {
		return nil
	}
	_, err := call(ctx, "deregister from lifecycle events", func() (struct{}, error) {
		return struct{}{}, c.lv.DomainEventDeregister(e.callbackID)
	}, nil)
	return err
}
