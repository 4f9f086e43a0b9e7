package systemd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// notifyListener is a stand-in for systemd's end of $NOTIFY_SOCKET.
type notifyListener struct {
	conn *net.UnixConn
	addr string
}

// listenPath binds a unixgram socket on a short temporary path (sun_path holds 108 bytes,
// which t.TempDir's long names can exceed).
func listenPath(t *testing.T) *notifyListener {
	t.Helper()
	dir, err := os.MkdirTemp("", "sdnotify")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return listen(t, filepath.Join(dir, "notify.sock"))
}

// listenAbstract binds an abstract socket, the form systemd itself uses for NOTIFY_SOCKET in
// some setups (a leading '@').
func listenAbstract(t *testing.T) *notifyListener {
	t.Helper()
	return listen(t, fmt.Sprintf("@novalet-test-%d-%d", os.Getpid(), time.Now().UnixNano()))
}

func listen(t *testing.T, addr string) *notifyListener {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		t.Fatalf("listen unixgram %s: %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	return &notifyListener{conn: conn, addr: addr}
}

// drain returns the datagrams queued so far. A unixgram write puts the datagram on the
// receiver's queue before it returns, so after a send has returned its datagram is already
// here; the short deadline only ends the read once the queue is empty.
func (l *notifyListener) drain(t *testing.T) []string {
	t.Helper()
	var got []string
	buf := make([]byte, 4096)
	for {
		if err := l.conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		n, err := l.conn.Read(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return got
		}
		if err != nil {
			t.Fatalf("read notify socket: %v", err)
		}
		got = append(got, string(buf[:n]))
	}
}

func TestSocketNotifierDelivers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		listen func(*testing.T) *notifyListener
	}{
		{"path", listenPath},
		{"abstract", listenAbstract},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := tc.listen(t)
			t.Setenv("NOTIFY_SOCKET", l.addr)
			n := FromEnv()
			if !n.Enabled() {
				t.Fatalf("FromEnv with NOTIFY_SOCKET=%s is disabled", l.addr)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			steps := []struct {
				send func() error
				want string
			}{
				{func() error { return n.Status(ctx, "recovering 3 instances") }, "STATUS=recovering 3 instances"},
				{func() error { return n.Ready(ctx) }, "READY=1"},
				{func() error { return n.Watchdog(ctx) }, "WATCHDOG=1"},
				{func() error { return n.Status(ctx, "draining\nREADY=1") }, "STATUS=draining READY=1"},
				{func() error { return n.Stopping(ctx) }, "STOPPING=1"},
			}
			for _, s := range steps {
				if err := s.send(); err != nil {
					t.Fatalf("send %q: %v", s.want, err)
				}
				got := l.drain(t)
				if len(got) != 1 || got[0] != s.want {
					t.Fatalf("after sending %q the socket received %q", s.want, got)
				}
			}
		})
	}
}

func TestSocketNotifierUnsetIsNoop(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	n := FromEnv()
	if n.Enabled() {
		t.Fatal("FromEnv without NOTIFY_SOCKET reports enabled")
	}
	// Even a cancelled context succeeds: nothing is sent, nothing can fail.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for name, send := range map[string]func() error{
		"ready":    func() error { return n.Ready(ctx) },
		"status":   func() error { return n.Status(ctx, "x") },
		"stopping": func() error { return n.Stopping(ctx) },
		"watchdog": func() error { return n.Watchdog(ctx) },
	} {
		if err := send(); err != nil {
			t.Errorf("%s without NOTIFY_SOCKET: %v", name, err)
		}
	}
}

func TestSocketNotifierDeadSocket(t *testing.T) {
	dir := t.TempDir()
	closed := listenPath(t)
	closed.conn.Close() // the socket file stays; nobody reads it
	for _, tc := range []struct {
		name, addr string
		errno      syscall.Errno
	}{
		{"missing path", filepath.Join(dir, "nope.sock"), syscall.ENOENT},
		{"closed listener", closed.addr, syscall.ECONNREFUSED},
		{"unbound abstract", fmt.Sprintf("@novalet-test-dead-%d", time.Now().UnixNano()), syscall.ECONNREFUSED},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			n := NewSocketNotifier(tc.addr, time.Second)
			done := make(chan error, 1)
			go func() { done <- n.Ready(ctx) }()
			var err error
			select {
			case err = <-done:
			case <-ctx.Done():
				t.Fatal("Ready on a dead socket did not return")
			}
			if !errors.Is(err, ErrUnavailable) || !errors.Is(err, tc.errno) {
				t.Fatalf("Ready on %s = %v, want ErrUnavailable wrapping %v", tc.addr, err, tc.errno)
			}
			if !strings.Contains(err.Error(), "READY") {
				t.Errorf("error %q does not say which message failed", err)
			}
		})
	}
}

// fillQueue sends until the listener's receive queue is full (it never reads), which is the
// state of a service manager that has stopped reading its socket.
func fillQueue(t *testing.T, l *notifyListener) {
	t.Helper()
	n := NewSocketNotifier(l.addr, 100*time.Millisecond)
	for i := 0; i < 100000; i++ {
		err := n.Watchdog(context.Background())
		if err == nil {
			continue
		}
		if !errors.Is(err, ErrTimeout) || !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("send %d to a full queue = %v, want ErrTimeout wrapping os.ErrDeadlineExceeded", i, err)
		}
		return
	}
	t.Fatal("100000 datagrams never filled the receive queue")
}

func TestSocketNotifierSendIsBounded(t *testing.T) {
	l := listenPath(t)
	fillQueue(t, l) // asserts that the write deadline ends a blocked send with ErrTimeout

	t.Run("cancel", func(t *testing.T) {
		n := NewSocketNotifier(l.addr, time.Hour)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- n.Stopping(ctx) }()
		// Usually the send is blocked on the full queue by then; if not, it sees the
		// cancelled context up front, and the assertion holds either way.
		time.AfterFunc(100*time.Millisecond, cancel)
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Stopping cancelled while blocked = %v, want context.Canceled", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("cancelling the context did not end a blocked send")
		}
	})
	t.Run("context deadline", func(t *testing.T) {
		n := NewSocketNotifier(l.addr, time.Hour)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- n.Status(ctx, "x") }()
		select {
		case err := <-done:
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Status past the context deadline = %v, want context.DeadlineExceeded", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the context deadline did not end a blocked send")
		}
	})
}
