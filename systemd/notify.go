// Package systemd owns novalet's conversation with its service manager: sd_notify messages
// (READY, STATUS, STOPPING, WATCHDOG) sent to $NOTIFY_SOCKET, the watchdog loop that pings only
// while the daemon's main loops are healthy, and the novalet.service unit file.
//
// RELOADING is deliberately absent: novalet has no reload path (configuration is read once at
// start, as nova-compute's is in practice), so the unit has no ExecReload either.
package systemd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// Error classes; callers decide with errors.Is.
var (
	// ErrUnavailable: the notify socket could not be reached or refused the message.
	ErrUnavailable = errors.New("systemd: notify socket unavailable")
	// ErrTimeout: the message could not be written before its deadline (the manager is not
	// reading its socket).
	ErrTimeout = errors.New("systemd: notify timed out")
	// ErrInvalid: the environment systemd passed (WATCHDOG_USEC, WATCHDOG_PID) is malformed.
	ErrInvalid = errors.New("systemd: invalid environment")
)

// DefaultSendTimeout bounds one datagram write. systemd reads its notify socket from its main
// loop; if PID 1 is wedged for longer than this, blocking novalet would not help either.
const DefaultSendTimeout = 2 * time.Second

// Notifier is what the daemon tells its service manager. SocketNotifier is the real one,
// Recorder the in-memory double; both pass the same conformance test.
type Notifier interface {
	// Ready says start-up is complete (sent once, after recovery and registration).
	Ready(ctx context.Context) error
	// Status sets the free-form line `systemctl status` shows.
	Status(ctx context.Context, status string) error
	// Stopping says a graceful shutdown has begun.
	Stopping(ctx context.Context) error
	// Watchdog resets the service watchdog timer.
	Watchdog(ctx context.Context) error
}

// The payloads, shared by both notifiers so the double records exactly what the real one sends.
func readyMessage() string    { return daemon.SdNotifyReady }
func stoppingMessage() string { return daemon.SdNotifyStopping }
func watchdogMessage() string { return daemon.SdNotifyWatchdog }

// statusMessage keeps STATUS= on one line: the protocol is newline-separated assignments, so an
// embedded newline would end the status early and smuggle in a second assignment.
func statusMessage(status string) string {
	status = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(status)
	return "STATUS=" + status
}

// SocketNotifier sends sd_notify datagrams to a unix socket. An empty address makes every
// method a successful no-op, which is what a daemon run outside systemd (or with Type=simple)
// wants.
//
// It does not use daemon.SdNotify because that writes without a deadline: a unixgram write
// blocks while the receiver's queue is full, and every external call here must be bounded.
type SocketNotifier struct {
	addr    string
	timeout time.Duration
}

// NewSocketNotifier returns a notifier for addr: a filesystem path, or an abstract socket name
// written with a leading '@' (Go's net package maps '@' to the abstract namespace, as systemd
// does). timeout bounds each send; zero means DefaultSendTimeout.
func NewSocketNotifier(addr string, timeout time.Duration) *SocketNotifier {
	if timeout <= 0 {
		timeout = DefaultSendTimeout
	}
	return &SocketNotifier{addr: addr, timeout: timeout}
}

// FromEnv returns a notifier for $NOTIFY_SOCKET, a no-op one when it is unset. The variable is
// left in the environment: children cannot spoof us because the unit sets NotifyAccess=main.
func FromEnv() *SocketNotifier {
	return NewSocketNotifier(os.Getenv("NOTIFY_SOCKET"), 0)
}

// Enabled reports whether messages go anywhere.
func (s *SocketNotifier) Enabled() bool { return s.addr != "" }

// Ready implements Notifier.
func (s *SocketNotifier) Ready(ctx context.Context) error { return s.send(ctx, readyMessage()) }

// Status implements Notifier.
func (s *SocketNotifier) Status(ctx context.Context, status string) error {
	return s.send(ctx, statusMessage(status))
}

// Stopping implements Notifier.
func (s *SocketNotifier) Stopping(ctx context.Context) error {
	return s.send(ctx, stoppingMessage())
}

// Watchdog implements Notifier.
func (s *SocketNotifier) Watchdog(ctx context.Context) error {
	return s.send(ctx, watchdogMessage())
}

// send writes one datagram, bounded by the earlier of ctx's deadline and s.timeout, and aborted
// when ctx is cancelled. Each send dials afresh, as sd_notify(3) does, so nothing goes stale
// across a `systemctl daemon-reexec`.
func (s *SocketNotifier) send(ctx context.Context, msg string) error {
	if s.addr == "" {
		return nil
	}
	key, _, _ := strings.Cut(msg, "=")
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("systemd: notify %s: %w", key, err)
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: s.addr, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("%w: notify %s via %s: %w", ErrUnavailable, key, s.addr, err)
	}
	defer conn.Close()

	deadline := time.Now().Add(s.timeout)
	ctxDeadline := false
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline, ctxDeadline = d, true
	}
	if err := conn.SetWriteDeadline(deadline); err != nil {
		return fmt.Errorf("%w: notify %s via %s: %w", ErrUnavailable, key, s.addr, err)
	}
	// A deadline in the past wakes a blocked write at once, so cancellation is honoured too.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetWriteDeadline(time.Unix(1, 0)) })
	defer stop()

	if _, err := conn.Write([]byte(msg)); err != nil {
		switch {
		case errors.Is(ctx.Err(), context.Canceled):
			return fmt.Errorf("systemd: notify %s via %s: %w", key, s.addr, ctx.Err())
		case errors.Is(err, os.ErrDeadlineExceeded) && (ctxDeadline || ctx.Err() != nil):
			// The write's deadline was ctx's, which may fire a moment before ctx.Err() is set.
			return fmt.Errorf("%w: notify %s via %s: %w", ErrTimeout, key, s.addr, context.DeadlineExceeded)
		case errors.Is(err, os.ErrDeadlineExceeded):
			return fmt.Errorf("%w: notify %s via %s after %s: %w", ErrTimeout, key, s.addr, s.timeout, err)
		default:
			return fmt.Errorf("%w: notify %s via %s: %w", ErrUnavailable, key, s.addr, err)
		}
	}
	return nil
}
