package neutron

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"
)

// A first connection stuck in Keystone must not hold up a caller that can connect, and a failed
// connection is retried at the next use.
func TestConnectorAuthenticatesOutsideItsLock(t *testing.T) {
	stuck := make(chan struct{})
	var calls atomic.Int32
	ready := NewFromServiceClient(nil, slog.New(slog.DiscardHandler))
	k := NewConnectorFunc(func(ctx context.Context) (*Client, error) {
		switch calls.Add(1) {
		case 1:
			<-stuck // Keystone hangs for the first caller
			return nil, errors.New("keystone timed out")
		case 2:
			return nil, errors.New("keystone refused")
		}
		return ready, nil
	})
	first := make(chan error, 1)
	go func() { _, err := k.Client(t.Context()); first <- err }()
	time.Sleep(20 * time.Millisecond) // the first caller is inside connect
	done := make(chan error, 1)
	go func() { _, err := k.Client(t.Context()); done <- err }()
	select {
	case err := <-done:
		if err == nil || err.Error() != "keystone refused" {
			t.Fatalf("second caller: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a caller waited behind another's authentication")
	}
	c, err := k.Client(t.Context())
	if err != nil || c != ready {
		t.Fatalf("third caller: %v, %v", c, err)
	}
	close(stuck)
	if err := <-first; err == nil {
		t.Fatal("the hung connection reported success")
	}
	if c, _ := k.Client(t.Context()); c != ready {
		t.Fatal("the connected client was replaced")
	}
}
