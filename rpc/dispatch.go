package rpc

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"
)

// HandlerFunc serves one RPC method. ctx carries the request context (RequestContextFrom) and
// is cancelled when the server gives up on the request at a hard stop. The result must
// encode to JSON (json.RawMessage passes through); return a *RemoteError (e.g. NovaError) to
// make Python raise a specific class.
type HandlerFunc func(ctx context.Context, req *Request) (any, error)

// Endpoint is one oslo endpoint: the methods it exposes under a target namespace and version.
// nova-compute has ComputeManager (6.1, no namespace), _ComputeV5Proxy (5.13) and BaseRPCAPI
// (namespace "baseapi", 1.1).
type Endpoint struct {
	// Namespace is the target namespace; "" is oslo's None.
	Namespace string
	// Version is the highest version served; "" means "1.0", oslo's default for endpoints
	// without a target.
	Version string
	Methods map[string]HandlerFunc
}

func (e Endpoint) version() string {
	if e.Version == "" {
		return "1.0"
	}
	return e.Version
}

// pingEndpoint is oslo's PingEndpoint (rpc_ping_enabled): no target, so namespace None and
// version 1.0.
func pingEndpoint() Endpoint {
	return Endpoint{Methods: map[string]HandlerFunc{
		"oslo_rpc_server_ping": func(context.Context, *Request) (any, error) { return "pong", nil },
	}}
}

// dispatch is RPCDispatcher.dispatch: the first endpoint whose namespace matches and whose
// version is compatible and that has the method serves it; methods starting with "_" are
// never exposed (DefaultRPCAccessPolicy). A compatible endpoint without the method means
// NoSuchMethod, no compatible endpoint means UnsupportedVersion.
func dispatch(ctx context.Context, endpoints []Endpoint, req *Request) (result any, err error) {
	version := req.Version
	if version == "" {
		version = "1.0"
	}
	foundCompatible := false
	for _, ep := range endpoints {
		if ep.Namespace != req.Namespace {
			continue
		}
		ok, verr := versionCompatible(ep.version(), version)
		if verr != nil {
			return nil, builtinError("ValueError", verr.Error())
		}
		if !ok {
			continue
		}
		if h, ok := ep.Methods[req.Method]; ok && !strings.HasPrefix(req.Method, "_") {
			return callHandler(ctx, h, req)
		}
		foundCompatible = true
	}
	if foundCompatible {
		return nil, noSuchMethod(req.Method)
	}
	return nil, unsupportedVersion(version, req.Method)
}

// callHandler turns a handler panic into a failure reply instead of a dead process.
func callHandler(ctx context.Context, h HandlerFunc, req *Request) (result any, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &panicError{method: req.Method, value: p, stack: debug.Stack()}
		}
	}()
	return h(ctx, req)
}

// panicError is a recovered handler panic; the stack goes to the log, not over the wire.
type panicError struct {
	method string
	value  any
	stack  []byte
}

func (e *panicError) Error() string { return fmt.Sprintf("handler %s panicked: %v", e.method, e.value) }
