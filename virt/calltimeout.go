package virt

import (
	"context"
	"fmt"
	"time"
)

// WithCallTimeout bounds each call of h by d on top of the caller's context ([novalet]
// libvirt_call_timeout): a libvirtd that hangs fails the call with ErrTimeout instead of
// freezing the caller (a periodic task, a build, a scrape). Start and Suspend are bounded by
// the caller only: restoring or writing a managed-save image takes as long as the guest's
// memory does, as in nova, which puts no timeout on them. d <= 0 returns h unchanged.
func WithCallTimeout(h Hypervisor, d time.Duration) Hypervisor {
	if d <= 0 {
		return h
	}
	return &callTimeout{h: h, d: d}
}

type callTimeout struct {
	h Hypervisor
	d time.Duration
}

func (c *callTimeout) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.d)
}

func (c *callTimeout) Define(ctx context.Context, xml string) error {
	ctx, cancel := c.bound(ctx)
	defer cancel()
	return c.h.Define(ctx, xml)
}

func (c *callTimeout) Start(ctx context.Context, uuid string, paused bool) error {
	return c.h.Start(ctx, uuid, paused)
}

func (c *callTimeout) Resume(ctx context.Context, uuid string) error {
	ctx, cancel := c.bound(ctx)
	defer cancel()
	return c.h.Resume(ctx, uuid)
}

func (c *callTimeout) Pause(ctx context.Context, uuid string) error {
	ctx, cancel := c.bound(ctx)
	defer cancel()
	return c.h.Pause(ctx, uuid)
}

func (c *callTimeout) Shutdown(ctx context.Context, uuid string) error {
	ctx, cancel := c.bound(ctx)
	defer cancel()
	return c.h.Shutdown(ctx, uuid)
}

func (c *callTimeout) Destroy(ctx context.Context, uuid string) error {
	ctx, cancel := c.bound(ctx)
	defer cancel()
	return c.h.Destroy(ctx, uuid)
}

func (c *callTimeout) Reboot(ctx context.Context, uuid string, hard bool) error {
	ctx, cancel := c.bound(ctx)
	defer cancel()
	return c.h.Reboot(ctx, uuid, hard)
}

func (c *callTimeout) Suspend(ctx context.Context, uuid string) error {
	return c.h.Suspend(ctx, uuid)
}

func (c *callTimeout) Undefine(ctx context.Context, uuid string) error {
	ctx, cancel := c.bound(ctx)
	defer cancel()
	return c.h.Undefine(ctx, uuid)
}

func (c *callTimeout) State(ctx context.Context, uuid string) (PowerState, error) {
	ctx, cancel := c.bound(ctx)
	defer cancel()
	return c.h.State(ctx, uuid)
}

func (c *callTimeout) List(ctx context.Context) ([]DomainInfo, error) {
	ctx, cancel := c.bound(ctx)
	defer cancel()
	return c.h.List(ctx)
}

func (c *callTimeout) VNCPort(ctx context.Context, uuid string) (int, error) {
	ctx, cancel := c.bound(ctx)
	defer cancel()
	return c.h.VNCPort(ctx, uuid)
}

func (c *callTimeout) DomainXML(ctx context.Context, uuid string) (string, error) {
	ctx, cancel := c.bound(ctx)
	defer cancel()
	return c.h.DomainXML(ctx, uuid)
}

func (c *callTimeout) Metadata(ctx context.Context, uuid string) (InstanceMetadata, error) {
	ctx, cancel := c.bound(ctx)
	defer cancel()
	return c.h.Metadata(ctx, uuid)
}

// CopyDisk is bounded by the caller only, like Suspend: it lasts as long as the disk's data
// takes to copy.
func (c *callTimeout) CopyDisk(ctx context.Context, uuid, target, dst string) error {
	return c.h.CopyDisk(ctx, uuid, target, dst)
}

func (c *callTimeout) AbortDiskCopy(ctx context.Context, uuid, target string) error {
	ctx, cancel := c.bound(ctx)
	defer cancel()
	return c.h.AbortDiskCopy(ctx, uuid, target)
}

var _ EventSource = (*callTimeout)(nil)

// Watch passes h's lifecycle events through, so that a bounded hypervisor still ends
// WaitForState at the event; a hypervisor that sends none refuses with ErrUnavailable (the
// wait then polls). Its ctx is the subscription's life, so d bounds only the subscribing (the
// first registers with libvirtd, a round trip): a subscription made too late ends at once.
func (c *callTimeout) Watch(ctx context.Context) (<-chan LifecycleEvent, error) {
	const op = "register for lifecycle events"
	src, ok := c.h.(EventSource)
	if !ok {
		return nil, &opError{op: op, class: ErrUnavailable, err: fmt.Errorf("%T sends no lifecycle events", c.h)}
	}
	sub, cancel := context.WithCancel(ctx)
	type result struct {
		ch  <-chan LifecycleEvent
		err error
	}
	done := make(chan result, 1)
	go func() {
		ch, err := src.Watch(sub)
		done <- result{ch, err}
	}()
	timer := time.NewTimer(c.d)
	defer timer.Stop()
	select {
	case r := <-done:
		if r.err != nil {
			cancel()
			return nil, r.err
		}
		context.AfterFunc(ctx, cancel) // the subscription ends with ctx, as h's would
		return r.ch, nil
	case <-timer.C:
		cancel()
		return nil, &opError{op: op, class: ErrTimeout, err: context.DeadlineExceeded}
	case <-ctx.Done():
		cancel()
		return nil, wrapErr(op, ctx.Err())
	}
}

// DroppedEvents implements EventSource: h's count, 0 for a hypervisor without events.
func (c *callTimeout) DroppedEvents() uint64 {
	if src, ok := c.h.(EventSource); ok {
		return src.DroppedEvents()
	}
	return 0
}

var _ ConnectionSource = (*callTimeout)(nil)

// Connected passes h's connection state through; a hypervisor that does not report one is
// taken as connected.
func (c *callTimeout) Connected() error {
	if src, ok := c.h.(ConnectionSource); ok {
		return src.Connected()
	}
	return nil
}

// WatchConnection passes h's connection states through (subscribing makes no round trip); a
// hypervisor that does not report them refuses with ErrUnavailable.
func (c *callTimeout) WatchConnection(ctx context.Context) (<-chan ConnState, error) {
	src, ok := c.h.(ConnectionSource)
	if !ok {
		return nil, &opError{op: "watch connection", class: ErrUnavailable, err: fmt.Errorf("%T reports no connection state", c.h)}
	}
	return src.WatchConnection(ctx)
}
