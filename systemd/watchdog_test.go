package systemd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestWatchdogInterval(t *testing.T) {
	self := strconv.Itoa(os.Getpid())
	for _, tc := range []struct {
		name, usec, pid string
		want            time.Duration
		wantErr         bool
	}{
		{name: "unset"},
		{name: "no pid", usec: "60000000", want: 60 * time.Second},
		{name: "our pid", usec: "60000000", pid: self, want: 60 * time.Second},
		{name: "another pid", usec: "60000000", pid: "1"},
		{name: "garbage", usec: "sixty", wantErr: true},
		{name: "zero", usec: "0", wantErr: true},
		{name: "bad pid", usec: "60000000", pid: "x", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("WATCHDOG_USEC", tc.usec)
			t.Setenv("WATCHDOG_PID", tc.pid)
			got, err := WatchdogInterval()
			if tc.wantErr {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("WatchdogInterval = %v, %v; want ErrInvalid", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("WatchdogInterval = %v, %v; want %v", got, err, tc.want)
			}
			if os.Getenv("WATCHDOG_USEC") != tc.usec {
				t.Error("WatchdogInterval changed the environment")
			}
		})
	}
	if got := pingPeriod(60 * time.Second); got != 30*time.Second {
		t.Errorf("pingPeriod(60s) = %v, want 30s", got)
	}
}

// lockstepHealth is a Healthy function the test drives one call at a time. Because the
// watchdog pings synchronously before its next health check, when the test receives call
// i+1 the ping that followed call i (if any) has already been delivered.
type lockstepHealth struct {
	calls chan chan error
}

func (h lockstepHealth) check() error {
	reply := make(chan error)
	h.calls <- reply
	return <-reply
}

// next waits for the watchdog's next health check and returns the channel to answer it on.
func (h lockstepHealth) next(t *testing.T) chan error {
	t.Helper()
	select {
	case reply := <-h.calls:
		return reply
	case <-time.After(30 * time.Second):
		t.Fatal("the watchdog stopped checking health")
		return nil
	}
}

// answerHealthy keeps answering checks with nil until stop is closed, so a Run that is being
// cancelled is never left blocked in Healthy.
func (h lockstepHealth) answerHealthy(stop <-chan struct{}) {
	for {
		select {
		case reply := <-h.calls:
			reply <- nil
		case <-stop:
			return
		}
	}
}

// syncBuffer is a bytes.Buffer safe for the watchdog goroutine's logger.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestWatchdogPingsOnlyWhileHealthy: pings stop when health reports an error and resume when
// it is healthy again, on both notifiers.
func TestWatchdogPingsOnlyWhileHealthy(t *testing.T) {
	for name, build := range implementations {
		t.Run(name, func(t *testing.T) {
			n, observe := build(t)
			health := lockstepHealth{calls: make(chan chan error)}
			var logs syncBuffer
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			w := Watchdog{
				Notifier: n,
				Interval: 2 * time.Millisecond, // fast ticks; the lockstep sets the pace
				Healthy:  health.check,
				Logger:   slog.New(slog.NewTextHandler(&logs, nil)),
			}
			ran := make(chan error, 1)
			go func() { ran <- w.Run(ctx) }()

			stalled := fmt.Errorf("heartbeat loop stalled")
			script := []error{nil, nil, stalled, stalled, stalled, nil, nil}
			for i, result := range script {
				reply := health.next(t)
				got := observe(t)
				// What arrived since the previous check follows from the previous answer.
				wantPings := 0
				if i > 0 && script[i-1] == nil {
					wantPings = 1
				}
				if len(got) != wantPings || (wantPings == 1 && got[0] != "WATCHDOG=1") {
					t.Fatalf("check %d: after answering %v the notifier received %q, want %d ping(s)",
						i, script[max(i-1, 0)], got, wantPings)
				}
				reply <- result
			}
			// Receiving the next check proves the last ping went out; then stop.
			reply := health.next(t)
			if got := observe(t); len(got) != 1 || got[0] != "WATCHDOG=1" {
				t.Fatalf("after the last healthy check the notifier received %q", got)
			}
			cancel()
			reply <- nil
			stop := make(chan struct{})
			defer close(stop)
			go health.answerHealthy(stop)
			select {
			case err := <-ran:
				if err != nil {
					t.Fatalf("Run = %v, want nil after cancel", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("Run did not return after its context was cancelled")
			}
			// Answers given during cancellation may have produced a final ping; once Run has
			// returned, nothing may follow.
			observe(t)
			if got := observe(t); len(got) != 0 {
				t.Fatalf("pings after Run returned: %q", got)
			}

			// State changes are logged once each, not once per tick.
			out := logs.String()
			if c := strings.Count(out, "withholding pings"); c != 1 {
				t.Errorf("logged %d withholding warnings for one unhealthy spell, want 1:\n%s", c, out)
			}
			if c := strings.Count(out, "resuming pings"); c != 1 {
				t.Errorf("logged %d recoveries, want 1:\n%s", c, out)
			}
			if !strings.Contains(out, "heartbeat loop stalled") {
				t.Errorf("the health error is not in the log:\n%s", out)
			}
		})
	}
}

func TestWatchdogDisabledAndMisconfigured(t *testing.T) {
	r := NewRecorder()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	called := false
	off := Watchdog{Notifier: r, Healthy: func() error { called = true; return nil }}
	if err := off.Run(ctx); err != nil || called || len(r.Sent()) != 0 {
		t.Fatalf("Run with Interval 0 = %v, health called %v, sent %q; want an immediate nil", err, called, r.Sent())
	}
	bad := Watchdog{Notifier: r, Interval: time.Second}
	if err := bad.Run(ctx); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Run without Healthy = %v, want ErrInvalid", err)
	}
}

// TestWatchdogPingFailureIsNotFatal: a manager that refuses pings is logged and retried.
func TestWatchdogPingFailureIsNotFatal(t *testing.T) {
	r := NewRecorder()
	r.FailWith(ErrUnavailable)
	health := lockstepHealth{calls: make(chan chan error)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs syncBuffer
	w := Watchdog{Notifier: r, Interval: 2 * time.Millisecond, Healthy: health.check,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	ran := make(chan error, 1)
	go func() { ran <- w.Run(ctx) }()
	health.next(t) <- nil
	health.next(t) <- nil
	reply := health.next(t) // the two failed pings are behind us
	r.FailWith(nil)
	reply <- nil
	waitCtx, waitCancel := context.WithTimeout(ctx, 30*time.Second)
	defer waitCancel()
	if err := r.Wait(waitCtx, "WATCHDOG=1", 1); err != nil {
		t.Fatalf("no ping after the manager came back: %v", err)
	}
	cancel()
	stop := make(chan struct{})
	defer close(stop)
	go health.answerHealthy(stop)
	if err := <-ran; err != nil {
		t.Fatalf("Run = %v after failed pings, want nil", err)
	}
	if c := strings.Count(logs.String(), "ping failed"); c != 1 {
		t.Errorf("logged %d ping failures for one failing spell, want 1:\n%s", c, logs.String())
	}
}
