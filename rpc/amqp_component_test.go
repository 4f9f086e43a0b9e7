//go:build component

package rpc_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/novalet/novalet/internal/testenv"
	"github.com/novalet/novalet/rpc"
)

// testLogger keeps component test output readable; set NOVALET_TEST_VERBOSE=1 to see the
// transport's logs.
func testLogger() *slog.Logger {
	if os.Getenv("NOVALET_TEST_VERBOSE") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func brokerURL(t testing.TB) rpc.TransportURL {
	t.Helper()
	u, err := rpc.ParseTransportURL(testenv.TransportURL(t))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func dialAMQP(t testing.TB, opts rpc.RabbitOptions) *rpc.AMQPTransport {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tr, err := rpc.DialAMQP(ctx, brokerURL(t), opts, testLogger())
	if err != nil {
		t.Fatalf("DialAMQP: %v", err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

// adminChannel is a plain amqp091 channel for test bookkeeping (cleanup, inspection).
func adminChannel(t testing.TB) (*amqp.Connection, *amqp.Channel) {
	t.Helper()
	u := brokerURL(t)
	h := u.Hosts[0]
	conn, err := amqp.DialConfig("amqp://"+h.Address()+"/", amqp.Config{
		SASL:  []amqp.Authentication{&amqp.PlainAuth{Username: h.Username, Password: h.Password()}},
		Vhost: u.VHost(),
	})
	if err != nil {
		t.Fatalf("admin connection: %v", err)
	}
	ch, err := conn.Channel()
	if err != nil {
		conn.Close()
		t.Fatalf("admin channel: %v", err)
	}
	return conn, ch
}

// deleteEntities removes what a test declared; a missing entity closes the channel, so each
// deletion gets a fresh one.
func deleteEntities(t testing.TB, queues, exchanges []string) {
	conn, _ := adminChannel(t)
	defer conn.Close()
	for _, q := range queues {
		if ch, err := conn.Channel(); err == nil {
			_, _ = ch.QueueDelete(q, false, false, false)
			_ = ch.Close()
		}
	}
	for _, e := range exchanges {
		if ch, err := conn.Channel(); err == nil {
			_ = ch.ExchangeDelete(e, false, false)
			_ = ch.Close()
		}
	}
}

func amqpHarness() transportHarness {
	return transportHarness{
		New: func(t *testing.T, opts rpc.RabbitOptions) rpc.Transport { return dialAMQP(t, opts) },
		Cleanup: func(t *testing.T, queues, exchanges []string) {
			deleteEntities(t, queues, exchanges)
		},
	}
}

func TestAMQPTransportConformance(t *testing.T) {
	runTransportConformance(t, amqpHarness())
}

func TestAMQPLoginMethodsAndFailover(t *testing.T) {
	u := brokerURL(t)
	h := u.Hosts[0]
	for _, method := range []string{"AMQPLAIN", "PLAIN"} {
		opts := rpc.DefaultRabbitOptions()
		opts.LoginMethod = method
		tr := dialAMQP(t, opts)
		if err := tr.Send(testCtx(t), rpc.Destination{Kind: rpc.ToFanout, Topic: "novalet_login_check"}, []byte("{}")); err != nil {
			t.Fatalf("%s: send: %v", method, err)
		}
	}
	deleteEntities(t, nil, []string{"novalet_login_check_fanout"})

	// A dead first host: the transport moves on to the next one (hosts are tried round-robin).
	raw := fmt.Sprintf("rabbit://%s:%s@127.0.0.1:1,%s:%s@%s/", url.PathEscape(h.Username), url.PathEscape(h.Password()),
		url.PathEscape(h.Username), url.PathEscape(h.Password()), h.Address())
	multi, err := rpc.ParseTransportURL(raw)
	if err != nil {
		t.Fatal(err)
	}
	opts := rpc.DefaultRabbitOptions()
	opts.RetryInterval, opts.RetryBackoff = time.Second, 0
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tr, err := rpc.DialAMQP(ctx, multi, opts, testLogger())
	if err != nil {
		t.Fatalf("failover to the second host: %v", err)
	}
	_ = tr.Close()

	// Wrong credentials: the broker refuses, the error never shows the password.
	bad, _ := rpc.ParseTransportURL(fmt.Sprintf("rabbit://%s:wrong-s3cret@%s/", url.PathEscape(h.Username), h.Address()))
	ctx2, cancel2 := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel2()
	_, err = rpc.DialAMQP(ctx2, bad, rpc.DefaultRabbitOptions(), testLogger())
	if !errors.Is(err, rpc.ErrUnavailable) || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("bad credentials: err = %v", err)
	}
}
