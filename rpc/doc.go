// Package rpc speaks oslo.messaging 14.0 (message format 2.0) over RabbitMQ, the way Debian's
// Zed nova-compute does: it owns the transport_url, the AMQP connection and its reconnects,
// exchanges and queues declared with exactly oslo's names and flags, the request/reply
// envelope, call/cast/fanout, call-monitor keep-alives, oslo-shaped remote failures, the
// request context, and a conductor client.
//
// The broker sits behind the small port Transport, implemented by AMQPTransport (RabbitMQ via
// amqp091-go) and MemoryTransport (in-process); both pass the conformance suite in
// conformance_test.go.
// Nova versioned objects travel through this package as raw JSON; rpc/ovo owns their codec.
package rpc
