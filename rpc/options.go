package rpc

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// RabbitOptions are the [oslo_messaging_rabbit] options this package honours, with oslo 14.0.3's
// defaults (DefaultRabbitOptions). The lead maps nova.conf onto it; the transport_url query can
// override them (ApplyQuery), as oslo's ConfigOptsProxy does.
type RabbitOptions struct {
	// HeartbeatTimeoutThreshold (heartbeat_timeout_threshold, 60 s) is offered to the broker as
	// the AMQP heartbeat. 0 takes the broker's value: unlike kombu, amqp091-go cannot turn
	// heartbeats off through its Config.
	HeartbeatTimeoutThreshold time.Duration
	// HeartbeatRate (heartbeat_rate, 2): checks per threshold. The Go client sends a heartbeat
	// every threshold/2 and drops the connection after a silent threshold, which is the same rate.
	HeartbeatRate int

	// Reconnect back-off: RetryInterval (rabbit_retry_interval, 1 s) first, growing by
	// RetryBackoff (rabbit_retry_backoff, 2 s) up to IntervalMax (rabbit_interval_max, 30 s).
	RetryInterval time.Duration
	RetryBackoff  time.Duration
	IntervalMax   time.Duration

	// SSL (ssl): connect over TLS. With SSLCAFile the broker's chain is verified; its host name
	// only with SSLEnforceHostnameVerification (Debian's default false). Without SSLCAFile, oslo
	// does not verify the certificate at all, and neither do we.
	SSL                            bool
	SSLCAFile                      string
	SSLCertFile                    string
	SSLKeyFile                     string
	SSLEnforceHostnameVerification bool

	// AMQPDurableQueues (amqp_durable_queues, false) and AMQPAutoDelete (amqp_auto_delete,
	// false) are the flags of the control exchange and the topic queues. They must match what
	// the other services declared, or the broker answers 406 PRECONDITION_FAILED.
	AMQPDurableQueues bool
	AMQPAutoDelete    bool
	// HAQueues (rabbit_ha_queues) adds x-ha-policy: all; QuorumQueue (rabbit_quorum_queue) makes
	// topic queues durable quorum queues.
	HAQueues    bool
	QuorumQueue bool

	// TransientQueuesTTL (rabbit_transient_queues_ttl, 1800 s) is the x-expires of reply and
	// fanout queues.
	TransientQueuesTTL time.Duration
	// QosPrefetchCount (rabbit_qos_prefetch_count, 0 = unlimited, no basic.qos sent).
	QosPrefetchCount int
	// LoginMethod (rabbit_login_method): AMQPLAIN (default) or PLAIN.
	LoginMethod string
	// MissingConsumerRetryTimeout (kombu_missing_consumer_retry_timeout, 60 s): how long a
	// reply is retried while its reply queue is missing.
	MissingConsumerRetryTimeout time.Duration
	// ConnectTimeout bounds one TCP+TLS+AMQP handshake (not an oslo option).
	ConnectTimeout time.Duration
	// OnConnectionState, when set, is told each time a connection ("send" or "listen") comes
	// up (reconnect is true after a loss) or goes down; for metrics. It must not block.
	OnConnectionState func(purpose string, up, reconnect bool)
}

// DefaultRabbitOptions returns oslo.messaging 14.0.3's defaults.
func DefaultRabbitOptions() RabbitOptions {
	return RabbitOptions{
		HeartbeatTimeoutThreshold:   60 * time.Second,
		HeartbeatRate:               2,
		RetryInterval:               time.Second,
		RetryBackoff:                2 * time.Second,
		IntervalMax:                 30 * time.Second,
		TransientQueuesTTL:          1800 * time.Second,
		LoginMethod:                 "AMQPLAIN",
		MissingConsumerRetryTimeout: 60 * time.Second,
		ConnectTimeout:              30 * time.Second,
	}
}

// Validate reports options the transport cannot honour.
func (o RabbitOptions) Validate() error {
	switch strings.ToUpper(o.LoginMethod) {
	case "AMQPLAIN", "PLAIN":
	default:
		return fmt.Errorf("oslo_messaging_rabbit.rabbit_login_method: %q is not supported (AMQPLAIN or PLAIN)", o.LoginMethod)
	}
	if o.HAQueues && o.QuorumQueue {
		return fmt.Errorf("oslo_messaging_rabbit: rabbit_quorum_queue and rabbit_ha_queues are both enabled")
	}
	if o.TransientQueuesTTL < time.Second {
		return fmt.Errorf("oslo_messaging_rabbit.rabbit_transient_queues_ttl: must be at least 1 second")
	}
	if o.HeartbeatTimeoutThreshold < 0 || o.RetryInterval < 0 || o.RetryBackoff < 0 || o.IntervalMax < 0 {
		return fmt.Errorf("oslo_messaging_rabbit: durations must not be negative")
	}
	return nil
}

// durable is the durability of the control exchange and topic queues: quorum queues are
// always durable.
func (o RabbitOptions) durable() bool { return o.AMQPDurableQueues || o.QuorumQueue }

// ApplyQuery overrides options with the transport_url query parameters oslo would honour.
// Unknown keys are errors, like oslo's ConfigOptsProxy validation.
func (o *RabbitOptions) ApplyQuery(q map[string]string) error {
	for k, v := range q {
		var err error
		switch k {
		case "heartbeat_timeout_threshold":
			err = setSeconds(&o.HeartbeatTimeoutThreshold, v)
		case "heartbeat_rate":
			o.HeartbeatRate, err = strconv.Atoi(v)
		case "rabbit_retry_interval":
			err = setSeconds(&o.RetryInterval, v)
		case "rabbit_retry_backoff":
			err = setSeconds(&o.RetryBackoff, v)
		case "rabbit_interval_max":
			err = setSeconds(&o.IntervalMax, v)
		case "ssl":
			o.SSL, err = parseOsloBool(v)
		case "ssl_ca_file":
			o.SSLCAFile = v
		case "ssl_cert_file":
			o.SSLCertFile = v
		case "ssl_key_file":
			o.SSLKeyFile = v
		case "ssl_enforce_hostname_verification":
			o.SSLEnforceHostnameVerification, err = parseOsloBool(v)
		case "amqp_durable_queues":
			o.AMQPDurableQueues, err = parseOsloBool(v)
		case "amqp_auto_delete":
			o.AMQPAutoDelete, err = parseOsloBool(v)
		case "rabbit_ha_queues":
			o.HAQueues, err = parseOsloBool(v)
		case "rabbit_quorum_queue":
			o.QuorumQueue, err = parseOsloBool(v)
		case "rabbit_transient_queues_ttl":
			err = setSeconds(&o.TransientQueuesTTL, v)
		case "rabbit_qos_prefetch_count":
			o.QosPrefetchCount, err = strconv.Atoi(v)
		case "rabbit_login_method":
			o.LoginMethod = v
		case "kombu_missing_consumer_retry_timeout":
			err = setSeconds(&o.MissingConsumerRetryTimeout, v)
		default:
			return fmt.Errorf("%w: query parameter %q is not an [oslo_messaging_rabbit] option", ErrInvalidURL, k)
		}
		if err != nil {
			return fmt.Errorf("%w: query parameter %s=%q: %w", ErrInvalidURL, k, v, err)
		}
	}
	return o.Validate()
}

func setSeconds(d *time.Duration, v string) error {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return err
	}
	*d = time.Duration(n) * time.Second
	return nil
}

// parseOsloBool accepts what oslo.config's Boolean type accepts.
func parseOsloBool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "1", "on", "yes":
		return true, nil
	case "false", "0", "off", "no":
		return false, nil
	}
	return false, fmt.Errorf("unexpected boolean value %q", v)
}
