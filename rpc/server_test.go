package rpc

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestReplyToMissingQueueIsRetriedThenDropped(t *testing.T) {
	tr := NewMemoryTransport()
	r := &replier{t: tr, timeout: 600 * time.Millisecond, gone: newObsoleteQueues()}
	req := &Request{MsgID: "m", ReplyQ: "reply_gone"}
	start := time.Now()
	err := r.send(req, &Reply{Ending: true})
	if !errors.Is(err, ErrUndeliverable) || time.Since(start) < 500*time.Millisecond {
		t.Fatalf("first reply: err = %v after %s, want ErrUndeliverable after retrying ~600ms", err, time.Since(start))
	}
	start = time.Now()
	if err := r.send(req, &Reply{Ending: true}); !errors.Is(err, ErrUndeliverable) || time.Since(start) > 100*time.Millisecond {
		t.Fatalf("second reply: err = %v after %s, want an immediate drop", err, time.Since(start))
	}
	// A queue that appears while the reply is retried gets it.
	got := make(chan Delivery, 1)
	req2 := &Request{MsgID: "m2", ReplyQ: "reply_late"}
	go func() {
		time.Sleep(300 * time.Millisecond)
		if _, err := tr.Listen(context.Background(), ListenSpec{ReplyQueue: "reply_late"}, func(d Delivery) { got <- d }); err != nil {
			t.Error(err)
		}
	}()
	r.timeout = 5 * time.Second
	if err := r.send(req2, &Reply{Ending: true}); err != nil {
		t.Fatalf("reply to a late queue: %v", err)
	}
	if rep, err := DecodeReply((<-got).Body); err != nil || rep.MsgID != "m2" {
		t.Fatalf("late reply = %+v, %v", rep, err)
	}
}

func TestIDCacheKeepsLast16(t *testing.T) {
	var c idCache
	for i := 0; i < 17; i++ {
		if c.seen(string(rune('a' + i))) {
			t.Fatalf("fresh id %d reported as seen", i)
		}
	}
	if c.seen("a") {
		t.Fatal("the 17th id did not evict the oldest")
	}
	if !c.seen("q") || c.seen("") {
		t.Fatal("recent id not remembered, or empty id treated as seen")
	}
}

func TestGracefulStopFinishesInFlight(t *testing.T) {
	tr := NewMemoryTransport()
	release := make(chan struct{})
	s, err := NewServer(tr, ServerConfig{Topic: "compute", Server: "h", Endpoints: []Endpoint{{Version: "6.1", Methods: map[string]HandlerFunc{
		"work": func(context.Context, *Request) (any, error) { <-release; return "finished", nil },
	}}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	c := NewClient(tr, ClientConfig{})
	defer c.Close(ctx)
	res := make(chan string, 1)
	go func() {
		r, err := c.Call(ctx, Target{Topic: "compute", Server: "h", Version: "6.0"}, Context{}, "work", nil, CallOptions{})
		if err != nil {
			r = []byte(err.Error())
		}
		res <- string(r)
	}()
	for s.inflightCount() == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- s.Stop(ctx) }()
	time.Sleep(100 * time.Millisecond)
	close(release)
	if err := <-stopped; err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if r := <-res; r != `"finished"` {
		t.Fatalf("call in flight during a graceful stop = %s", r)
	}
	// Stopped servers consume nothing more.
	_, err = c.Call(ctx, Target{Topic: "compute", Server: "h", Version: "6.0"}, Context{}, "work", nil, CallOptions{Timeout: 300 * time.Millisecond})
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("call after stop: %v, want ErrTimeout", err)
	}
}

func TestCallMonitorTimeoutWithoutKeepAlives(t *testing.T) {
	tr := NewMemoryTransport()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// A server that never answers (an old one, or one that died after the ack).
	if _, err := tr.Listen(ctx, ListenSpec{Exchange: "nova", Topic: "conductor", Server: "c"}, func(Delivery) {}); err != nil {
		t.Fatal(err)
	}
	c := NewClient(tr, ClientConfig{})
	defer c.Close(ctx)
	start := time.Now()
	_, err := c.Call(ctx, Target{Topic: "conductor", Version: "3.0"}, Context{}, "x", nil, CallOptions{Timeout: 20 * time.Second, CallMonitorTimeout: 500 * time.Millisecond})
	if !errors.Is(err, ErrTimeout) || time.Since(start) > 10*time.Second {
		t.Fatalf("err = %v after %s, want ErrTimeout from the call monitor", err, time.Since(start))
	}
}
