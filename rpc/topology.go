package rpc

import "github.com/google/uuid"

// Exchange kinds and names as oslo.messaging uses them.
const (
	kindTopic  = "topic"
	kindFanout = "fanout"
	// DefaultExchange is nova's control_exchange.
	DefaultExchange = "nova"
)

// exchangeDecl and queueDecl are the exact declarations oslo's rabbit driver makes; both the
// AMQP and the in-memory transport take them from here, so the flags have one source.
type exchangeDecl struct {
	Name       string
	Kind       string
	Durable    bool
	AutoDelete bool
}

type queueDecl struct {
	Name       string
	Durable    bool
	AutoDelete bool
	Args       map[string]any
	// Exchange/Key bind the queue; Exchange "" means the default exchange (no binding).
	Exchange exchangeDecl
	Key      string
}

func topicExchange(o RabbitOptions, name string) exchangeDecl {
	return exchangeDecl{Name: name, Kind: kindTopic, Durable: o.durable(), AutoDelete: o.AMQPAutoDelete}
}

func fanoutExchange(topic string) exchangeDecl {
	return exchangeDecl{Name: topic + "_fanout", Kind: kindFanout, Durable: false, AutoDelete: true}
}

// queueArguments mirrors impl_rabbit._get_queue_arguments. Integers are int32, the AMQP type
// py-amqp writes for them.
func queueArguments(o RabbitOptions, ttlSeconds int, quorum bool) map[string]any {
	args := map[string]any{}
	if o.HAQueues {
		args["x-ha-policy"] = "all"
	}
	if quorum && o.QuorumQueue {
		args["x-queue-type"] = "quorum"
	}
	if ttlSeconds > 0 {
		args["x-expires"] = int32(ttlSeconds * 1000)
	}
	return args
}

func ttlSeconds(o RabbitOptions) int { return int(o.TransientQueuesTTL.Seconds()) }

// serverQueues are the three queues of oslo's listen(): topic, topic.server, fanout.
func serverQueues(o RabbitOptions, spec ListenSpec) []queueDecl {
	ex := topicExchange(o, spec.Exchange)
	topic := func(name string) queueDecl {
		return queueDecl{Name: name, Durable: o.durable(), AutoDelete: o.AMQPAutoDelete,
			Args: queueArguments(o, 0, true), Exchange: ex, Key: name}
	}
	fanout := queueDecl{
		Name:    spec.Topic + "_fanout_" + newHexID(),
		Durable: false, AutoDelete: false,
		Args:     queueArguments(o, ttlSeconds(o), false),
		Exchange: fanoutExchange(spec.Topic), Key: spec.Topic,
	}
	return []queueDecl{topic(spec.Topic), topic(spec.Topic + "." + spec.Server), fanout}
}

// replyQueue is oslo's declare_direct_consumer queue.
func replyQueue(o RabbitOptions, name string) queueDecl {
	return queueDecl{Name: name, Durable: false, AutoDelete: false, Args: queueArguments(o, ttlSeconds(o), false)}
}

func specQueues(o RabbitOptions, spec ListenSpec) []queueDecl {
	if spec.ReplyQueue != "" {
		return []queueDecl{replyQueue(o, spec.ReplyQueue)}
	}
	return serverQueues(o, spec)
}

// newHexID is uuid4().hex, the form of oslo's _msg_id, _unique_id and queue suffixes.
func newHexID() string {
	u := uuid.New()
	const hexdigits = "0123456789abcdef"
	b := make([]byte, 32)
	for i, c := range u {
		b[2*i] = hexdigits[c>>4]
		b[2*i+1] = hexdigits[c&0xf]
	}
	return string(b)
}
