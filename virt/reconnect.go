package virt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"libvirt.org/go/libvirt"
)

// ErrDisconnected: the connection to libvirtd is lost and is being reopened. It is of the
// ErrUnavailable class: errors.Is(err, ErrUnavailable) holds too. Calls made meanwhile fail at
// once with it rather than wait for libvirtd.
var ErrDisconnected = fmt.Errorf("disconnected from libvirtd: %w", ErrUnavailable)

// ConnectionSource reports the state of the connection to the hypervisor. *Conn and
// virttest.Fake implement it; virttest.RunConnection is its conformance test.
type ConnectionSource interface {
	// Connected is nil while the connection works, and an ErrDisconnected error saying why
	// while it does not.
	Connected() error
	// WatchConnection subscribes to the connection's state: the current state first, then
	// each change. A subscriber that falls behind sees the latest state (Losses says how many
	// losses it may have missed). The channel closes when ctx ends or the source is closed.
	WatchConnection(ctx context.Context) (<-chan ConnState, error)
}

// ConnState is the state of the connection to libvirtd.
type ConnState struct {
	Up bool
	// Reason is why the connection went down, in nova's words ("Connection to libvirt lost:
	// 1", the number being libvirt's close reason, 1 for end of file); empty while up.
	Reason string
	// Since is when the connection reached this state.
	Since time.Time
	// Losses counts the connection losses so far, so that a subscriber that sees Up with a
	// higher count than before knows it missed an outage.
	Losses uint64
}

// Reconnection bounds: the first attempt waits reconnectFirst after the loss, each next one
// twice as long up to reconnectMax, and each is bounded by connectTimeout.
var (
	reconnectFirst = time.Second
	reconnectMax   = 8 * time.Second
	connectTimeout = 30 * time.Second
)

// lostReason is nova's disable reason for a closed connection (host.py _dispatch_events).
func lostReason(reason libvirt.ConnectCloseReason) string {
	return fmt.Sprintf("Connection to libvirt lost: %d", int(reason))
}

// closeReasonName names libvirt's close reason for logs.
func closeReasonName(reason libvirt.ConnectCloseReason) string {
	switch reason {
	case libvirt.CONNECT_CLOSE_REASON_ERROR:
		return "error"
	case libvirt.CONNECT_CLOSE_REASON_EOF:
		return "end of file (libvirtd stopped)"
	case libvirt.CONNECT_CLOSE_REASON_KEEPALIVE:
		return "keepalive timeout"
	case libvirt.CONNECT_CLOSE_REASON_CLIENT:
		return "closed by client"
	}
	return fmt.Sprintf("reason %d", int(reason))
}

// link is the live libvirt connection behind a Conn, replaced on each reconnection.
type link struct {
	mu       sync.Mutex
	lv       *libvirt.Connect // nil while disconnected
	gen      uint64           // counts connections opened
	inflight *sync.WaitGroup  // calls running on lv: it is closed once they end
	closed   bool             // Close was called
	log      *slog.Logger

	kick   chan struct{} // wakes reconnectLoop
	stop   chan struct{} // closed by Close
	states *ConnStates
}

func (l *link) init() {
	l.kick, l.stop = make(chan struct{}, 1), make(chan struct{})
	l.states = NewConnStates(ConnState{Up: true, Since: time.Now()})
	if l.log == nil {
		l.log = slog.Default()
	}
}

// WithLogger sets where the Conn logs connection losses and reconnections (default
// slog.Default()).
func WithLogger(log *slog.Logger) Option { return func(c *Conn) { c.link.log = log } }

// attach makes lv the live connection, with a close callback that reports its loss. It
// returns the connection's generation, or 0 (and closes lv) when the Conn is closed.
func (c *Conn) attach(lv *libvirt.Connect) uint64 {
	l := &c.link
	l.mu.Lock()
	gen := l.gen + 1
	l.mu.Unlock()
	if err := lv.RegisterCloseCallback(func(_ *libvirt.Connect, reason libvirt.ConnectCloseReason) {
		// On libvirt's event loop thread: nothing here waits for libvirtd.
		l.log.Error("connection to libvirt lost", "uri", c.uri, "reason", closeReasonName(reason))
		c.lost(gen, lostReason(reason))
	}); err != nil {
		// As nova: the connection works without it; a failing call notices the loss instead.
		l.log.Warn("libvirt connection does not support close events", "uri", c.uri, "error", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		go func() { _ = lv.UnregisterCloseCallback(); _, _ = lv.Close() }()
		return 0
	}
	l.lv, l.gen, l.inflight = lv, gen, new(sync.WaitGroup)
	return gen
}

// acquire returns the live connection for one call, which must call inflight.Done when done
// with lv; while disconnected it fails at once with ErrDisconnected.
func (l *link) acquire(op string) (lv *libvirt.Connect, gen uint64, inflight *sync.WaitGroup, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.closed:
		return nil, 0, nil, &opError{op: op, class: ErrUnavailable, err: errors.New("connection closed")}
	case l.lv == nil:
		return nil, 0, nil, &opError{op: op, class: ErrDisconnected, err: errors.New(l.states.Current().Reason)}
	}
	l.inflight.Add(1)
	return l.lv, l.gen, l.inflight, nil
}

// generation is the number of the last connection opened.
func (l *link) generation() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.gen
}

// shut marks the link closed, stops reconnecting and returns the live connection (nil when
// disconnected) with its in-flight calls.
func (l *link) shut() (*libvirt.Connect, *sync.WaitGroup) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, nil
	}
	l.closed = true
	close(l.stop)
	l.states.Close()
	lv := l.lv
	l.lv = nil
	return lv, l.inflight
}

// lost takes connection gen out of use, reports the loss and starts reconnecting. It never
// waits for libvirtd: the close callback calls it.
func (c *Conn) lost(gen uint64, reason string) {
	l := &c.link
	l.mu.Lock()
	if l.closed || l.gen != gen || l.lv == nil {
		l.mu.Unlock()
		return
	}
	old, inflight := l.lv, l.inflight
	l.lv = nil
	losses := l.states.Current().Losses + 1
	l.states.Publish(ConnState{Reason: reason, Since: time.Now(), Losses: losses})
	l.mu.Unlock()
	go func() {
		// Calls still running on the dead connection fail soon; close it after them.
		done := make(chan struct{})
		go func() { inflight.Wait(); close(done) }()
		select {
		case <-done:
			_ = old.UnregisterCloseCallback()
			_, _ = old.Close()
		case <-time.After(closeTimeout):
			l.log.Warn("old libvirt connection left open: calls on it still running", "uri", c.uri)
		}
	}()
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// checkAlive is for a call that failed as unavailable: when libvirt says its connection is
// dead (a loss the close callback has not reported, or cannot), it is taken out of use, as
// nova's _test_connection does.
func (c *Conn) checkAlive(gen uint64) {
	lv, g, inflight, err := c.link.acquire("check connection")
	if err != nil {
		return
	}
	alive, aerr := lv.IsAlive() // local: no round trip
	inflight.Done()
	if g == gen && aerr == nil && !alive {
		c.link.log.Error("connection to libvirt lost", "uri", c.uri, "reason", "connection found dead")
		c.lost(gen, "Connection to libvirt lost")
	}
}

// reconnectLoop reopens the connection after each loss until Close.
func (c *Conn) reconnectLoop() {
	l := &c.link
	for {
		select {
		case <-l.stop:
			return
		case <-l.kick:
		}
		c.reopen()
	}
}

// reopen connects again with backoff; each attempt is bounded by connectTimeout.
func (c *Conn) reopen() {
	l := &c.link
	down := l.states.Current()
	delay := reconnectFirst
	for attempt := 1; ; attempt++ {
		select {
		case <-l.stop:
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, reconnectMax)
		ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
		lv, err := call(ctx, "connect to "+c.uri, func() (*libvirt.Connect, error) {
			return libvirt.NewConnect(c.uri)
		}, func(late *libvirt.Connect) { late.Close() })
		if err != nil {
			cancel()
			l.log.Warn("libvirt reconnection failed; retrying", "uri", c.uri, "attempt", attempt, "retry_in", delay.String(), "error", err)
			continue
		}
		gen := c.attach(lv)
		if gen == 0 {
			cancel()
			return
		}
		if lv, g, inflight, err := l.acquire("register for lifecycle events"); err == nil {
			if g != gen {
				inflight.Done()
			} else if err := c.resumeEvents(ctx, lv, gen, inflight); err != nil {
				l.log.Warn("lifecycle events not resumed on the new libvirt connection", "uri", c.uri, "error", err)
			}
		}
		cancel()
		l.mu.Lock()
		if l.gen == gen && l.lv != nil && !l.closed {
			l.states.Publish(ConnState{Up: true, Since: time.Now(), Losses: down.Losses})
		}
		l.mu.Unlock()
		l.log.Info("connection to libvirt restored", "uri", c.uri, "attempts", attempt,
			"down_for", time.Since(down.Since).Round(time.Millisecond).String())
		return
	}
}

var _ ConnectionSource = (*Conn)(nil)

// Connected implements ConnectionSource.
func (c *Conn) Connected() error {
	_, _, inflight, err := c.link.acquire("check connection")
	if err != nil {
		return err
	}
	inflight.Done()
	return nil
}

// WatchConnection implements ConnectionSource.
func (c *Conn) WatchConnection(ctx context.Context) (<-chan ConnState, error) {
	return c.link.states.Watch(ctx)
}

// connCall runs f on the live connection as call does, and fails at once with ErrDisconnected
// while there is none. The connection is not closed under f: a reconnection closes the old
// one once its calls have ended.
func connCall[T any](ctx context.Context, c *Conn, op string, f func(lv *libvirt.Connect) (T, error), drop func(T)) (T, error) {
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, wrapErr(op, err)
	}
	lv, gen, inflight, err := c.link.acquire(op)
	if err != nil {
		return zero, err
	}
	v, err := run(ctx, op, func() (T, error) {
		defer inflight.Done()
		return f(lv)
	}, drop)
	if errors.Is(err, ErrUnavailable) {
		c.checkAlive(gen)
	}
	return v, err
}
