package rpc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Envelope keys and version (oslo_messaging/_drivers/common.py, message format 2.0).
const (
	envelopeVersionKey = "oslo.version"
	envelopeMessageKey = "oslo.message"
	envelopeVersion    = "2.0"
	contextPrefix      = "_context_"
)

// Request is an RPC request as oslo's RPCClient builds it: the method, its keyword arguments
// (serialized entities, e.g. Nova object primitives, kept as raw JSON), the target version and
// namespace, the call fields and the request context.
type Request struct {
	Method string
	Args   map[string]json.RawMessage
	// Version is the requested API version; "" when the message has none (oslo reads "1.0").
	Version string
	// Namespace is the target namespace; "" when the message has none (oslo's None).
	Namespace string
	// MsgID and ReplyQ are set for calls only.
	MsgID  string
	ReplyQ string
	// ClientTimeout is the call-monitor timeout (_timeout); 0 when null or unusable, as oslo's
	// dispatcher treats it.
	ClientTimeout time.Duration
	UniqueID      string
	Context       Context
}

// IsCall says whether the sender waits for a reply.
func (r *Request) IsCall() bool { return r.MsgID != "" }

// Arg decodes the keyword argument name into v; a missing argument is an error.
func (r *Request) Arg(name string, v any) error {
	raw, ok := r.Args[name]
	if !ok {
		return fmt.Errorf("%w: %s() missing argument %q", ErrInvalidMessage, r.Method, name)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%w: %s() argument %q: %w", ErrInvalidMessage, r.Method, name, err)
	}
	return nil
}

// unwrapEnvelope returns the inner message object of an AMQP body: the decoded 2.0 envelope,
// or the body itself when it lacks either envelope key (a 1.0 message), like deserialize_msg.
func unwrapEnvelope(body []byte) (map[string]json.RawMessage, error) {
	var outer map[string]json.RawMessage
	if err := decodeJSON(body, &outer); err != nil || outer == nil {
		return nil, fmt.Errorf("%w: body is not a JSON object", ErrInvalidMessage)
	}
	rawVer, hasVer := outer[envelopeVersionKey]
	rawMsg, hasMsg := outer[envelopeMessageKey]
	if !hasVer || !hasMsg {
		return outer, nil
	}
	var ver string
	if err := json.Unmarshal(rawVer, &ver); err != nil {
		return nil, fmt.Errorf("%w: %s is not a string", ErrInvalidMessage, envelopeVersionKey)
	}
	if ok, err := versionCompatible(envelopeVersion, ver); err != nil || !ok {
		return nil, fmt.Errorf("%w: unsupported envelope version %q", ErrInvalidMessage, ver)
	}
	var inner string
	if err := json.Unmarshal(rawMsg, &inner); err != nil {
		return nil, fmt.Errorf("%w: %s is not a string", ErrInvalidMessage, envelopeMessageKey)
	}
	var msg map[string]json.RawMessage
	if err := decodeJSON([]byte(inner), &msg); err != nil || msg == nil {
		return nil, fmt.Errorf("%w: %s is not a JSON object", ErrInvalidMessage, envelopeMessageKey)
	}
	return msg, nil
}

// DecodeRequest parses an AMQP body into a Request. On error the returned Request, when not
// nil, still carries what could be read (MsgID, ReplyQ, Method), so the server can send a
// failure reply to a malformed call.
func DecodeRequest(body []byte) (*Request, error) {
	msg, err := unwrapEnvelope(body)
	if err != nil {
		return nil, err
	}
	r := &Request{Context: Context{}}
	var problems []string
	str := func(key string, dst *string) {
		raw, ok := msg[key]
		if !ok || isNull(raw) {
			return
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			problems = append(problems, key+" is not a string")
		}
	}
	str("_msg_id", &r.MsgID)
	str("_reply_q", &r.ReplyQ)
	str("_unique_id", &r.UniqueID)
	str("method", &r.Method)
	str("version", &r.Version)
	str("namespace", &r.Namespace)
	if r.Method == "" {
		problems = append(problems, "no method")
	}
	if raw, ok := msg["version"]; ok && isNull(raw) {
		problems = append(problems, "version is null")
	}
	if raw, ok := msg["args"]; ok {
		if err := decodeJSON(raw, &r.Args); err != nil || r.Args == nil {
			problems = append(problems, "args is not an object")
		}
	}
	if r.Args == nil {
		r.Args = map[string]json.RawMessage{}
	}
	if raw, ok := msg["_timeout"]; ok {
		r.ClientTimeout = clientTimeout(raw)
	}
	for k, raw := range msg {
		if name, ok := strings.CutPrefix(k, contextPrefix); ok {
			var v any
			if err := decodeJSON(raw, &v); err != nil {
				problems = append(problems, k+" is not JSON")
				continue
			}
			r.Context[name] = v
		}
	}
	if len(problems) > 0 {
		return r, fmt.Errorf("%w: %s", ErrInvalidMessage, strings.Join(problems, "; "))
	}
	return r, nil
}

// clientTimeout reads _timeout like the dispatcher's int(client_timeout): numbers truncate,
// numeric strings parse, anything else (null, garbage) disables the call monitor.
func clientTimeout(raw json.RawMessage) time.Duration {
	var v any
	if decodeJSON(raw, &v) != nil {
		return 0
	}
	var secs int64
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			secs = i
		} else if f, err := x.Float64(); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) && math.Abs(f) < 1e9 {
			secs = int64(f)
		}
	case string:
		i, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		if err != nil {
			return 0
		}
		secs = i
	case bool:
		if x {
			secs = 1
		}
	}
	if secs <= 0 || secs > 1<<31 {
		return 0
	}
	return time.Duration(secs) * time.Second
}

// EncodeRequest builds the AMQP body of r: the inner message JSON-encoded as a string inside
// the 2.0 envelope. Only call fields that are set are written; _timeout is written (null when
// zero) for calls, as oslo does.
func EncodeRequest(r *Request) ([]byte, error) {
	msg := map[string]any{"method": r.Method}
	args := r.Args
	if args == nil {
		args = map[string]json.RawMessage{}
	}
	msg["args"] = args
	if r.Version != "" {
		msg["version"] = r.Version
	}
	if r.Namespace != "" {
		msg["namespace"] = r.Namespace
	}
	if r.MsgID != "" {
		msg["_msg_id"] = r.MsgID
		msg["_reply_q"] = r.ReplyQ
		if r.ClientTimeout > 0 {
			msg["_timeout"] = int64(r.ClientTimeout / time.Second)
		} else {
			msg["_timeout"] = nil
		}
	}
	if r.UniqueID != "" {
		msg["_unique_id"] = r.UniqueID
	}
	for k, v := range r.Context {
		msg[contextPrefix+k] = v
	}
	return wrapEnvelope(msg)
}

// wrapEnvelope is serialize_msg: {"oslo.version": "2.0", "oslo.message": json.dumps(msg)}.
func wrapEnvelope(msg any) ([]byte, error) {
	inner, err := encodeJSON(msg)
	if err != nil {
		return nil, fmt.Errorf("rpc: encoding message: %w", err)
	}
	return encodeJSON(map[string]string{envelopeVersionKey: envelopeVersion, envelopeMessageKey: string(inner)})
}

// Reply is the inner message of a reply: {result, failure, ending, _msg_id, _unique_id}.
type Reply struct {
	Result json.RawMessage `json:"result"`
	// Failure is the oslo failure JSON (a string on the wire), nil on success.
	Failure  *string `json:"failure"`
	Ending   bool    `json:"ending"`
	MsgID    string  `json:"_msg_id"`
	UniqueID string  `json:"_unique_id,omitempty"`
}

// EncodeReply builds the AMQP body of a reply.
func EncodeReply(r *Reply) ([]byte, error) {
	if len(r.Result) == 0 {
		r.Result = json.RawMessage("null")
	}
	return wrapEnvelope(r)
}

// DecodeReply parses the AMQP body of a reply. A non-string failure is re-encoded as JSON text.
func DecodeReply(body []byte) (*Reply, error) {
	msg, err := unwrapEnvelope(body)
	if err != nil {
		return nil, err
	}
	r := &Reply{Result: msg["result"]}
	if len(r.Result) == 0 {
		r.Result = json.RawMessage("null")
	}
	if raw, ok := msg["_msg_id"]; ok && !isNull(raw) {
		if json.Unmarshal(raw, &r.MsgID) != nil {
			return nil, fmt.Errorf("%w: reply _msg_id is not a string", ErrInvalidMessage)
		}
	}
	if raw, ok := msg["_unique_id"]; ok && !isNull(raw) {
		_ = json.Unmarshal(raw, &r.UniqueID)
	}
	if raw, ok := msg["ending"]; ok {
		var v any
		_ = json.Unmarshal(raw, &v)
		r.Ending = truthy(v)
	}
	if raw, ok := msg["failure"]; ok && !isNull(raw) {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			s = string(raw)
		}
		if s != "" {
			r.Failure = &s
		}
	}
	return r, nil
}

// truthy is Python's bool() for JSON values.
func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case float64:
		return x != 0
	case string:
		return x != ""
	case []any:
		return len(x) > 0
	case map[string]any:
		return len(x) > 0
	}
	return true
}

// versionCompatible is oslo's _utils.version_is_compatible(imp, requested): same major,
// requested minor (and revision) not above ours. An empty imp accepts anything; an empty
// requested version is refused.
func versionCompatible(imp, requested string) (bool, error) {
	if imp == "" {
		return true, nil
	}
	if requested == "" {
		return false, nil
	}
	req, err := parseVersion(requested)
	if err != nil {
		return false, err
	}
	have, err := parseVersion(imp)
	if err != nil {
		return false, err
	}
	if req[0] != have[0] || req[1] > have[1] {
		return false, nil
	}
	if req[1] == have[1] && req[2] > have[2] {
		return false, nil
	}
	return true, nil
}

func parseVersion(v string) ([3]int, error) {
	var out [3]int
	parts := strings.Split(v, ".")
	if len(parts) < 2 {
		return out, fmt.Errorf("invalid version %q", v)
	}
	for i := 0; i < len(parts) && i < 3; i++ {
		n, err := strconv.Atoi(parts[i])
		if err != nil {
			return out, fmt.Errorf("invalid literal for int() with base 10: %q", parts[i])
		}
		out[i] = n
	}
	return out, nil
}

func isNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

// decodeJSON decodes one JSON value, numbers as json.Number so they re-encode unchanged.
func decodeJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data after JSON value")
	}
	return nil
}

// encodeJSON marshals like Python's json.dumps as far as it matters: no HTML escaping.
func encodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
