package rpc_test

// The server/client half of the conformance suite (see conformance_test.go): the same RPC
// behaviours over every Transport.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/novalet/novalet/rpc"
)

type fixture struct {
	n      names
	tr     rpc.Transport
	server *rpc.Server
	client *rpc.Client
}

func startServer(t *testing.T, h transportHarness, n names, host string, cfg rpc.ServerConfig) *rpc.Server {
	t.Helper()
	cfg.Exchange, cfg.Topic, cfg.Server = n.Exchange, n.Topic, host
	s, err := rpc.NewServer(h.New(t, rpc.DefaultRabbitOptions()), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Stop(ctx)
	})
	return s
}

func newFixture(t *testing.T, h transportHarness, cfg rpc.ServerConfig) *fixture {
	n := uniqueNames(t, h)
	f := &fixture{n: n, tr: h.New(t, rpc.DefaultRabbitOptions())}
	f.server = startServer(t, h, n, "s1", cfg)
	f.client = newClient(t, h, f.tr, n)
	return f
}

// newClient returns a client whose reply queue is removed when the test ends.
func newClient(t *testing.T, h transportHarness, tr rpc.Transport, n names) *rpc.Client {
	c := rpc.NewClient(tr, rpc.ClientConfig{Exchange: n.Exchange, Timeout: 30 * time.Second})
	if h.Cleanup != nil {
		t.Cleanup(func() {
			if q := c.ReplyQueue(); q != "" {
				h.Cleanup(t, []string{q}, nil)
			}
		})
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

func (f *fixture) target(version string) rpc.Target {
	return rpc.Target{Topic: f.n.Topic, Server: "s1", Version: version}
}

var testContext = rpc.Context{"request_id": "req-5e3f2b1c-0000-4000-8000-000000000001", "user_id": "u1",
	"project_id": "p1", "auth_token": "secret-token", "is_admin": false, "roles": []any{"member"}}

func echoEndpoint(extra map[string]rpc.HandlerFunc) rpc.Endpoint {
	m := map[string]rpc.HandlerFunc{
		"echo": func(ctx context.Context, req *rpc.Request) (any, error) {
			rc, _ := rpc.RequestContextFrom(ctx)
			return map[string]any{"args": req.Args, "request_id": rc.RequestID(), "token": rc.AuthToken()}, nil
		},
	}
	for k, v := range extra {
		m[k] = v
	}
	return rpc.Endpoint{Version: "6.1", Methods: m}
}

func runRPCConformance(t *testing.T, h transportHarness) {
	t.Run("CallCastFanout", func(t *testing.T) {
		casts := make(chan string, 10)
		record := func(_ context.Context, req *rpc.Request) (any, error) {
			var who string
			_ = req.Arg("who", &who)
			casts <- req.Method + ":" + who
			return nil, nil
		}
		f := newFixture(t, h, rpc.ServerConfig{Endpoints: []rpc.Endpoint{echoEndpoint(map[string]rpc.HandlerFunc{"note": record})}})
		startServer(t, h, f.n, "s2", rpc.ServerConfig{Endpoints: []rpc.Endpoint{echoEndpoint(map[string]rpc.HandlerFunc{"note": record})}})

		res, err := f.client.Call(testCtx(t), f.target("6.0"), testContext, "echo", map[string]any{"x": 1, "obj": json.RawMessage(`{"nova_object.name":"Instance"}`)}, rpc.CallOptions{})
		if err != nil {
			t.Fatalf("call: %v", err)
		}
		var got struct {
			Args      map[string]json.RawMessage
			RequestID string `json:"request_id"`
			Token     string
		}
		if err := json.Unmarshal(res, &got); err != nil {
			t.Fatal(err)
		}
		if string(got.Args["x"]) != "1" || string(got.Args["obj"]) != `{"nova_object.name":"Instance"}` || got.RequestID != testContext.RequestID() || got.Token != "secret-token" {
			t.Fatalf("echo returned %s", res)
		}

		if err := f.client.Cast(testCtx(t), f.target("6.0"), testContext, "note", map[string]any{"who": "cast"}); err != nil {
			t.Fatal(err)
		}
		fan := rpc.Target{Topic: f.n.Topic, Version: "6.0", Fanout: true}
		if err := f.client.Cast(testCtx(t), fan, testContext, "note", map[string]any{"who": "fanout"}); err != nil {
			t.Fatal(err)
		}
		var all []string
		for len(all) < 3 {
			select {
			case c := <-casts:
				all = append(all, c)
			case <-time.After(waitFor):
				t.Fatalf("casts received: %v, want cast once and fanout twice", all)
			}
		}
		sort.Strings(all)
		if strings.Join(all, ",") != "note:cast,note:fanout,note:fanout" {
			t.Fatalf("casts = %v", all)
		}
		if _, err := f.client.Call(testCtx(t), rpc.Target{Topic: f.n.Topic, Fanout: true}, testContext, "echo", nil, rpc.CallOptions{}); err == nil {
			t.Fatal("a fanout call was accepted")
		}
	})

	t.Run("DispatchErrors", func(t *testing.T) {
		f := newFixture(t, h, rpc.ServerConfig{Endpoints: []rpc.Endpoint{
			echoEndpoint(map[string]rpc.HandlerFunc{
				"lookup": func(context.Context, *rpc.Request) (any, error) {
					return nil, fmt.Errorf("looking up: %w", rpc.NovaError("InstanceNotFound", "Instance abc could not be found.", map[string]any{"instance_id": "abc", "code": 404}))
				},
				"plain": func(context.Context, *rpc.Request) (any, error) { return nil, errors.New("disk full") },
				"boom":  func(context.Context, *rpc.Request) (any, error) { panic("kaboom") },
			}),
			{Namespace: "baseapi", Version: "1.1", Methods: map[string]rpc.HandlerFunc{
				"ping": func(_ context.Context, req *rpc.Request) (any, error) {
					var arg any
					_ = req.Arg("arg", &arg)
					return map[string]any{"service": "compute", "arg": arg}, nil
				},
			}},
		}})
		ctx := testCtx(t)
		_, err := f.client.Call(ctx, f.target("6.0"), testContext, "no_such", nil, rpc.CallOptions{})
		var re *rpc.RemoteError
		if !errors.Is(err, rpc.ErrNoSuchMethod) || !errors.As(err, &re) || re.Module != "oslo_messaging.rpc.dispatcher" {
			t.Fatalf("unknown method: err = %v", err)
		}
		_, err = f.client.Call(ctx, f.target("7.0"), testContext, "echo", nil, rpc.CallOptions{})
		if !errors.Is(err, rpc.ErrUnsupportedVersion) {
			t.Fatalf("version 7.0: err = %v", err)
		}
		_, err = f.client.Call(ctx, f.target("6.2"), testContext, "echo", nil, rpc.CallOptions{})
		if !errors.Is(err, rpc.ErrUnsupportedVersion) {
			t.Fatalf("version 6.2 against 6.1: err = %v", err)
		}
		_, err = f.client.Call(ctx, f.target("6.0"), testContext, "_private", nil, rpc.CallOptions{})
		if !errors.Is(err, rpc.ErrNoSuchMethod) {
			t.Fatalf("private method: err = %v", err)
		}
		_, err = f.client.Call(ctx, f.target("6.0"), testContext, "lookup", nil, rpc.CallOptions{})
		if !errors.As(err, &re) || re.Class != "InstanceNotFound" || re.Module != "nova.exception" || re.Kwargs["instance_id"] != "abc" || fmt.Sprint(re.Kwargs["code"]) != "404" {
			t.Fatalf("nova error: err = %v (%+v)", err, re)
		}
		_, err = f.client.Call(ctx, f.target("6.0"), testContext, "plain", nil, rpc.CallOptions{})
		if !errors.As(err, &re) || re.Class != "NovaException" || !strings.Contains(re.Message, "disk full") {
			t.Fatalf("plain error: err = %v", err)
		}
		_, err = f.client.Call(ctx, f.target("6.0"), testContext, "boom", nil, rpc.CallOptions{})
		if !errors.As(err, &re) || !strings.Contains(re.Message, "kaboom") {
			t.Fatalf("panic: err = %v", err)
		}
		res, err := f.client.Call(ctx, rpc.Target{Topic: f.n.Topic, Server: "s1", Namespace: "baseapi", Version: "1.0"}, testContext, "ping", map[string]any{"arg": "hi"}, rpc.CallOptions{})
		if err != nil || string(res) != `{"arg":"hi","service":"compute"}` {
			t.Fatalf("baseapi ping = %s, %v", res, err)
		}
	})

	t.Run("KeepAlivesAndTimeouts", func(t *testing.T) {
		f := newFixture(t, h, rpc.ServerConfig{Endpoints: []rpc.Endpoint{echoEndpoint(map[string]rpc.HandlerFunc{
			"slow": func(ctx context.Context, req *rpc.Request) (any, error) {
				var secs float64
				_ = req.Arg("seconds", &secs)
				select {
				case <-time.After(time.Duration(secs * float64(time.Second))):
					return "done", nil
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			},
		})}})
		// Longer than the call monitor (2 s): survives on the server's keep-alives.
		res, err := f.client.Call(testCtx(t), f.target("6.0"), testContext, "slow", map[string]any{"seconds": 5},
			rpc.CallOptions{Timeout: 40 * time.Second, CallMonitorTimeout: 2 * time.Second})
		if err != nil || string(res) != `"done"` {
			t.Fatalf("slow call with keep-alives = %s, %v", res, err)
		}
		// On the wire: {"result": null, "failure": null, "ending": false} every _timeout/2,
		// then one final reply with ending true.
		replyQ := "reply_" + strings.ReplaceAll(uuid.NewString(), "-", "")
		if h.Cleanup != nil {
			t.Cleanup(func() { h.Cleanup(t, []string{replyQ}, nil) })
		}
		replies := newCollector()
		listen(t, f.tr, rpc.ListenSpec{ReplyQueue: replyQ}, replies.deliver)
		body, err := rpc.EncodeRequest(&rpc.Request{Method: "slow", Version: "6.0", UniqueID: strings.Repeat("a", 32),
			MsgID: "hb1", ReplyQ: replyQ, ClientTimeout: 2 * time.Second, Context: testContext,
			Args: map[string]json.RawMessage{"seconds": json.RawMessage("3.5")}})
		if err != nil {
			t.Fatal(err)
		}
		send(t, f.tr, rpc.Destination{Kind: rpc.ToTopic, Exchange: f.n.Exchange, Topic: f.n.Topic}, string(body))
		keepAlives := 0
		for {
			r, err := rpc.DecodeReply(replies.next(t).Body)
			if err != nil || r.MsgID != "hb1" || r.Failure != nil || r.UniqueID == "" {
				t.Fatalf("reply = %+v, %v", r, err)
			}
			if !r.Ending {
				if string(r.Result) != "null" {
					t.Fatalf("keep-alive carries a result: %s", r.Result)
				}
				keepAlives++
				continue
			}
			if string(r.Result) != `"done"` {
				t.Fatalf("final reply result = %s", r.Result)
			}
			break
		}
		if keepAlives < 2 {
			t.Fatalf("%d keep-alives in 3.5 s with _timeout 2, want at least 2", keepAlives)
		}
		// Longer than the total timeout: MessagingTimeout.
		_, err = f.client.Call(testCtx(t), f.target("6.0"), testContext, "slow", map[string]any{"seconds": 4}, rpc.CallOptions{Timeout: time.Second})
		if !errors.Is(err, rpc.ErrTimeout) || !strings.Contains(err.Error(), "MessagingTimeout") {
			t.Fatalf("call beyond its timeout: err = %v", err)
		}
	})

	t.Run("DuplicatesAndMalformed", func(t *testing.T) {
		var calls atomic.Int32
		f := newFixture(t, h, rpc.ServerConfig{Endpoints: []rpc.Endpoint{echoEndpoint(map[string]rpc.HandlerFunc{
			"count": func(context.Context, *rpc.Request) (any, error) { calls.Add(1); return nil, nil },
		})}})
		replyQ := "reply_" + strings.ReplaceAll(uuid.NewString(), "-", "")
		if h.Cleanup != nil {
			t.Cleanup(func() { h.Cleanup(t, []string{replyQ}, nil) })
		}
		replies := newCollector()
		listen(t, f.tr, rpc.ListenSpec{ReplyQueue: replyQ}, replies.deliver)
		dst := rpc.Destination{Kind: rpc.ToTopic, Exchange: f.n.Exchange, Topic: f.n.Topic + ".s1"}
		body, err := rpc.EncodeRequest(&rpc.Request{Method: "count", Version: "6.0", UniqueID: "dup0000000000000000000000000001",
			MsgID: "m1", ReplyQ: replyQ, Context: testContext})
		if err != nil {
			t.Fatal(err)
		}
		send(t, f.tr, dst, string(body))
		send(t, f.tr, dst, string(body))
		if r, err := rpc.DecodeReply(replies.next(t).Body); err != nil || r.MsgID != "m1" || !r.Ending || r.Failure != nil {
			t.Fatalf("reply = %+v, %v", r, err)
		}
		inner, _ := json.Marshal(map[string]any{"_msg_id": "m2", "_reply_q": replyQ, "args": 5, "_unique_id": "u2"})
		bad, _ := json.Marshal(map[string]string{"oslo.version": "2.0", "oslo.message": string(inner)})
		send(t, f.tr, dst, string(bad))
		send(t, f.tr, dst, "not json at all")
		r, err := rpc.DecodeReply(replies.next(t).Body)
		if err != nil || r.MsgID != "m2" || r.Failure == nil || !strings.Contains(*r.Failure, `"class":"ValueError"`) {
			t.Fatalf("malformed call reply = %+v, %v", r, err)
		}
		// The server is still serving, and ran the duplicate once.
		if _, err := f.client.Call(testCtx(t), f.target("6.0"), testContext, "count", nil, rpc.CallOptions{}); err != nil {
			t.Fatal(err)
		}
		if n := calls.Load(); n != 2 {
			t.Fatalf("handler ran %d times, want 2 (duplicate suppressed)", n)
		}
		replies.none(t, 200*time.Millisecond)
	})

	t.Run("ConcurrencyAndGracefulStop", func(t *testing.T) {
		release := make(chan struct{})
		var running, peak atomic.Int32
		n := uniqueNames(t, h)
		cfg := rpc.ServerConfig{MaxConcurrency: 2, Endpoints: []rpc.Endpoint{echoEndpoint(map[string]rpc.HandlerFunc{
			"hold": func(ctx context.Context, _ *rpc.Request) (any, error) {
				now := running.Add(1)
				defer running.Add(-1)
				for {
					p := peak.Load()
					if now <= p || peak.CompareAndSwap(p, now) {
						break
					}
				}
				select {
				case <-release:
					return "released", nil
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			},
		})}}
		cfg.Exchange, cfg.Topic, cfg.Server = n.Exchange, n.Topic, "s1"
		s, err := rpc.NewServer(h.New(t, rpc.DefaultRabbitOptions()), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Start(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		client := newClient(t, h, h.New(t, rpc.DefaultRabbitOptions()), n)
		tgt := rpc.Target{Topic: n.Topic, Server: "s1", Version: "6.0"}
		results := make(chan error, 3)
		for i := 0; i < 3; i++ {
			go func() {
				_, err := client.Call(testCtx(t), tgt, testContext, "hold", nil, rpc.CallOptions{})
				results <- err
			}()
		}
		deadline := time.Now().Add(waitFor)
		for running.Load() < 2 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(300 * time.Millisecond)
		if p := peak.Load(); p != 2 {
			t.Fatalf("peak concurrency %d, want 2", p)
		}
		// Graceful part: one call finishes during Stop; the others are failed at the deadline.
		stopCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		stopped := make(chan error, 1)
		go func() { stopped <- s.Stop(stopCtx) }()
		var ok, failed int
		for i := 0; i < 3; i++ {
			select {
			case err := <-results:
				var re *rpc.RemoteError
				switch {
				case err == nil:
					ok++
				case errors.As(err, &re) && strings.Contains(re.Message, "stopping"):
					failed++
				default:
					t.Fatalf("call during stop: %v", err)
				}
			case <-time.After(waitFor):
				t.Fatal("calls in flight were neither finished nor failed by Stop")
			}
		}
		if err := <-stopped; err == nil {
			t.Fatal("Stop returned nil although it abandoned requests")
		}
		if failed != 3 || ok != 0 {
			t.Fatalf("ok=%d failed=%d, want all 3 failed cleanly (handlers never released)", ok, failed)
		}
		close(release)
	})
}
