package rpc

import "errors"

// Error classes of this package; callers decide with errors.Is.
var (
	// ErrTimeout: no reply arrived in time. The text says MessagingTimeout, like oslo.
	ErrTimeout = errors.New("MessagingTimeout")
	// ErrUnavailable: the broker could not be reached or the connection broke.
	ErrUnavailable = errors.New("message broker unavailable")
	// ErrUndeliverable: a mandatory message (a reply) found no queue.
	ErrUndeliverable = errors.New("message undeliverable: no such queue")
	// ErrPrecondition: the broker refused a declaration whose flags differ from the existing
	// exchange or queue (406 PRECONDITION_FAILED).
	ErrPrecondition = errors.New("declaration conflicts with the broker's existing entity")
	// ErrInvalidMessage: a message could not be decoded.
	ErrInvalidMessage = errors.New("invalid rpc message")
	// ErrInvalidURL: the transport_url cannot be used.
	ErrInvalidURL = errors.New("invalid transport_url")
	// ErrNoSuchMethod: no compatible endpoint has the method (oslo NoSuchMethod).
	ErrNoSuchMethod = errors.New("NoSuchMethod")
	// ErrUnsupportedVersion: no endpoint accepts the requested namespace/version
	// (oslo UnsupportedVersion).
	ErrUnsupportedVersion = errors.New("UnsupportedVersion")
	// ErrClosed: the transport, server or client has been closed.
	ErrClosed = errors.New("rpc: closed")
)
