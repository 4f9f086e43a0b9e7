//go:build component

package rpc_test

import (
	"bytes"
	"context"
	"encoding/json"
	"runtime"
	"runtime/pprof"
	"sync"
	"testing"
	"time"

	"github.com/novalet/novalet/internal/testenv"
	"github.com/novalet/novalet/rpc"
)

// rabbitmqctl runs rabbitmqctl against the test broker.
func rabbitmqctl(t *testing.T, args ...string) { testenv.RabbitMQCtl(t, args...) }

// restartBroker stops and starts the RabbitMQ application: every connection drops and every
// non-durable exchange and queue is gone, as after a broker restart.
func restartBroker(t *testing.T) {
	t.Helper()
	rabbitmqctl(t, "stop_app")
	time.Sleep(2 * time.Second)
	rabbitmqctl(t, "start_app")
	rabbitmqctl(t, "await_startup", "--timeout", "60")
}

// callUntilOK retries a short call until it succeeds; returns how long that took.
func callUntilOK(t *testing.T, c *rpc.Client, tgt rpc.Target, bound time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var err error
	for time.Since(start) < bound {
		var res json.RawMessage
		res, err = c.Call(context.Background(), tgt, testContext, "echo", map[string]any{"n": 1}, rpc.CallOptions{Timeout: 5 * time.Second})
		if err == nil && bytes.Contains(res, []byte(`"n":1`)) {
			return time.Since(start)
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("no successful call within %s after the broker restart: %v", bound, err)
	return 0
}

func TestBrokerRestart(t *testing.T) {
	before := runtime.NumGoroutine()
	// Whatever happens, leave the broker running for the other tests.
	t.Cleanup(func() { rabbitmqctl(t, "start_app") })

	t.Run("reconnect", func(t *testing.T) {
		opts := rpc.DefaultRabbitOptions()
		opts.RetryInterval, opts.RetryBackoff, opts.IntervalMax = time.Second, time.Second, 3*time.Second
		n := uniqueNames(t, amqpHarness())
		started := make(chan struct{}, 1)
		var once sync.Once
		s, err := rpc.NewServer(dialAMQP(t, opts), rpc.ServerConfig{Exchange: n.Exchange, Topic: n.Topic, Server: "s1", Logger: testLogger(),
			Endpoints: []rpc.Endpoint{echoEndpoint(map[string]rpc.HandlerFunc{
				"slow": func(ctx context.Context, _ *rpc.Request) (any, error) {
					once.Do(func() { started <- struct{}{} })
					select {
					case <-time.After(8 * time.Second):
						return "done", nil
					case <-ctx.Done():
						return nil, ctx.Err()
					}
				},
			})}})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Start(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := s.Stop(ctx); err != nil {
				t.Errorf("Stop: %v", err)
			}
		}()
		client := newClient(t, amqpHarness(), dialAMQP(t, opts), n)
		tgt := rpc.Target{Topic: n.Topic, Server: "s1", Version: "6.0"}
		callUntilOK(t, client, tgt, 10*time.Second)

		restartBroker(t)
		took := callUntilOK(t, client, tgt, 90*time.Second)
		t.Logf("idle restart: calls succeed again %s after start_app", took.Round(100*time.Millisecond))

		// A call in flight while the broker restarts: the handler finishes after the restart,
		// the reply waits for the new connection and for the caller's re-declared reply queue.
		result := make(chan error, 1)
		go func() {
			res, err := client.Call(context.Background(), tgt, testContext, "slow", nil, rpc.CallOptions{Timeout: 90 * time.Second})
			if err == nil && string(res) != `"done"` {
				err = &rpc.RemoteError{Class: "unexpected result " + string(res)}
			}
			result <- err
		}()
		select {
		case <-started:
		case <-time.After(waitFor):
			t.Fatal("slow handler did not start")
		}
		restartBroker(t)
		select {
		case err := <-result:
			if err != nil {
				t.Fatalf("call in flight across the restart: %v", err)
			}
		case <-time.After(120 * time.Second):
			t.Fatal("call in flight across the restart neither returned nor failed within 120s")
		}
		took = callUntilOK(t, client, tgt, 60*time.Second)
		t.Logf("after the in-flight restart, a new call succeeded in %s", took.Round(100*time.Millisecond))
	})

	// Everything above is closed now: the goroutines must be gone.
	deadline := time.Now().Add(15 * time.Second)
	for runtime.NumGoroutine() > before+2 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if after := runtime.NumGoroutine(); after > before+2 {
		var dump bytes.Buffer
		_ = pprof.Lookup("goroutine").WriteTo(&dump, 1)
		t.Fatalf("goroutines: %d before, %d after closing everything\n%s", before, after, dump.String())
	}
}
