package rpc

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Exception modules the Python side rebuilds exceptions from: nova allows nova.exception,
// builtins are always allowed (oslo_messaging/_drivers/common.py deserialize_remote_exception).
const (
	ModuleNovaException = "nova.exception"
	ModuleBuiltins      = "builtins"
	ModuleDispatcher    = "oslo_messaging.rpc.dispatcher"
)

// remotePostfix is the suffix oslo adds to rebuilt remote exception classes and strips before
// re-sending them.
const remotePostfix = "_Remote"

// RemoteError is an exception in oslo's wire shape (serialize_remote_exception): the Python
// class and module, the message, the traceback lines, and the constructor args/kwargs the
// receiver re-raises it with. A Go client gets failures as *RemoteError (use errors.As); a Go
// handler returns one to make Python raise that class, e.g. NovaError("InstanceNotFound", ...).
type RemoteError struct {
	Class     string
	Module    string
	Message   string
	Traceback []string
	Args      []any
	Kwargs    map[string]any
}

func (e *RemoteError) Error() string {
	name := e.Class
	if e.Module != "" && e.Module != ModuleBuiltins {
		name = e.Module + "." + e.Class
	}
	return "remote error: " + name + ": " + e.Message
}

// Is lets errors.Is(err, ErrNoSuchMethod / ErrUnsupportedVersion / ErrTimeout) match the oslo
// classes.
func (e *RemoteError) Is(target error) bool {
	switch target {
	case ErrNoSuchMethod:
		return e.Class == "NoSuchMethod"
	case ErrUnsupportedVersion:
		return e.Class == "UnsupportedVersion"
	case ErrTimeout:
		return e.Class == "MessagingTimeout"
	}
	return false
}

// NovaError builds a nova.exception.<class> failure. kwargs are the exception's format
// arguments (nova keeps them plus "code", default 500); message is the formatted text, which
// nova's constructor takes as its first argument.
func NovaError(class, message string, kwargs map[string]any) *RemoteError {
	kw := make(map[string]any, len(kwargs)+1)
	for k, v := range kwargs {
		kw[k] = v
	}
	if _, ok := kw["code"]; !ok {
		kw["code"] = 500
	}
	return &RemoteError{Class: class, Module: ModuleNovaException, Message: message, Args: []any{message}, Kwargs: kw}
}

// dispatcherError builds the oslo dispatcher exceptions, whose only constructor arg is the
// message.
func dispatcherError(class, message string) *RemoteError {
	return &RemoteError{Class: class, Module: ModuleDispatcher, Message: message, Args: []any{message}, Kwargs: map[string]any{}}
}

func noSuchMethod(method string) *RemoteError {
	return dispatcherError("NoSuchMethod", "Endpoint does not support RPC method "+method)
}

func unsupportedVersion(version, method string) *RemoteError {
	msg := "Endpoint does not support RPC version " + version
	if method != "" {
		msg += ". Attempted method: " + method
	}
	return dispatcherError("UnsupportedVersion", msg)
}

// builtinError builds a Python builtins exception (always rebuildable on the Python side).
func builtinError(class, message string) *RemoteError {
	return &RemoteError{Class: class, Module: ModuleBuiltins, Message: message, Args: []any{message}, Kwargs: map[string]any{}}
}

// failureFor turns a handler error into the failure sent back: a *RemoteError anywhere in the
// chain is sent as is; anything else becomes nova.exception.NovaException with the error text,
// which nova's callers catch generically.
func failureFor(method string, err error) *RemoteError {
	var re *RemoteError
	if errors.As(err, &re) {
		out := *re
		if out.Args == nil {
			out.Args = []any{out.Message}
		}
		if out.Kwargs == nil {
			out.Kwargs = map[string]any{}
		}
		if out.Module == "" {
			out.Module = ModuleNovaException
		}
		if len(out.Traceback) == 0 {
			out.Traceback = traceback(method, &out)
		}
		return &out
	}
	out := NovaError("NovaException", err.Error(), nil)
	out.Traceback = traceback(method, out)
	return out
}

// traceback stands in for Python's formatted traceback: the Python side appends it to the
// exception text.
func traceback(method string, e *RemoteError) []string {
	return []string{
		"Traceback (most recent call last):\n",
		fmt.Sprintf("  File \"novalet\", in %s\n", method),
		fmt.Sprintf("%s.%s: %s\n", e.Module, e.Class, e.Message),
	}
}

// wireFailure is the JSON object inside the failure string.
type wireFailure struct {
	Class   string         `json:"class"`
	Module  string         `json:"module"`
	Message string         `json:"message"`
	Tb      []string       `json:"tb"`
	Args    []any          `json:"args"`
	Kwargs  map[string]any `json:"kwargs"`
}

// serializeFailure is serialize_remote_exception: the JSON text of the failure, with the
// _Remote suffix stripped from a re-raised remote exception.
func serializeFailure(e *RemoteError) (string, error) {
	w := wireFailure{Class: e.Class, Module: e.Module, Message: e.Message, Tb: e.Traceback, Args: e.Args, Kwargs: e.Kwargs}
	if strings.HasSuffix(w.Class, remotePostfix) && strings.HasSuffix(w.Module, remotePostfix) {
		w.Class = strings.TrimSuffix(w.Class, remotePostfix)
		w.Module = strings.TrimSuffix(w.Module, remotePostfix)
	}
	if w.Tb == nil {
		w.Tb = []string{}
	}
	if w.Args == nil {
		w.Args = []any{}
	}
	if w.Kwargs == nil {
		w.Kwargs = map[string]any{}
	}
	b, err := encodeJSON(w)
	if err != nil {
		return "", fmt.Errorf("rpc: encoding failure %s: %w", w.Class, err)
	}
	return string(b), nil
}

// parseFailure reads a failure string into a RemoteError; unreadable text still yields one,
// carrying the raw text as its message.
func parseFailure(s string) *RemoteError {
	var w wireFailure
	if err := decodeJSON([]byte(s), &w); err != nil {
		return &RemoteError{Class: "RemoteError", Message: s}
	}
	if w.Module == "exceptions" {
		w.Module = ModuleBuiltins // Python 2 senders
	}
	return &RemoteError{Class: w.Class, Module: w.Module, Message: w.Message, Traceback: w.Tb, Args: w.Args, Kwargs: w.Kwargs}
}

// marshalResult encodes a handler's return value (json.RawMessage passes through).
func marshalResult(v any) (json.RawMessage, error) {
	if v == nil {
		return json.RawMessage("null"), nil
	}
	if raw, ok := v.(json.RawMessage); ok {
		if len(raw) == 0 {
			return json.RawMessage("null"), nil
		}
		return raw, nil
	}
	return encodeJSON(v)
}
