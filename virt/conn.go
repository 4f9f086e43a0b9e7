// Package virt owns novalet's side of the hypervisor: the libvirt connection, the check that the
// host can run the configured virt type, and (as it grows) the domain life cycle behind the
// hypervisor port. Every libvirt call takes a context: the cgo binding blocks, so calls run in a
// goroutine and the caller stops waiting when its context ends.
package virt

import (
	"context"
	"errors"
	"fmt"
	"time"

	"libvirt.org/go/libvirt"
)

// closeTimeout bounds Close, which sends a final RPC to libvirtd.
const closeTimeout = 30 * time.Second

// Conn is an open connection to libvirtd. It is safe for concurrent use (libvirt connections
// are thread-safe).
//
// When libvirtd goes away (its socket closes, or keepalives go unanswered) the connection
// reopens by itself with backoff (see reconnect.go): meanwhile every call fails at once with
// ErrDisconnected, WatchConnection reports the loss and the return, and the lifecycle
// subscriptions carry on over the new connection.
type Conn struct {
	uri        string
	namePrefix string // List and Watch report only domains whose names start with it
	events     connEvents
	link       link
}

// Option adjusts a Conn at Open.
type Option func(*Conn)

// WithNamePrefix makes List report the domains whose names start with prefix instead of
// InstanceNamePrefix (for a non-default instance_name_template, and for tests, whose domains
// must not look like instances).
func WithNamePrefix(prefix string) Option { return func(c *Conn) { c.namePrefix = prefix } }

// Open connects to libvirtd at uri (e.g. "qemu:///system"). A connection that completes after
// ctx ended is closed in the background. The process's libvirt event loop starts first (see
// startEventLoop): it must exist before any connection for Watch and keepalives to work; if
// it cannot be registered the connection still opens and Watch reports why.
func Open(ctx context.Context, uri string, opts ...Option) (*Conn, error) {
	_ = startEventLoop()
	lv, err := call(ctx, "connect to "+uri, func() (*libvirt.Connect, error) {
		return libvirt.NewConnect(uri)
	}, func(late *libvirt.Connect) { late.Close() })
	if err != nil {
		return nil, err
	}
	c := &Conn{uri: uri, namePrefix: InstanceNamePrefix}
	c.events.fanout = NewEventFanout()
	for _, o := range opts {
		o(c)
	}
	c.link.init()
	c.attach(lv)
	go c.reconnectLoop()
	return c, nil
}

// URI returns the libvirt URI the connection was opened with.
func (c *Conn) URI() string { return c.uri }

// Close stops reconnecting, ends the lifecycle and connection subscriptions (their channels
// close) and closes the connection, waiting at most closeTimeout.
func (c *Conn) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	lv, inflight := c.link.shut()
	evErr := c.closeEvents(ctx, lv)
	if lv == nil {
		return evErr
	}
	_, err := call(ctx, "close "+c.uri, func() (int, error) {
		inflight.Wait()
		_ = lv.UnregisterCloseCallback()
		return lv.Close()
	}, nil)
	return errors.Join(evErr, err)
}

// VersionInfo holds versions in libvirt's encoding, major*1,000,000 + minor*1,000 + micro
// (QEMU 7.2.22 is 7002022), which is also how nova reports hypervisor_version.
type VersionInfo struct {
	Libvirt        uint32 // of the libvirtd we talk to
	Hypervisor     uint32 // of the hypervisor behind it (QEMU)
	HypervisorType string // libvirt's driver name, e.g. "QEMU"
}

// String renders the versions for logs, e.g. "libvirt 9.0.0, QEMU 7.2.22".
func (v VersionInfo) String() string {
	return fmt.Sprintf("libvirt %s, %s %s", FormatVersion(v.Libvirt), v.HypervisorType, FormatVersion(v.Hypervisor))
}

// FormatVersion turns libvirt's encoded version number into "major.minor.micro".
func FormatVersion(v uint32) string {
	return fmt.Sprintf("%d.%d.%d", v/1000000, v/1000%1000, v%1000)
}

// Version reports the libvirt and hypervisor versions of the connected daemon.
func (c *Conn) Version(ctx context.Context) (VersionInfo, error) {
	return connCall(ctx, c, "get versions", func(lv *libvirt.Connect) (VersionInfo, error) {
		var v VersionInfo
		var err error
		if v.Libvirt, err = lv.GetLibVersion(); err != nil {
			return v, err
		}
		if v.Hypervisor, err = lv.GetVersion(); err != nil {
			return v, err
		}
		v.HypervisorType, err = lv.GetType()
		return v, err
	}, nil)
}

// call runs f, a blocking libvirt call, and returns early with an ErrTimeout-class error when
// ctx ends first. A libvirt call cannot be interrupted: it then finishes in the background,
// and drop (if not nil) receives a result that arrived too late, to release it. Errors are
// wrapped with op and classified.
func call[T any](ctx context.Context, op string, f func() (T, error), drop func(T)) (T, error) {
	if err := ctx.Err(); err != nil {
		var zero T
		return zero, wrapErr(op, err)
	}
	return run(ctx, op, f, drop)
}

// run is call without the check that ctx is still live: f always runs.
func run[T any](ctx context.Context, op string, f func() (T, error), drop func(T)) (T, error) {
	var zero T
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := f()
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return zero, wrapErr(op, r.err)
		}
		return r.v, nil
	case <-ctx.Done():
		if drop != nil {
			go func() {
				if r := <-done; r.err == nil {
					drop(r.v)
				}
			}()
		}
		return zero, wrapErr(op, ctx.Err())
	}
}
