//go:build component

package rpc_test

// Wire tests: our bytes against Debian's Python oslo.messaging on a real RabbitMQ (passed with
// 14.0.0-2 and 14.0.3, the two Zed point releases Debian's archive has served).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/novalet/novalet/rpc"
)

func intp(i int) *int { return &i }

// goComputeServer starts a Go server shaped like nova-compute's endpoints.
func goComputeServer(t *testing.T, n names, host string, notes chan<- string, name, version string) *rpc.Server {
	t.Helper()
	compute := rpc.Endpoint{Version: version, Methods: map[string]rpc.HandlerFunc{
		"echo": func(ctx context.Context, req *rpc.Request) (any, error) {
			rc, _ := rpc.RequestContextFrom(ctx)
			return map[string]any{"args": req.Args, "request_id": rc.RequestID(), "user_id": rc.UserID()}, nil
		},
		"whoami": func(context.Context, *rpc.Request) (any, error) { return name, nil },
		"note": func(_ context.Context, req *rpc.Request) (any, error) {
			var who string
			_ = req.Arg("who", &who)
			notes <- who
			return nil, nil
		},
		"lookup": func(_ context.Context, req *rpc.Request) (any, error) {
			var id string
			_ = req.Arg("instance_id", &id)
			return nil, rpc.NovaError("InstanceNotFound", "Instance "+id+" could not be found.", map[string]any{"instance_id": id, "code": 404})
		},
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
	}}
	baseapi := rpc.Endpoint{Namespace: "baseapi", Version: "1.1", Methods: map[string]rpc.HandlerFunc{
		"ping": func(_ context.Context, req *rpc.Request) (any, error) {
			var arg any
			_ = req.Arg("arg", &arg)
			return map[string]any{"service": "compute", "arg": arg}, nil
		},
	}}
	s, err := rpc.NewServer(dialAMQP(t, rpc.DefaultRabbitOptions()), rpc.ServerConfig{
		Exchange: n.Exchange, Topic: n.Topic, Server: host, Endpoints: []rpc.Endpoint{compute, baseapi}, Logger: testLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(testCtx(t)); err != nil {
		t.Fatalf("Go server start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = s.Stop(ctx)
	})
	return s
}

func TestPythonClientToGoServer(t *testing.T) {
	n := uniqueNames(t, amqpHarness())
	notes := make(chan string, 10)
	goComputeServer(t, n, "cmp1", notes, "go", "6.1")
	ctxt := map[string]any{"request_id": "req-11111111-2222-4333-8444-555555555555", "user_id": "u1", "auth_token": "tok", "roles": []string{"admin"}}
	both := []string{"nova.exception", "oslo_messaging.rpc.dispatcher"}
	ops := []pyOp{
		0: {Op: "call", Topic: n.Topic, Server: "cmp1", Version: "6.0", Method: "echo", Context: ctxt,
			Args: map[string]any{"a": 1, "instance": map[string]any{"nova_object.name": "Instance", "nova_object.version": "2.7"}}},
		1:  {Op: "cast", Topic: n.Topic, Server: "cmp1", Version: "6.0", Method: "note", Args: map[string]any{"who": "cast"}},
		2:  {Op: "cast", Topic: n.Topic, Fanout: true, Version: "6.0", Method: "note", Args: map[string]any{"who": "fanout"}},
		3:  {Op: "call", Topic: n.Topic, Server: "cmp1", Version: "6.0", Method: "no_such_method", Exmods: both},
		4:  {Op: "call", Topic: n.Topic, Server: "cmp1", Version: "6.0", Method: "no_such_method"},
		5:  {Op: "call", Topic: n.Topic, Server: "cmp1", Version: "7.0", Method: "echo", Exmods: both},
		6:  {Op: "call", Topic: n.Topic, Server: "cmp1", Version: "6.0", Method: "lookup", Args: map[string]any{"instance_id": "0b6c6e43"}},
		7:  {Op: "call", Topic: n.Topic, Server: "cmp1", Version: "6.0", Method: "slow", Args: map[string]any{"seconds": 8}, Timeout: 60, CMTimeout: intp(3)},
		8:  {Op: "call", Topic: n.Topic, Server: "cmp1", Version: "6.0", Method: "slow", Args: map[string]any{"seconds": 5}, Timeout: 2},
		9:  {Op: "call", Topic: n.Topic, Server: "cmp1", Namespace: "baseapi", Version: "1.1", Method: "ping", Args: map[string]any{"arg": "hello"}},
		10: {Op: "call", Topic: n.Topic, Version: "5.0", Method: "echo", Exmods: both},
	}
	res := runPythonClient(t, n.Exchange, ops)

	var echo struct {
		Args      map[string]json.RawMessage `json:"args"`
		RequestID string                     `json:"request_id"`
		UserID    string                     `json:"user_id"`
	}
	if res[0].Error != nil || json.Unmarshal(res[0].Result, &echo) != nil || string(echo.Args["a"]) != "1" ||
		!jsonEqual(echo.Args["instance"], `{"nova_object.name":"Instance","nova_object.version":"2.7"}`) || echo.RequestID != ctxt["request_id"] || echo.UserID != "u1" {
		t.Errorf("call echo: %s %+v", res[0].Result, res[0].Error)
	}
	got := []string{<-notesWithin(t, notes), <-notesWithin(t, notes)}
	sort.Strings(got)
	if strings.Join(got, ",") != "cast,fanout" {
		t.Errorf("casts received by Go: %v", got)
	}
	if e := res[3].Error; e == nil || !e.is("NoSuchMethod") || e.Module != "oslo_messaging.rpc.dispatcher_Remote" || !strings.Contains(e.Str, "Endpoint does not support RPC method no_such_method") {
		t.Errorf("unknown method (dispatcher allowed): %+v", e)
	}
	if e := res[4].Error; e == nil || e.Class != "RemoteError" || e.ExcType != "NoSuchMethod" {
		t.Errorf("unknown method (nova's allowed modules): %+v", e)
	}
	if e := res[5].Error; e == nil || !e.is("UnsupportedVersion") || !strings.Contains(e.Str, "7.0") {
		t.Errorf("unsupported version: %+v", e)
	}
	if e := res[6].Error; e == nil || !e.is("InstanceNotFound") || !e.is("NotFound") || !e.is("NovaException") ||
		e.Kwargs["instance_id"] != "0b6c6e43" || fmt.Sprint(e.Kwargs["code"]) != "404" || !strings.Contains(e.Str, "Instance 0b6c6e43 could not be found.") {
		t.Errorf("nova exception: %+v", e)
	}
	if res[7].Error != nil || string(res[7].Result) != `"done"` {
		t.Errorf("8 s call with call_monitor_timeout 3 (kept alive): %s %+v", res[7].Result, res[7].Error)
	}
	if e := res[8].Error; e == nil || e.Class != "MessagingTimeout" {
		t.Errorf("5 s call with timeout 2: %+v", e)
	}
	if res[9].Error != nil || !jsonEqual(res[9].Result, `{"service":"compute","arg":"hello"}`) {
		t.Errorf("baseapi ping: %s %+v", res[9].Result, res[9].Error)
	}
	if e := res[10].Error; e == nil || !e.is("UnsupportedVersion") {
		t.Errorf("5.0 against 6.1: %+v", e)
	}
}

func jsonEqual(a json.RawMessage, b string) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal([]byte(b), &y) == nil && fmt.Sprint(x) == fmt.Sprint(y)
}

func notesWithin(t *testing.T, notes chan string) <-chan string {
	t.Helper()
	out := make(chan string, 1)
	select {
	case n := <-notes:
		out <- n
	case <-time.After(waitFor):
		t.Fatalf("cast not received within %s", waitFor)
	}
	return out
}

func TestGoClientToPythonServer(t *testing.T) {
	n := uniqueNames(t, amqpHarness())
	py := startPythonServer(t, n.Exchange, n.Topic, "conductor-host", "python")
	client := newClient(t, amqpHarness(), dialAMQP(t, rpc.DefaultRabbitOptions()), n)
	cc := rpc.NewConductorClient(client, rpc.CallOptions{Timeout: 30 * time.Second})
	cc.Topic = n.Topic
	ctx := testCtx(t)
	rc := rpc.NewAdminContext(time.Now())
	rc["auth_token"] = "tok-123"

	service := json.RawMessage(`{"nova_object.name": "Service", "nova_object.namespace": "nova", "nova_object.version": "1.22",
		"nova_object.data": {"id": 7, "host": "cmp1", "report_count": 41}, "nova_object.changes": ["report_count"]}`)
	updates, result, err := cc.ObjectAction(ctx, rc, service, "save", nil, nil)
	if err != nil || string(updates["report_count"]) != "42" || !jsonEqual(result, `{"method":"save","args":[],"kwargs":{}}`) {
		t.Fatalf("object_action = %v %s %v", updates, result, err)
	}
	res, err := cc.ObjectClassActionVersions(ctx, rc, "ComputeNode", "get_by_host_and_nodename", map[string]string{"ComputeNode": "1.19"}, []any{"cmp1", "cmp1"}, map[string]any{"x": 1})
	var echo struct {
		Objname        string            `json:"objname"`
		ObjectVersions map[string]string `json:"object_versions"`
		Args           []string          `json:"args"`
		RequestID      string            `json:"request_id"`
		AuthToken      string            `json:"auth_token"`
	}
	if err != nil || json.Unmarshal(res, &echo) != nil || echo.Objname != "ComputeNode" || echo.ObjectVersions["ComputeNode"] != "1.19" ||
		len(echo.Args) != 2 || echo.RequestID != rc.RequestID() || echo.AuthToken != "tok-123" {
		t.Fatalf("object_class_action_versions = %s, %v", res, err)
	}
	_, err = cc.ObjectClassActionVersions(ctx, rc, "Instance", "get_by_uuid", map[string]string{"Instance": "2.7"}, []any{"6f0b8a1e"}, nil)
	var re *rpc.RemoteError
	if !errors.As(err, &re) || re.Class != "InstanceNotFound" || re.Module != "nova.exception" || re.Kwargs["instance_id"] != "6f0b8a1e" ||
		fmt.Sprint(re.Kwargs["code"]) != "404" || re.Message != "Instance 6f0b8a1e could not be found." || len(re.Traceback) == 0 {
		t.Fatalf("remote InstanceNotFound: %v (%+v)", err, re)
	}
	back, err := cc.ObjectBackportVersions(ctx, rc, service, map[string]string{"Service": "1.20"})
	var backported map[string]any
	if err != nil || json.Unmarshal(back, &backported) != nil || backported["nova_object.version"] != "1.20" || backported["nova_object.name"] != "Service" {
		t.Fatalf("object_backport_versions = %s, %v", back, err)
	}
	target := rpc.Target{Topic: n.Topic, Server: "conductor-host", Version: "3.0"}
	if err := client.Cast(ctx, target, rc, "note", map[string]any{"who": "go-cast"}); err != nil {
		t.Fatal(err)
	}
	if e := py.nextEvent(t); e["note"] != "go-cast" || e["request_id"] != rc.RequestID() {
		t.Fatalf("Python got %v", e)
	}
	if err := client.Cast(ctx, rpc.Target{Topic: n.Topic, Fanout: true, Version: "3.0"}, rc, "note", map[string]any{"who": "go-fanout"}); err != nil {
		t.Fatal(err)
	}
	if e := py.nextEvent(t); e["note"] != "go-fanout" {
		t.Fatalf("Python got %v", e)
	}
	_, err = client.Call(ctx, target, rc, "no_such_method", nil, rpc.CallOptions{})
	if !errors.Is(err, rpc.ErrNoSuchMethod) {
		t.Fatalf("unknown method on Python: %v", err)
	}
	_, err = client.Call(ctx, rpc.Target{Topic: n.Topic, Version: "4.0"}, rc, "whoami", nil, rpc.CallOptions{})
	if !errors.Is(err, rpc.ErrUnsupportedVersion) {
		t.Fatalf("version 4.0 on a 3.0 Python endpoint: %v", err)
	}
}

// A Python server declared the nova way and Go servers consume the same queues and exchanges
// on one broker, in both declaration orders, without a 406.
func TestPythonAndGoShareQueues(t *testing.T) {
	n := uniqueNames(t, amqpHarness())
	pyA := startPythonServer(t, n.Exchange, n.Topic, "cmp1", "python-a")
	notes := make(chan string, 10)
	// Same endpoint version as the Python stand-in, so either may serve any call.
	goComputeServer(t, n, "cmp1", notes, "go", "3.0")
	pyB := startPythonServer(t, n.Exchange, n.Topic, "cmp1", "python-b")

	client := newClient(t, amqpHarness(), dialAMQP(t, rpc.DefaultRabbitOptions()), n)
	ctx := testCtx(t)
	rc := rpc.NewAdminContext(time.Now())
	seen := map[string]int{}
	for i := 0; i < 30; i++ {
		tgt := rpc.Target{Topic: n.Topic, Version: "3.0"}
		if i%2 == 1 {
			tgt.Server = "cmp1"
		}
		res, err := client.Call(ctx, tgt, rc, "whoami", nil, rpc.CallOptions{})
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		var who string
		_ = json.Unmarshal(res, &who)
		seen[who]++
	}
	if seen["go"] == 0 || seen["python-a"] == 0 || seen["python-b"] == 0 || len(seen) != 3 {
		t.Fatalf("servers that answered from the shared queues: %v", seen)
	}
	if err := client.Cast(ctx, rpc.Target{Topic: n.Topic, Fanout: true, Version: "3.0"}, rc, "note", map[string]any{"who": "all"}); err != nil {
		t.Fatal(err)
	}
	if who := <-notesWithin(t, notes); who != "all" {
		t.Fatalf("Go got fanout %q", who)
	}
	for _, p := range []*pythonServer{pyA, pyB} {
		if e := p.nextEvent(t); e["note"] != "all" {
			t.Fatalf("Python got %v", e)
		}
	}
}

// The AMQP properties of our messages are the ones kombu gives Python's, for casts and calls.
func TestMessagePropertiesMatchPython(t *testing.T) {
	n := uniqueNames(t, amqpHarness())
	conn, ch := adminChannel(t)
	defer conn.Close()
	if err := ch.ExchangeDeclare(n.Exchange, "topic", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare(n.Topic, false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind(n.Topic, n.Topic, n.Exchange, false, nil); err != nil {
		t.Fatal(err)
	}
	// A plain consumer takes the messages as they arrive (before their expiration); nobody
	// replies, so both calls time out after publishing (timeout 2 s -> expiration "2000").
	deliveries, err := ch.Consume(n.Topic, "", true, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	res := runPythonClient(t, n.Exchange, []pyOp{
		{Op: "cast", Topic: n.Topic, Version: "6.0", Method: "m", Args: map[string]any{"a": 1}},
		{Op: "call", Topic: n.Topic, Version: "6.0", Method: "m", Timeout: 2},
	})
	if res[1].Error == nil || res[1].Error.Class != "MessagingTimeout" {
		t.Fatalf("python call: %+v", res[1])
	}
	client := newClient(t, amqpHarness(), dialAMQP(t, rpc.DefaultRabbitOptions()), n)
	if err := client.Cast(testCtx(t), rpc.Target{Topic: n.Topic, Version: "6.0"}, testContext, "m", map[string]any{"a": 1}); err != nil {
		t.Fatal(err)
	}
	_, err = client.Call(testCtx(t), rpc.Target{Topic: n.Topic, Version: "6.0"}, testContext, "m", nil, rpc.CallOptions{Timeout: 2 * time.Second})
	if !errors.Is(err, rpc.ErrTimeout) {
		t.Fatalf("go call: %v", err)
	}
	type props struct {
		ContentType, ContentEncoding, Expiration, ReplyTo, CorrelationID string
		DeliveryMode, Priority                                           uint8
	}
	var got []props
	for i := 0; i < 4; i++ {
		var d amqp.Delivery
		select {
		case d = <-deliveries:
		case <-time.After(waitFor):
			t.Fatalf("message %d not received", i)
		}
		got = append(got, props{d.ContentType, d.ContentEncoding, d.Expiration, d.ReplyTo, d.CorrelationId, d.DeliveryMode, d.Priority})
	}
	pyCast, pyCall, goCast, goCall := got[0], got[1], got[2], got[3]
	if goCast != pyCast || goCall != pyCall {
		t.Fatalf("properties differ:\n python cast %+v\n go     cast %+v\n python call %+v\n go     call %+v", pyCast, goCast, pyCall, goCall)
	}
	if pyCall.Expiration != "2000" || pyCast.DeliveryMode != 2 || pyCast.ContentType != "application/json" {
		t.Fatalf("unexpected kombu properties: %+v %+v", pyCast, pyCall)
	}
}
