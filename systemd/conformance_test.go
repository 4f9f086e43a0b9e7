package systemd

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// observer returns the messages a notifier has delivered since the previous call.
type observer func(t *testing.T) []string

// notifierUnderTest builds a fresh Notifier and a way to see what it delivered.
type notifierUnderTest func(t *testing.T) (Notifier, observer)

// implementations are run through the same tests: the real socket notifier against a real
// unixgram listener, and the Recorder other packages use as a double.
var implementations = map[string]notifierUnderTest{
	"socket": func(t *testing.T) (Notifier, observer) {
		l := listenPath(t)
		return NewSocketNotifier(l.addr, 5*time.Second), l.drain
	},
	"recorder": func(t *testing.T) (Notifier, observer) {
		r := NewRecorder()
		seen := 0
		return r, func(*testing.T) []string {
			all := r.Sent()
			next := all[seen:]
			seen = len(all)
			return next
		}
	},
}

// TestNotifierConformance: what was sent, in order, with the same payloads.
func TestNotifierConformance(t *testing.T) {
	for name, build := range implementations {
		t.Run(name, func(t *testing.T) {
			n, observe := build(t)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			for _, send := range []func() error{
				func() error { return n.Status(ctx, "connecting to libvirt") },
				func() error { return n.Status(ctx, "registering\r\ncompute node") },
				func() error { return n.Ready(ctx) },
				func() error { return n.Watchdog(ctx) },
				func() error { return n.Watchdog(ctx) },
				func() error { return n.Stopping(ctx) },
				func() error { return n.Status(ctx, "") },
			} {
				if err := send(); err != nil {
					t.Fatal(err)
				}
			}
			want := []string{
				"STATUS=connecting to libvirt",
				"STATUS=registering compute node",
				"READY=1",
				"WATCHDOG=1",
				"WATCHDOG=1",
				"STOPPING=1",
				"STATUS=",
			}
			if got := observe(t); !slices.Equal(got, want) {
				t.Fatalf("delivered %q, want %q", got, want)
			}
			if got := observe(t); len(got) != 0 {
				t.Fatalf("delivered %q after the last send", got)
			}
		})
	}
}

// TestNotifierConformanceCancelled: a cancelled context sends nothing and says why.
func TestNotifierConformanceCancelled(t *testing.T) {
	for name, build := range implementations {
		t.Run(name, func(t *testing.T) {
			n, observe := build(t)
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if err := n.Ready(ctx); !errors.Is(err, context.Canceled) {
				t.Fatalf("Ready with a cancelled context = %v, want context.Canceled", err)
			}
			if got := observe(t); len(got) != 0 {
				t.Fatalf("a cancelled send delivered %q", got)
			}
		})
	}
}

func TestRecorderWaitAndFail(t *testing.T) {
	var r Recorder // the zero value works
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	waited := make(chan error, 1)
	go func() { waited <- r.Wait(ctx, "WATCHDOG=1", 2) }()
	for range 2 {
		if err := r.Watchdog(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-waited; err != nil {
		t.Fatalf("Wait for 2 pings after 2 pings: %v", err)
	}
	if got := r.Count("WATCHDOG=1"); got != 2 {
		t.Fatalf("Count = %d, want 2", got)
	}

	short, cancelShort := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancelShort()
	if err := r.Wait(short, "READY=1", 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait for a message never sent = %v, want context.DeadlineExceeded", err)
	}

	r.FailWith(ErrUnavailable)
	if err := r.Ready(ctx); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Ready after FailWith = %v, want ErrUnavailable", err)
	}
	r.FailWith(nil)
	if err := r.Stopping(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := r.Sent(), []string{"WATCHDOG=1", "WATCHDOG=1", "STOPPING=1"}; !slices.Equal(got, want) {
		t.Fatalf("Sent = %q, want %q (a failed send is not recorded)", got, want)
	}
}
