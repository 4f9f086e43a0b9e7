package rpc

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"time"
)

// MemoryBroker is an in-process stand-in for RabbitMQ with the semantics this package relies
// on: topic exchanges route by exact binding key (oslo binds only exact keys), fanout exchanges
// copy to every bound queue, a queue with several consumers hands each message to one of them
// in turn, messages wait in a queue without consumers until their TTL, a direct send to a
// missing queue is undeliverable, and re-declaring with other flags is refused like a 406.
type MemoryBroker struct {
	mu        sync.Mutex
	exchanges map[string]exchangeDecl
	bindings  map[string]map[string][]string // exchange -> key -> queue names
	queues    map[string]*memQueue
}

type memQueue struct {
	decl      queueDecl
	pending   []memMessage
	consumers []*memSub
	next      int
}

type memMessage struct {
	queue   string
	body    []byte
	expires time.Time // zero: never
}

// NewMemoryBroker returns an empty broker.
func NewMemoryBroker() *MemoryBroker {
	return &MemoryBroker{
		exchanges: map[string]exchangeDecl{},
		bindings:  map[string]map[string][]string{},
		queues:    map[string]*memQueue{},
	}
}

// Transport returns a client of this broker that declares with opts, like one process.
func (b *MemoryBroker) Transport(opts RabbitOptions) *MemoryTransport {
	return &MemoryTransport{b: b, opts: opts, subs: map[*memSub]struct{}{}}
}

// QueueNames lists the queues that exist, for tests.
func (b *MemoryBroker) QueueNames() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	names := make([]string, 0, len(b.queues))
	for n := range b.queues {
		names = append(names, n)
	}
	return names
}

// MemoryTransport is the in-memory Transport.
type MemoryTransport struct {
	b    *MemoryBroker
	opts RabbitOptions

	mu     sync.Mutex
	closed bool
	subs   map[*memSub]struct{}
}

var _ Transport = (*MemoryTransport)(nil)

// NewMemoryTransport returns a transport on its own broker with oslo's default options.
func NewMemoryTransport() *MemoryTransport {
	return NewMemoryBroker().Transport(DefaultRabbitOptions())
}

// Broker returns the broker behind the transport.
func (t *MemoryTransport) Broker() *MemoryBroker { return t.b }

func (b *MemoryBroker) declareExchangeLocked(e exchangeDecl) error {
	if old, ok := b.exchanges[e.Name]; ok {
		if old != e {
			return fmt.Errorf("%w: exchange %q exists as %+v, declared as %+v", ErrPrecondition, e.Name, old, e)
		}
		return nil
	}
	b.exchanges[e.Name] = e
	b.bindings[e.Name] = map[string][]string{}
	return nil
}

func (b *MemoryBroker) declareQueueLocked(q queueDecl) error {
	if old, ok := b.queues[q.Name]; ok {
		if old.decl.Durable != q.Durable || old.decl.AutoDelete != q.AutoDelete || !argsEqual(old.decl.Args, q.Args) {
			return fmt.Errorf("%w: queue %q declared with other flags or arguments", ErrPrecondition, q.Name)
		}
	} else {
		b.queues[q.Name] = &memQueue{decl: q}
	}
	if q.Exchange.Name != "" {
		if err := b.declareExchangeLocked(q.Exchange); err != nil {
			return err
		}
		keys := b.bindings[q.Exchange.Name]
		for _, n := range keys[q.Key] {
			if n == q.Name {
				return nil
			}
		}
		keys[q.Key] = append(keys[q.Key], q.Name)
	}
	return nil
}

func argsEqual(a, b map[string]any) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return reflect.DeepEqual(a, b)
}

// deleteQueueLocked removes a queue and its bindings; an auto-delete exchange left without
// bindings goes too, as in RabbitMQ.
func (b *MemoryBroker) deleteQueueLocked(name string) {
	q, ok := b.queues[name]
	if !ok {
		return
	}
	delete(b.queues, name)
	ex := q.decl.Exchange.Name
	if ex == "" {
		return
	}
	keys := b.bindings[ex]
	names := keys[q.decl.Key]
	for i, n := range names {
		if n == name {
			keys[q.decl.Key] = append(names[:i:i], names[i+1:]...)
			break
		}
	}
	if len(keys[q.decl.Key]) == 0 {
		delete(keys, q.decl.Key)
	}
	if len(keys) == 0 && b.exchanges[ex].AutoDelete {
		delete(b.exchanges, ex)
		delete(b.bindings, ex)
	}
}

func (b *MemoryBroker) enqueueLocked(q *memQueue, m memMessage) {
	if len(q.consumers) == 0 {
		q.pending = append(q.pending, m)
		return
	}
	s := q.consumers[q.next%len(q.consumers)]
	q.next++
	s.push(m)
}

// Send implements Transport.
func (t *MemoryTransport) Send(ctx context.Context, dst Destination, body []byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if t.isClosed() {
		return ErrClosed
	}
	m := memMessage{body: append([]byte(nil), body...)}
	if dst.TTL > 0 {
		m.expires = time.Now().Add(dst.TTL)
	}
	b := t.b
	b.mu.Lock()
	defer b.mu.Unlock()
	var targets []string
	switch dst.Kind {
	case ToTopic:
		if err := b.declareExchangeLocked(topicExchange(t.opts, dst.Exchange)); err != nil {
			return err
		}
		targets = b.bindings[dst.Exchange][dst.Topic]
	case ToFanout:
		ex := fanoutExchange(dst.Topic)
		if err := b.declareExchangeLocked(ex); err != nil {
			return err
		}
		for _, names := range b.bindings[ex.Name] {
			targets = append(targets, names...)
		}
	case ToQueue:
		if _, ok := b.queues[dst.Topic]; !ok {
			return fmt.Errorf("%w: %q", ErrUndeliverable, dst.Topic)
		}
		targets = []string{dst.Topic}
	default:
		return fmt.Errorf("rpc: unknown destination kind %d", dst.Kind)
	}
	for _, name := range targets {
		m.queue = name
		b.enqueueLocked(b.queues[name], m)
	}
	return nil
}

// Listen implements Transport.
func (t *MemoryTransport) Listen(ctx context.Context, spec ListenSpec, deliver func(Delivery)) (Subscription, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if err := validateSpec(spec); err != nil {
		return nil, err
	}
	s := &memSub{t: t, queues: specQueues(t.opts, spec), fanout: spec.ReplyQueue == "",
		deliver: deliver, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil, ErrClosed
	}
	t.subs[s] = struct{}{}
	t.mu.Unlock()

	b := t.b
	b.mu.Lock()
	for _, q := range s.queues {
		if err := b.declareQueueLocked(q); err != nil {
			b.mu.Unlock()
			t.forget(s)
			return nil, err
		}
	}
	for _, q := range s.queues {
		mq := b.queues[q.Name]
		mq.consumers = append(mq.consumers, s)
		for _, m := range mq.pending {
			s.push(m)
		}
		mq.pending = nil
	}
	b.mu.Unlock()
	go s.run()
	return s, nil
}

func (t *MemoryTransport) forget(s *memSub) {
	t.mu.Lock()
	delete(t.subs, s)
	t.mu.Unlock()
}

func (t *MemoryTransport) isClosed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed
}

// Close implements Transport.
func (t *MemoryTransport) Close() error {
	t.mu.Lock()
	t.closed = true
	subs := make([]*memSub, 0, len(t.subs))
	for s := range t.subs {
		subs = append(subs, s)
	}
	t.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, s := range subs {
		if err := s.Close(ctx); err != nil {
			return err
		}
	}
	return nil
}

// memSub is one subscription: its inbox holds the messages routed to it, in order.
type memSub struct {
	t       *MemoryTransport
	queues  []queueDecl
	fanout  bool
	deliver func(Delivery)

	mu    sync.Mutex
	inbox []memMessage

	wake      chan struct{}
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func (s *memSub) push(m memMessage) {
	s.mu.Lock()
	s.inbox = append(s.inbox, m)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *memSub) run() {
	defer close(s.done)
	for {
		s.mu.Lock()
		var m memMessage
		have := len(s.inbox) > 0
		if have {
			m = s.inbox[0]
			s.inbox = s.inbox[1:]
		}
		s.mu.Unlock()
		if !have {
			select {
			case <-s.wake:
				continue
			case <-s.stop:
				return
			}
		}
		select {
		case <-s.stop:
			return
		default:
		}
		if !m.expires.IsZero() && time.Now().After(m.expires) {
			continue
		}
		s.deliver(Delivery{Queue: m.queue, Body: m.body})
	}
}

// Queues implements Subscription.
func (s *memSub) Queues() []string {
	names := make([]string, len(s.queues))
	for i, q := range s.queues {
		names[i] = q.Name
	}
	return names
}

// Close implements Subscription: messages not yet handed over go back to their queues.
func (s *memSub) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		close(s.stop)
		b := s.t.b
		b.mu.Lock()
		for _, q := range s.queues {
			mq, ok := b.queues[q.Name]
			if !ok {
				continue
			}
			for i, c := range mq.consumers {
				if c == s {
					mq.consumers = append(mq.consumers[:i:i], mq.consumers[i+1:]...)
					break
				}
			}
			isFanout := s.fanout && q.Exchange.Kind == kindFanout
			if isFanout || (q.AutoDelete && len(mq.consumers) == 0) {
				b.deleteQueueLocked(q.Name)
			}
		}
		s.mu.Lock()
		left := s.inbox
		s.inbox = nil
		s.mu.Unlock()
		for _, m := range left {
			if mq, ok := b.queues[m.queue]; ok {
				b.enqueueLocked(mq, m)
			}
		}
		b.mu.Unlock()
		s.t.forget(s)
	})
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("rpc: closing subscription: %w", ctx.Err())
	}
}

func validateSpec(spec ListenSpec) error {
	if spec.ReplyQueue != "" {
		return nil
	}
	if spec.Exchange == "" || spec.Topic == "" || spec.Server == "" {
		return fmt.Errorf("rpc: listen needs exchange, topic and server (got %q, %q, %q)", spec.Exchange, spec.Topic, spec.Server)
	}
	return nil
}
