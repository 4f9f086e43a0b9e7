package rpc

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// setupTimeout bounds declaring and consuming the queues of one subscription.
const setupTimeout = 30 * time.Second

// reconsumeDelay is kombu_reconnect_delay: the pause before re-declaring after a consumer was
// cancelled or its channel closed.
const reconsumeDelay = time.Second

// amqpSub is one Listen: a channel on the listening connection with one consumer per queue
// (consumer tags "1", "2", "3" like oslo), rebuilt whenever the channel or connection is lost.
type amqpSub struct {
	t       *AMQPTransport
	queues  []queueDecl
	server  bool
	deliver func(Delivery)

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
}

// Listen implements Transport.
func (t *AMQPTransport) Listen(ctx context.Context, spec ListenSpec, deliver func(Delivery)) (Subscription, error) {
	if err := validateSpec(spec); err != nil {
		return nil, err
	}
	s := &amqpSub{t: t, queues: specQueues(t.opts, spec), server: spec.ReplyQueue == "", deliver: deliver, done: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancel(t.ctx)
	t.subsMu.Lock()
	if t.ctx.Err() != nil {
		t.subsMu.Unlock()
		return nil, ErrClosed
	}
	t.subs[s] = struct{}{}
	t.wg.Add(1)
	t.subsMu.Unlock()

	ready := make(chan error, 1)
	go s.run(ctx, ready)
	select {
	case err := <-ready:
		if err != nil {
			s.cancel()
			<-s.done
			return nil, err
		}
		return s, nil
	case <-ctx.Done():
		s.cancel()
		<-s.done
		return nil, fmt.Errorf("%w: declaring %v: %w", ErrUnavailable, s.Queues(), ctx.Err())
	}
}

// Queues implements Subscription.
func (s *amqpSub) Queues() []string {
	names := make([]string, len(s.queues))
	for i, q := range s.queues {
		names[i] = q.Name
	}
	return names
}

// Close implements Subscription.
func (s *amqpSub) Close(ctx context.Context) error {
	s.cancel()
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("rpc: closing subscription %v: %w", s.Queues(), ctx.Err())
	}
}

func (s *amqpSub) run(listenCtx context.Context, ready chan<- error) {
	t := s.t
	defer func() {
		t.subsMu.Lock()
		delete(t.subs, s)
		t.subsMu.Unlock()
		close(s.done)
		t.wg.Done()
	}()
	log := t.log.With("queues", s.Queues())
	first := true
	for {
		conn, err := t.listen.get(s.ctx)
		if err != nil {
			if first {
				ready <- err
			}
			return
		}
		setupCtx, cancel := context.WithTimeout(s.ctx, setupTimeout)
		ch, tags, err := s.setup(setupCtx, conn)
		cancel()
		if err != nil {
			if first && (!retryable(conn, err) || listenCtx.Err() != nil) {
				ready <- err
				return
			}
			log.Error("declaring queues failed, retrying", "error", err)
		} else {
			if first {
				log.Info("consuming")
				ready <- nil
				first = false
			} else {
				log.Info("consuming again after reconnect")
			}
			forwarders := &sync.WaitGroup{}
			err = s.consume(ch, tags, forwarders)
			if s.ctx.Err() != nil {
				s.teardown(conn, ch)
				forwarders.Wait()
				return
			}
			log.Warn("consumer lost, re-declaring", "error", err)
			s.closeChannel(conn, ch)
			forwarders.Wait()
		}
		select {
		case <-time.After(reconsumeDelay):
		case <-s.ctx.Done():
			if first {
				ready <- ErrClosed
			}
			return
		}
	}
}

// setup declares exchanges, queues and bindings as kombu's Queue.declare does, then consumes.
func (s *amqpSub) setup(ctx context.Context, conn *amqp.Connection) (*amqp.Channel, []<-chan amqp.Delivery, error) {
	t := s.t
	var ch *amqp.Channel
	var ins []<-chan amqp.Delivery
	err := t.bounded(ctx, t.listen, conn, func() error {
		var err error
		if ch, err = conn.Channel(); err != nil {
			return err
		}
		if n := t.opts.QosPrefetchCount; n > 0 {
			if err := ch.Qos(n, 0, false); err != nil {
				return err
			}
		}
		for _, q := range s.queues {
			if ex := q.Exchange; ex.Name != "" {
				if err := ch.ExchangeDeclare(ex.Name, ex.Kind, ex.Durable, ex.AutoDelete, false, false, nil); err != nil {
					return fmt.Errorf("declaring exchange %q: %w", ex.Name, err)
				}
			}
			if _, err := ch.QueueDeclare(q.Name, q.Durable, q.AutoDelete, false, false, amqp.Table(q.Args)); err != nil {
				return fmt.Errorf("declaring queue %q: %w", q.Name, err)
			}
			if q.Exchange.Name != "" {
				if err := ch.QueueBind(q.Name, q.Key, q.Exchange.Name, false, nil); err != nil {
					return fmt.Errorf("binding queue %q to %q: %w", q.Name, q.Exchange.Name, err)
				}
			}
		}
		for i, q := range s.queues {
			in, err := ch.Consume(q.Name, strconv.Itoa(i+1), false, false, false, false, nil)
			if err != nil {
				return fmt.Errorf("consuming %q: %w", q.Name, err)
			}
			ins = append(ins, in)
		}
		return nil
	})
	if err != nil {
		if ch != nil {
			go func() { _ = ch.Close() }()
		}
		return nil, nil, err
	}
	return ch, ins, nil
}

// consume acknowledges each message on receipt, as oslo's RpcAMQPListener does before
// dispatching, and hands it to deliver. It returns when the channel closes, a consumer is
// cancelled by the broker, or the subscription stops.
func (s *amqpSub) consume(ch *amqp.Channel, ins []<-chan amqp.Delivery, wg *sync.WaitGroup) error {
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	cancelled := ch.NotifyCancel(make(chan string, len(ins)))
	merged := make(chan amqp.Delivery)
	stop := make(chan struct{})
	defer close(stop)
	for _, in := range ins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := range in {
				select {
				case merged <- d:
				case <-stop:
					return
				}
			}
		}()
	}
	// The forwarders end when their delivery channels close, that is when the caller closes
	// the channel; the caller waits for them then.
	for {
		select {
		case d := <-merged:
			if err := d.Ack(false); err != nil {
				s.t.log.Warn("discarding message: acknowledge failed", "error", err)
				continue
			}
			s.deliver(Delivery{Queue: s.queueOf(d.ConsumerTag), Body: d.Body})
		case e := <-closed:
			return fmt.Errorf("channel closed: %s", errString(e))
		case tag := <-cancelled:
			return fmt.Errorf("consumer %s on %q cancelled by the broker", tag, s.queueOf(tag))
		case <-s.ctx.Done():
			return nil
		}
	}
}

func (s *amqpSub) queueOf(tag string) string {
	i, err := strconv.Atoi(tag)
	if err != nil || i < 1 || i > len(s.queues) {
		return ""
	}
	return s.queues[i-1].Name
}

// teardown cancels the consumers, deletes the fanout queue (oslo deletes fanout queues when
// it closes a listener) and closes the channel; unacknowledged messages go back to the queues.
func (s *amqpSub) teardown(conn *amqp.Connection, ch *amqp.Channel) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if conn.IsClosed() || ch.IsClosed() {
		return
	}
	err := s.t.bounded(ctx, s.t.listen, conn, func() error {
		for i := range s.queues {
			if err := ch.Cancel(strconv.Itoa(i+1), false); err != nil {
				return err
			}
		}
		if s.server {
			fanout := s.queues[len(s.queues)-1].Name
			if _, err := ch.QueueDelete(fanout, false, false, false); err != nil {
				return fmt.Errorf("deleting fanout queue %q: %w", fanout, err)
			}
		}
		return nil
	})
	if err != nil {
		s.t.log.Warn("closing subscription", "error", err)
	}
	s.closeChannel(conn, ch)
}

// closeChannel closes ch within a deadline; its consumers' delivery channels close with it.
func (s *amqpSub) closeChannel(conn *amqp.Connection, ch *amqp.Channel) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.t.bounded(ctx, s.t.listen, conn, ch.Close); err != nil && !ch.IsClosed() {
		s.t.log.Warn("closing channel", "error", err)
	}
}
