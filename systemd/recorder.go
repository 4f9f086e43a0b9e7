package systemd

import (
	"context"
	"fmt"
	"slices"
	"sync"
)

// Recorder is the in-memory Notifier for other packages' unit tests: it records every message
// exactly as SocketNotifier would put it on the wire, in order. The zero value is ready to use.
type Recorder struct {
	mu      sync.Mutex
	sent    []string
	err     error
	changed chan struct{} // closed and replaced on every send, to wake Wait
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder { return &Recorder{} }

// Ready implements Notifier.
func (r *Recorder) Ready(ctx context.Context) error { return r.record(ctx, readyMessage()) }

// Status implements Notifier.
func (r *Recorder) Status(ctx context.Context, status string) error {
	return r.record(ctx, statusMessage(status))
}

// Stopping implements Notifier.
func (r *Recorder) Stopping(ctx context.Context) error { return r.record(ctx, stoppingMessage()) }

// Watchdog implements Notifier.
func (r *Recorder) Watchdog(ctx context.Context) error { return r.record(ctx, watchdogMessage()) }

// FailWith makes later sends return err without recording (nil restores success), so callers
// can test how they treat a manager that does not listen.
func (r *Recorder) FailWith(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.err = err
}

// Sent returns a copy of the messages recorded so far, oldest first.
func (r *Recorder) Sent() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.sent)
}

// Count returns how many times msg (a full payload such as "WATCHDOG=1") was recorded.
func (r *Recorder) Count(msg string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.countLocked(msg)
}

// Wait blocks until msg has been recorded at least n times or ctx ends, so tests need not poll.
func (r *Recorder) Wait(ctx context.Context, msg string, n int) error {
	for {
		r.mu.Lock()
		got := r.countLocked(msg)
		changed := r.changedLocked()
		r.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("systemd: waiting for %d× %q (have %d): %w", n, msg, got, ctx.Err())
		}
	}
}

func (r *Recorder) record(ctx context.Context, msg string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("systemd: record %s: %w", msg, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	r.sent = append(r.sent, msg)
	close(r.changedLocked())
	r.changed = nil
	return nil
}

func (r *Recorder) countLocked(msg string) int {
	n := 0
	for _, m := range r.sent {
		if m == msg {
			n++
		}
	}
	return n
}

// changedLocked returns the channel the next send closes, making it on first use.
func (r *Recorder) changedLocked() chan struct{} {
	if r.changed == nil {
		r.changed = make(chan struct{})
	}
	return r.changed
}
