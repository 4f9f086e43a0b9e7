package rpc_test

// The Transport conformance suite: one set of behaviours every rpc.Transport must have, run on
// the in-memory transport by the unit tests (memory_transport_test.go) and on RabbitMQ by the
// component tests (amqp_component_test.go). It checks the port itself and then the server and
// client on top of it, so the in-memory double is proven to behave like the broker.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/novalet/novalet/rpc"
)

// transportHarness makes transports that share one broker.
type transportHarness struct {
	// New returns a transport declaring with opts; it is closed when the test ends.
	New func(t *testing.T, opts rpc.RabbitOptions) rpc.Transport
	// Cleanup removes queues and exchanges a test left on the broker (nil: nothing to do).
	Cleanup func(t *testing.T, queues, exchanges []string)
}

// names are unique per test so tests never see each other's messages.
type names struct {
	Exchange, Topic string
}

func uniqueNames(t *testing.T, h transportHarness) names {
	id := strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
	n := names{Exchange: "novalet_test_" + id, Topic: "t" + id}
	if h.Cleanup != nil {
		t.Cleanup(func() {
			h.Cleanup(t, []string{n.Topic, n.Topic + ".s1", n.Topic + ".s2", n.Topic + ".cmp1", n.Topic + ".conductor-host"},
				[]string{n.Exchange, n.Topic + "_fanout"})
		})
	}
	return n
}

const waitFor = 20 * time.Second

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// collector records deliveries.
type collector struct {
	mu  sync.Mutex
	got []rpc.Delivery
	ch  chan rpc.Delivery
}

func newCollector() *collector { return &collector{ch: make(chan rpc.Delivery, 100)} }

func (c *collector) deliver(d rpc.Delivery) {
	c.mu.Lock()
	c.got = append(c.got, d)
	c.mu.Unlock()
	c.ch <- d
}

func (c *collector) next(t *testing.T) rpc.Delivery {
	t.Helper()
	select {
	case d := <-c.ch:
		return d
	case <-time.After(waitFor):
		t.Fatalf("no delivery within %s", waitFor)
		return rpc.Delivery{}
	}
}

// none asserts nothing arrives for a while (used after a positive delivery on another path
// proved the message would have arrived by now).
func (c *collector) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case got := <-c.ch:
		t.Fatalf("unexpected delivery on %s: %s", got.Queue, got.Body)
	case <-time.After(d):
	}
}

func listen(t *testing.T, tr rpc.Transport, spec rpc.ListenSpec, deliver func(rpc.Delivery)) rpc.Subscription {
	t.Helper()
	sub, err := tr.Listen(testCtx(t), spec, deliver)
	if err != nil {
		t.Fatalf("Listen(%+v): %v", spec, err)
	}
	t.Cleanup(func() { _ = sub.Close(context.Background()) })
	return sub
}

func send(t *testing.T, tr rpc.Transport, dst rpc.Destination, body string) {
	t.Helper()
	if err := tr.Send(testCtx(t), dst, []byte(body)); err != nil {
		t.Fatalf("Send(%+v): %v", dst, err)
	}
}

func runTransportConformance(t *testing.T, h transportHarness) {
	defaults := rpc.DefaultRabbitOptions()
	t.Run("ServerQueuesAndRouting", func(t *testing.T) {
		n := uniqueNames(t, h)
		tr := h.New(t, defaults)
		c := newCollector()
		sub := listen(t, tr, rpc.ListenSpec{Exchange: n.Exchange, Topic: n.Topic, Server: "s1"}, c.deliver)
		q := sub.Queues()
		if len(q) != 3 || q[0] != n.Topic || q[1] != n.Topic+".s1" || !strings.HasPrefix(q[2], n.Topic+"_fanout_") || len(q[2]) != len(n.Topic+"_fanout_")+32 {
			t.Fatalf("queues = %v, want [%s %s.s1 %s_fanout_<32 hex>]", q, n.Topic, n.Topic, n.Topic)
		}
		send(t, tr, rpc.Destination{Kind: rpc.ToTopic, Exchange: n.Exchange, Topic: n.Topic}, "to-topic")
		if d := c.next(t); d.Queue != n.Topic || string(d.Body) != "to-topic" {
			t.Fatalf("got %q on %q", d.Body, d.Queue)
		}
		send(t, tr, rpc.Destination{Kind: rpc.ToTopic, Exchange: n.Exchange, Topic: n.Topic + ".s2"}, "other-server")
		send(t, tr, rpc.Destination{Kind: rpc.ToTopic, Exchange: n.Exchange, Topic: n.Topic + ".s1"}, "to-server")
		if d := c.next(t); d.Queue != n.Topic+".s1" || string(d.Body) != "to-server" {
			t.Fatalf("got %q on %q, want to-server on %s.s1", d.Body, d.Queue, n.Topic)
		}
		send(t, tr, rpc.Destination{Kind: rpc.ToFanout, Topic: n.Topic}, "to-all")
		if d := c.next(t); d.Queue != q[2] || string(d.Body) != "to-all" {
			t.Fatalf("got %q on %q, want to-all on the fanout queue", d.Body, d.Queue)
		}
		c.none(t, 200*time.Millisecond)
	})

	t.Run("FanoutCopiesTopicShares", func(t *testing.T) {
		n := uniqueNames(t, h)
		tr := h.New(t, defaults)
		c1, c2 := newCollector(), newCollector()
		listen(t, tr, rpc.ListenSpec{Exchange: n.Exchange, Topic: n.Topic, Server: "s1"}, c1.deliver)
		listen(t, h.New(t, defaults), rpc.ListenSpec{Exchange: n.Exchange, Topic: n.Topic, Server: "s2"}, c2.deliver)
		send(t, tr, rpc.Destination{Kind: rpc.ToFanout, Topic: n.Topic}, "everyone")
		for _, c := range []*collector{c1, c2} {
			if d := c.next(t); string(d.Body) != "everyone" {
				t.Fatalf("fanout delivered %q", d.Body)
			}
		}
		const total = 10
		for i := 0; i < total; i++ {
			send(t, tr, rpc.Destination{Kind: rpc.ToTopic, Exchange: n.Exchange, Topic: n.Topic}, fmt.Sprint(i))
		}
		seen := map[string]int{}
		deadline := time.After(waitFor)
		for len(seen) < total {
			select {
			case d := <-c1.ch:
				seen[string(d.Body)]++
			case d := <-c2.ch:
				seen[string(d.Body)]++
			case <-deadline:
				t.Fatalf("only %d of %d topic messages delivered", len(seen), total)
			}
		}
		c1.none(t, 200*time.Millisecond)
		c2.none(t, 10*time.Millisecond)
		for body, k := range seen {
			if k != 1 {
				t.Errorf("message %s delivered %d times, want once to one consumer", body, k)
			}
		}
	})

	t.Run("ReplyQueueAndUndeliverable", func(t *testing.T) {
		tr := h.New(t, defaults)
		name := "reply_" + strings.ReplaceAll(uuid.NewString(), "-", "")
		if h.Cleanup != nil {
			t.Cleanup(func() { h.Cleanup(t, []string{name}, nil) })
		}
		err := tr.Send(testCtx(t), rpc.Destination{Kind: rpc.ToQueue, Topic: name}, []byte("x"))
		if !errors.Is(err, rpc.ErrUndeliverable) {
			t.Fatalf("send to missing queue: err = %v, want ErrUndeliverable", err)
		}
		c := newCollector()
		sub := listen(t, tr, rpc.ListenSpec{ReplyQueue: name}, c.deliver)
		if q := sub.Queues(); len(q) != 1 || q[0] != name {
			t.Fatalf("queues = %v", q)
		}
		send(t, tr, rpc.Destination{Kind: rpc.ToQueue, Topic: name}, "reply")
		if d := c.next(t); string(d.Body) != "reply" || d.Queue != name {
			t.Fatalf("got %q on %q", d.Body, d.Queue)
		}
		// The reply queue outlives its consumer (oslo never deletes it; x-expires does).
		if err := sub.Close(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		send(t, tr, rpc.Destination{Kind: rpc.ToQueue, Topic: name}, "kept")
	})

	t.Run("MismatchedDeclarationRefused", func(t *testing.T) {
		n := uniqueNames(t, h)
		tr := h.New(t, defaults)
		listen(t, tr, rpc.ListenSpec{Exchange: n.Exchange, Topic: n.Topic, Server: "s1"}, func(rpc.Delivery) {})
		durable := defaults
		durable.AMQPDurableQueues = true
		other := h.New(t, durable)
		_, err := other.Listen(testCtx(t), rpc.ListenSpec{Exchange: n.Exchange, Topic: n.Topic, Server: "s2"}, func(rpc.Delivery) {})
		if !errors.Is(err, rpc.ErrPrecondition) {
			t.Fatalf("listen with durable queues on a transient exchange: err = %v, want ErrPrecondition", err)
		}
		err = other.Send(testCtx(t), rpc.Destination{Kind: rpc.ToTopic, Exchange: n.Exchange, Topic: n.Topic}, []byte("x"))
		if !errors.Is(err, rpc.ErrPrecondition) {
			t.Fatalf("send declaring a durable exchange over a transient one: err = %v, want ErrPrecondition", err)
		}
		// The same flags are accepted again and again.
		send(t, tr, rpc.Destination{Kind: rpc.ToTopic, Exchange: n.Exchange, Topic: n.Topic}, "ok")
	})

	t.Run("TopicQueueKeepsMessagesAndFanoutQueueGoes", func(t *testing.T) {
		n := uniqueNames(t, h)
		tr := h.New(t, defaults)
		c := newCollector()
		sub, err := tr.Listen(testCtx(t), rpc.ListenSpec{Exchange: n.Exchange, Topic: n.Topic, Server: "s1"}, c.deliver)
		if err != nil {
			t.Fatal(err)
		}
		fanoutQ := sub.Queues()[2]
		if err := sub.Close(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		send(t, tr, rpc.Destination{Kind: rpc.ToTopic, Exchange: n.Exchange, Topic: n.Topic}, "waiting")
		send(t, tr, rpc.Destination{Kind: rpc.ToTopic, Exchange: n.Exchange, Topic: n.Topic, TTL: 50 * time.Millisecond}, "expired")
		err = tr.Send(testCtx(t), rpc.Destination{Kind: rpc.ToQueue, Topic: fanoutQ}, []byte("x"))
		if !errors.Is(err, rpc.ErrUndeliverable) {
			t.Fatalf("fanout queue still exists after Close: err = %v", err)
		}
		time.Sleep(300 * time.Millisecond)
		c2 := newCollector()
		listen(t, tr, rpc.ListenSpec{Exchange: n.Exchange, Topic: n.Topic, Server: "s1"}, c2.deliver)
		if d := c2.next(t); string(d.Body) != "waiting" {
			t.Fatalf("got %q, want the message queued while nobody consumed", d.Body)
		}
		c2.none(t, 300*time.Millisecond)
		c.none(t, 10*time.Millisecond)
	})

	runRPCConformance(t, h)
}
