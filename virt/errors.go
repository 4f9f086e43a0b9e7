package virt

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"libvirt.org/go/libvirt"
)

// Error classes of the hypervisor port. Callers decide with errors.Is; the libvirt error itself
// stays in the chain for errors.As(err, &libvirt.Error{}).
var (
	// ErrNotFound: the domain (or other libvirt object) does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the object exists already, or is in a state that forbids the operation
	// (starting a running domain, destroying a stopped one, a busy resource).
	ErrConflict = errors.New("conflict")
	// ErrUnavailable: libvirtd cannot be reached, the connection broke, or the host lacks what
	// the request needs (e.g. a virt type it cannot run).
	ErrUnavailable = errors.New("unavailable")
	// ErrTimeout: the operation did not finish before its deadline.
	ErrTimeout = errors.New("timeout")
	// ErrInvalid: the request itself is wrong for this host (bad XML, bad argument, an
	// unsupported configuration or operation).
	ErrInvalid = errors.New("invalid")
)

// opError is a failed hypervisor operation: what we were doing, its class (nil when no class
// fits) and the underlying error.
type opError struct {
	op    string
	class error
	err   error
}

func (e *opError) Error() string {
	var le libvirt.Error
	if errors.As(e.err, &le) {
		// libvirt.Error's own text is "virError(Code=42, Domain=10, Message='...')".
		return fmt.Sprintf("virt: %s: %s (libvirt error %d)", e.op, le.Message, le.Code)
	}
	return fmt.Sprintf("virt: %s: %v", e.op, e.err)
}

func (e *opError) Unwrap() []error {
	if e.class == nil {
		return []error{e.err}
	}
	return []error{e.class, e.err}
}

// wrapErr names the failed operation and attaches the error class; nil stays nil.
func wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	return &opError{op: op, class: classify(err), err: err}
}

// classify maps an error from libvirt (or from waiting on it) to one of the classes above, or
// nil when none fits. This is the one place where libvirt error codes are interpreted.
func classify(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return ErrTimeout
	}
	var le libvirt.Error
	if !errors.As(err, &le) {
		return nil
	}
	switch le.Code {
	case libvirt.ERR_NO_DOMAIN, libvirt.ERR_NO_NETWORK, libvirt.ERR_NO_STORAGE_POOL,
		libvirt.ERR_NO_STORAGE_VOL, libvirt.ERR_NO_NODE_DEVICE, libvirt.ERR_NO_INTERFACE,
		libvirt.ERR_NO_NWFILTER, libvirt.ERR_NO_SECRET, libvirt.ERR_NO_DOMAIN_SNAPSHOT,
		libvirt.ERR_NO_DOMAIN_METADATA, libvirt.ERR_NO_DOMAIN_CHECKPOINT,
		libvirt.ERR_NO_DOMAIN_BACKUP, libvirt.ERR_NO_NETWORK_PORT,
		libvirt.ERR_NO_NWFILTER_BINDING, libvirt.ERR_NO_NETWORK_METADATA,
		libvirt.ERR_DEVICE_MISSING:
		return ErrNotFound

	// OPERATION_INVALID is what libvirt says for "domain is not running" / "domain is already
	// running": a state conflict, not a bad request.
	case libvirt.ERR_DOM_EXIST, libvirt.ERR_NETWORK_EXIST, libvirt.ERR_STORAGE_VOL_EXIST,
		libvirt.ERR_NETWORK_PORT_EXIST, libvirt.ERR_OPERATION_INVALID, libvirt.ERR_RESOURCE_BUSY,
		libvirt.ERR_BLOCK_COPY_ACTIVE, libvirt.ERR_MULTIPLE_DOMAINS:
		return ErrConflict

	case libvirt.ERR_NO_CONNECT, libvirt.ERR_INVALID_CONN, libvirt.ERR_RPC,
		libvirt.ERR_AGENT_UNRESPONSIVE, libvirt.ERR_AGENT_UNSYNCED, libvirt.ERR_AUTH_UNAVAILABLE:
		return ErrUnavailable

	case libvirt.ERR_OPERATION_TIMEOUT, libvirt.ERR_AGENT_COMMAND_TIMEOUT:
		return ErrTimeout

	case libvirt.ERR_INVALID_ARG, libvirt.ERR_XML_ERROR, libvirt.ERR_XML_DETAIL,
		libvirt.ERR_XML_INVALID_SCHEMA, libvirt.ERR_CONFIG_UNSUPPORTED,
		libvirt.ERR_ARGUMENT_UNSUPPORTED, libvirt.ERR_OPERATION_UNSUPPORTED,
		libvirt.ERR_NO_SUPPORT, libvirt.ERR_OS_TYPE, libvirt.ERR_INVALID_MAC,
		libvirt.ERR_CPU_INCOMPATIBLE:
		return ErrInvalid

	// defineXML says a name or uuid is taken by another domain only in the message: "domain
	// 'x' already exists with uuid ..." / "domain 'x' is already defined with uuid ...".
	case libvirt.ERR_OPERATION_FAILED:
		if strings.Contains(le.Message, "already exists with uuid") ||
			strings.Contains(le.Message, "already defined with uuid") {
			return ErrConflict
		}

	// A broken or refused socket comes back as a system or internal error raised by the RPC
	// layer ("Failed to connect socket", "client socket is closed"); the same codes from
	// elsewhere (a missing file, a QEMU failure) say nothing about reachability.
	case libvirt.ERR_SYSTEM_ERROR, libvirt.ERR_INTERNAL_ERROR:
		if le.Domain == libvirt.FROM_RPC || le.Domain == libvirt.FROM_REMOTE {
			return ErrUnavailable
		}
	}
	return nil
}
