package rpc

import (
	"context"
	"time"
)

// Transport is the port between this package's RPC logic and a message broker: publish one
// message, and consume the queues oslo.messaging declares for a server or for replies.
// AMQPTransport (RabbitMQ) and MemoryTransport implement it; both pass the conformance suite
// in conformance_test.go.
type Transport interface {
	// Send publishes body and returns once the broker has taken it (publisher confirm). A
	// direct send to a queue that does not exist fails with ErrUndeliverable.
	Send(ctx context.Context, dst Destination, body []byte) error
	// Listen declares the queues of spec, binds them, and calls deliver for every message
	// until the subscription is closed. It returns once the queues exist. deliver is called
	// from one goroutine per subscription; a slow deliver holds back later messages.
	// The subscription survives reconnects: queues are re-declared and re-consumed.
	Listen(ctx context.Context, spec ListenSpec, deliver func(Delivery)) (Subscription, error)
	// Close ends every subscription and connection.
	Close() error
}

// DestinationKind says how a message is routed.
type DestinationKind int

const (
	// ToTopic publishes to the control exchange with routing key Topic ("compute" or
	// "compute.<host>").
	ToTopic DestinationKind = iota
	// ToFanout publishes to the fanout exchange "<Topic>_fanout".
	ToFanout
	// ToQueue publishes to the default exchange with routing key Topic (a reply queue),
	// mandatory, so a missing queue is reported.
	ToQueue
)

// Destination addresses one message.
type Destination struct {
	Kind     DestinationKind
	Exchange string // ToTopic: the control exchange, e.g. "nova"
	Topic    string // routing key, fanout topic or queue name
	// TTL becomes the AMQP expiration (calls carry their timeout); 0 means none.
	TTL time.Duration
}

// ListenSpec names the queues of a subscription.
type ListenSpec struct {
	// Server subscription (ReplyQueue empty): queues Topic and Topic.Server bound to Exchange,
	// and a Topic_fanout_<uuid> queue bound to the fanout exchange Topic_fanout, exactly like
	// oslo's AMQPDriverBase.listen.
	Exchange string
	Topic    string
	Server   string
	// ReplyQueue, when set, makes this a reply subscription: that one queue on the default
	// exchange, with x-expires.
	ReplyQueue string
}

// Delivery is one received message; it has already been acknowledged, as oslo's RPC listener
// acknowledges before dispatch.
type Delivery struct {
	Queue string
	Body  []byte
}

// Subscription is a running Listen.
type Subscription interface {
	// Queues are the names of the queues consumed (for a server: topic, topic.server, fanout).
	Queues() []string
	// Close stops consuming; the fanout queue is deleted as oslo does on close. It returns
	// once deliver will not be called again, or when ctx ends.
	Close(ctx context.Context) error
}
