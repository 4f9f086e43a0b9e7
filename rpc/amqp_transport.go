package rpc

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// AMQPTransport is the RabbitMQ Transport. It declares exchanges and queues exactly as
// oslo.messaging's rabbit driver does, publishes with publisher confirms and kombu's message
// properties, and survives broker restarts: connections are redialled with back-off,
// subscriptions re-declare and re-consume, sends wait for the new connection within their
// context.
type AMQPTransport struct {
	url   TransportURL
	opts  RabbitOptions
	log   *slog.Logger
	hosts []TransportHost
	tls   *tls.Config

	ctx     context.Context // cancelled by Close
	cancel  context.CancelFunc
	closing <-chan struct{}

	send   *session
	listen *session

	pubs chan *publisher // idle confirm-mode channels on the send connection

	subsMu sync.Mutex
	subs   map[*amqpSub]struct{}
	wg     sync.WaitGroup
}

var _ Transport = (*AMQPTransport)(nil)

// maxIdlePublishers bounds the idle publishing channels kept for reuse.
const maxIdlePublishers = 8

// DialAMQP starts an AMQPTransport and waits, within ctx, for its first connection. Connections
// then stay up in the background until Close.
func DialAMQP(ctx context.Context, u TransportURL, opts RabbitOptions, log *slog.Logger) (*AMQPTransport, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if len(u.Hosts) == 0 {
		return nil, fmt.Errorf("%w: no hosts", ErrInvalidURL)
	}
	tc, err := tlsConfig(opts)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	t := &AMQPTransport{
		url: u, opts: opts, hosts: shuffled(u.Hosts), tls: tc,
		log:  log.With("component", "rpc.amqp", "transport_url", u),
		pubs: make(chan *publisher, maxIdlePublishers),
		subs: map[*amqpSub]struct{}{},
	}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	t.closing = t.ctx.Done()
	t.send = newSession(t, "send")
	t.listen = newSession(t, "listen")
	go t.send.run()
	go t.listen.run()
	if _, err := t.send.get(ctx); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

// Options returns the options the transport declares with.
func (t *AMQPTransport) Options() RabbitOptions { return t.opts }

// Close implements Transport: subscriptions end (fanout queues deleted), connections close.
func (t *AMQPTransport) Close() error {
	t.subsMu.Lock()
	subs := make([]*amqpSub, 0, len(t.subs))
	for s := range t.subs {
		subs = append(subs, s)
	}
	t.subsMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var errs []error
	for _, s := range subs {
		errs = append(errs, s.Close(ctx))
	}
	t.cancel()
	<-t.send.done
	<-t.listen.done
	t.wg.Wait()
	for {
		select {
		case p := <-t.pubs:
			p.discard()
		default:
			return errors.Join(errs...)
		}
	}
}

// publisher is one confirm-mode channel, used by one Send at a time.
type publisher struct {
	conn     *amqp.Connection
	ch       *amqp.Channel
	returns  chan amqp.Return
	declared map[string]bool
}

func (p *publisher) discard() { go func() { _ = p.ch.Close() }() }

func (t *AMQPTransport) publisher(ctx context.Context, conn *amqp.Connection) (*publisher, error) {
	// Reuse an idle channel of this connection; channels of a lost connection are dropped.
	for idle := true; idle; {
		select {
		case p := <-t.pubs:
			if p.conn == conn && !p.ch.IsClosed() {
				return p, nil
			}
			p.discard()
		default:
			idle = false
		}
	}
	p := &publisher{conn: conn, returns: make(chan amqp.Return, 4), declared: map[string]bool{}}
	err := t.bounded(ctx, t.send, conn, func() error {
		ch, err := conn.Channel()
		if err != nil {
			return err
		}
		if err := ch.Confirm(false); err != nil {
			ch.Close()
			return err
		}
		p.ch = ch
		ch.NotifyReturn(p.returns)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

func (t *AMQPTransport) release(p *publisher) {
	select {
	case t.pubs <- p:
	default:
		p.discard()
	}
}

// Send implements Transport. Connection failures are retried on the next connection until ctx
// ends; a refusal by the broker (406, undeliverable) is returned at once.
func (t *AMQPTransport) Send(ctx context.Context, dst Destination, body []byte) error {
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		conn, err := t.send.get(ctx)
		if err != nil {
			return err
		}
		p, err := t.publisher(ctx, conn)
		if err == nil {
			err = t.publishOn(ctx, p, dst, body)
			if err == nil || errors.Is(err, ErrUndeliverable) {
				t.release(p)
				return err
			}
			p.discard()
		}
		if !retryable(conn, err) || ctx.Err() != nil {
			return err
		}
		t.log.Warn("publish failed, retrying on a new channel", "error", err)
		select {
		case <-time.After(250 * time.Millisecond):
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
	}
}

func (t *AMQPTransport) publishOn(ctx context.Context, p *publisher, dst Destination, body []byte) error {
	var ex exchangeDecl
	key, mandatory := dst.Topic, false
	switch dst.Kind {
	case ToTopic:
		ex = topicExchange(t.opts, dst.Exchange)
	case ToFanout:
		ex, key = fanoutExchange(dst.Topic), ""
	case ToQueue:
		mandatory = true
	default:
		return fmt.Errorf("rpc: unknown destination kind %d", dst.Kind)
	}
	if ex.Name != "" && !p.declared[ex.Name] {
		err := t.bounded(ctx, t.send, p.conn, func() error {
			return p.ch.ExchangeDeclare(ex.Name, ex.Kind, ex.Durable, ex.AutoDelete, false, false, nil)
		})
		if err != nil {
			return fmt.Errorf("declaring exchange %q: %w", ex.Name, err)
		}
		p.declared[ex.Name] = true
	}
	// Properties as kombu 5.2.4 sets them for oslo's JSON envelope.
	msg := amqp.Publishing{
		ContentType:     "application/json",
		ContentEncoding: "utf-8",
		DeliveryMode:    amqp.Persistent,
		Priority:        0,
		Headers:         amqp.Table{},
		Body:            body,
	}
	if dst.TTL > 0 {
		msg.Expiration = strconv.FormatInt(dst.TTL.Milliseconds(), 10)
	}
	for len(p.returns) > 0 {
		<-p.returns
	}
	var dc *amqp.DeferredConfirmation
	err := t.bounded(ctx, t.send, p.conn, func() error {
		var err error
		dc, err = p.ch.PublishWithDeferredConfirmWithContext(ctx, ex.Name, key, mandatory, false, msg)
		return err
	})
	if err != nil {
		return fmt.Errorf("publishing to %q/%q: %w", ex.Name, key, err)
	}
	ack, err := dc.WaitContext(ctx)
	if err != nil {
		return fmt.Errorf("%w: waiting for the broker's confirm: %w", ErrUnavailable, err)
	}
	if !ack {
		return fmt.Errorf("%w: broker refused (nack) a message to %q/%q", ErrUnavailable, ex.Name, key)
	}
	// A basic.return precedes its basic.ack on the channel, so it has been dispatched already.
	select {
	case r := <-p.returns:
		return fmt.Errorf("%w: %q (%d %s)", ErrUndeliverable, r.RoutingKey, r.ReplyCode, r.ReplyText)
	default:
	}
	return nil
}

// bounded runs a synchronous broker call (amqp091 takes no context for them) within ctx; if ctx
// ends first the connection is dropped, which unblocks the call and makes the session redial.
func (t *AMQPTransport) bounded(ctx context.Context, s *session, conn *amqp.Connection, call func() error) error {
	done := make(chan error, 1)
	go func() { done <- call() }()
	select {
	case err := <-done:
		return classify(err)
	case <-ctx.Done():
		select {
		case err := <-done:
			return classify(err)
		default:
		}
		s.broken(conn)
		<-done
		return fmt.Errorf("%w: broker did not answer in time: %w", ErrUnavailable, ctx.Err())
	}
}

// classify maps amqp091 errors onto this package's error classes.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var ae *amqp.Error
	if errors.As(err, &ae) {
		switch ae.Code {
		case amqp.PreconditionFailed:
			return fmt.Errorf("%w: %w", ErrPrecondition, err)
		case amqp.NotFound, amqp.AccessRefused, amqp.ResourceLocked:
			return err
		}
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// retryable says whether a failed operation may succeed on a fresh channel or connection.
func retryable(conn *amqp.Connection, err error) bool {
	if errors.Is(err, ErrPrecondition) || errors.Is(err, ErrUndeliverable) || errors.Is(err, ErrClosed) {
		return false
	}
	var ae *amqp.Error
	if errors.As(err, &ae) && ae.Server && ae.Recover && !conn.IsClosed() {
		return false // a channel-level refusal (404, 403...) repeats on a new channel
	}
	return true
}
