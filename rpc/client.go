package rpc

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// ClientConfig configures a Client.
type ClientConfig struct {
	// Exchange is the control exchange; DefaultExchange ("nova") when empty.
	Exchange string
	// Timeout is the default call timeout (rpc_response_timeout, 60 s); it also bounds
	// publishing a cast whose context has no deadline.
	Timeout time.Duration
	Logger  *slog.Logger
}

// Target addresses a call or cast, like oslo's Target.
type Target struct {
	Topic string
	// Server, when set, sends to Topic.Server instead of any server of Topic.
	Server string
	// Namespace and Version go into the message ("" leaves them out).
	Namespace string
	Version   string
	// Fanout casts to every server of Topic (calls cannot be fanout).
	Fanout bool
	// Exchange overrides the client's control exchange.
	Exchange string
}

// CallOptions tune one call.
type CallOptions struct {
	// Timeout is the total wait for the reply; the client's default when 0.
	Timeout time.Duration
	// CallMonitorTimeout, when set, is sent as _timeout: the server then sends keep-alives
	// every half of it, and the call fails if none arrives for this long (the total Timeout
	// still applies).
	CallMonitorTimeout time.Duration
}

// Client makes calls and casts. Its reply queue reply_<uuid hex> is declared on the first
// call and consumed for the life of the client.
type Client struct {
	t   Transport
	cfg ClientConfig
	log *slog.Logger

	mu      sync.Mutex
	replyQ  string
	sub     Subscription
	closed  bool
	waiters map[string]*waiter
	dups    idCache
}

// waiter collects the replies to one call.
type waiter struct {
	mu      sync.Mutex
	replies []*Reply
	signal  chan struct{}
}

func (w *waiter) push(r *Reply) {
	w.mu.Lock()
	w.replies = append(w.replies, r)
	w.mu.Unlock()
	select {
	case w.signal <- struct{}{}:
	default:
	}
}

func (w *waiter) take() []*Reply {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.replies
	w.replies = nil
	return out
}

// NewClient builds a client on t.
func NewClient(t Transport, cfg ClientConfig) *Client {
	if cfg.Exchange == "" {
		cfg.Exchange = DefaultExchange
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 60 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Client{t: t, cfg: cfg, log: log.With("component", "rpc.client"), waiters: map[string]*waiter{}}
}

// Close stops consuming replies; calls waiting fail with ErrClosed.
func (c *Client) Close(ctx context.Context) error {
	c.mu.Lock()
	c.closed = true
	sub := c.sub
	c.sub = nil
	for _, w := range c.waiters {
		w.push(nil)
	}
	c.mu.Unlock()
	if sub == nil {
		return nil
	}
	return sub.Close(ctx)
}

// ReplyQueue is the name of the reply queue, "" before the first call.
func (c *Client) ReplyQueue() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.replyQ
}

// replyQueue declares and consumes the reply queue on first use.
func (c *Client) replyQueue(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return "", ErrClosed
	}
	if c.sub != nil {
		return c.replyQ, nil
	}
	name := "reply_" + newHexID()
	sub, err := c.t.Listen(ctx, ListenSpec{ReplyQueue: name}, c.onReply)
	if err != nil {
		return "", fmt.Errorf("rpc: declaring reply queue: %w", err)
	}
	c.replyQ, c.sub = name, sub
	return name, nil
}

func (c *Client) onReply(d Delivery) {
	r, err := DecodeReply(d.Body)
	if err != nil {
		c.log.Warn("invalid reply", "error", err)
		return
	}
	if c.dups.seen(r.UniqueID) {
		return
	}
	c.mu.Lock()
	w := c.waiters[r.MsgID]
	c.mu.Unlock()
	if w == nil {
		c.log.Info("no call waiting for reply", "msg_id", r.MsgID)
		return
	}
	w.push(r)
}

func (c *Client) request(target Target, rc Context, method string, args map[string]any) (*Request, error) {
	req := &Request{Method: method, Version: target.Version, Namespace: target.Namespace,
		Args: make(map[string]json.RawMessage, len(args)), UniqueID: newHexID(), Context: rc}
	for k, v := range args {
		raw, err := marshalResult(v)
		if err != nil {
			return nil, fmt.Errorf("rpc: encoding argument %q of %s: %w", k, method, err)
		}
		req.Args[k] = raw
	}
	return req, nil
}

func (c *Client) destination(target Target) (Destination, error) {
	if target.Topic == "" {
		return Destination{}, fmt.Errorf("rpc: target has no topic")
	}
	if target.Fanout {
		return Destination{Kind: ToFanout, Topic: target.Topic}, nil
	}
	ex := target.Exchange
	if ex == "" {
		ex = c.cfg.Exchange
	}
	key := target.Topic
	if target.Server != "" {
		key += "." + target.Server
	}
	return Destination{Kind: ToTopic, Exchange: ex, Topic: key}, nil
}

// Cast sends method without waiting for a reply (to every server when target.Fanout).
func (c *Client) Cast(ctx context.Context, target Target, rc Context, method string, args map[string]any) error {
	dst, err := c.destination(target)
	if err != nil {
		return err
	}
	req, err := c.request(target, rc, method, args)
	if err != nil {
		return err
	}
	body, err := EncodeRequest(req)
	if err != nil {
		return err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.Timeout)
		defer cancel()
	}
	// oslo.messaging's debug line for every message sent ("CAST unique_id: ... exchange ...
	// topic ..."): the scale bench counts a node's conductor traffic from it.
	c.log.Debug("CAST", "method", method, "exchange", dst.Exchange, "topic", dst.Topic, "fanout", target.Fanout)
	if err := c.t.Send(ctx, dst, body); err != nil {
		return fmt.Errorf("rpc: cast %s to %s: %w", method, dst.Topic, err)
	}
	return nil
}

// Call sends method and waits for its result (raw JSON). A remote exception comes back as
// *RemoteError; no reply in time as an error matching ErrTimeout ("MessagingTimeout: ...").
func (c *Client) Call(ctx context.Context, target Target, rc Context, method string, args map[string]any, opts CallOptions) (json.RawMessage, error) {
	if target.Fanout {
		return nil, fmt.Errorf("rpc: a call cannot be used with fanout (method %s)", method)
	}
	dst, err := c.destination(target)
	if err != nil {
		return nil, err
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = c.cfg.Timeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := c.request(target, rc, method, args)
	if err != nil {
		return nil, err
	}
	replyQ, err := c.replyQueue(ctx)
	if err != nil {
		return nil, c.timeoutOr(ctx, "", err)
	}
	req.MsgID, req.ReplyQ, req.ClientTimeout = newHexID(), replyQ, opts.CallMonitorTimeout
	body, err := EncodeRequest(req)
	if err != nil {
		return nil, err
	}
	w := &waiter{signal: make(chan struct{}, 1)}
	c.mu.Lock()
	c.waiters[req.MsgID] = w
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.waiters, req.MsgID)
		c.mu.Unlock()
	}()
	dst.TTL = timeout
	c.log.Debug("CALL", "msg_id", req.MsgID, "method", method, "exchange", dst.Exchange, "topic", dst.Topic)
	if err := c.t.Send(ctx, dst, body); err != nil {
		return nil, c.timeoutOr(ctx, req.MsgID, fmt.Errorf("rpc: call %s to %s: %w", method, dst.Topic, err))
	}
	return c.wait(ctx, w, req.MsgID, opts.CallMonitorTimeout)
}

// wait is ReplyWaiter.wait: replies until one says ending; a failure becomes the error; a
// keep-alive (ending false, no result) restarts the call-monitor timer.
func (c *Client) wait(ctx context.Context, w *waiter, msgID string, monitor time.Duration) (json.RawMessage, error) {
	var monitorC <-chan time.Time
	var monitorT *time.Timer
	if monitor > 0 {
		monitorT = time.NewTimer(monitor)
		defer monitorT.Stop()
		monitorC = monitorT.C
	}
	result := json.RawMessage("null")
	var failure error
	for {
		select {
		case <-w.signal:
		case <-monitorC:
			return nil, fmt.Errorf("%w: Timed out waiting for a reply to message ID %s (no keep-alive for %s)", ErrTimeout, msgID, monitor)
		case <-ctx.Done():
			return nil, c.timeoutOr(ctx, msgID, ctx.Err())
		}
		for _, r := range w.take() {
			if r == nil {
				return nil, ErrClosed
			}
			switch {
			case r.Failure != nil:
				failure = parseFailure(*r.Failure)
			case !isNull(r.Result):
				result = r.Result
			case !r.Ending && monitorT != nil:
				monitorT.Reset(monitor)
			}
			if r.Ending {
				if failure != nil {
					return nil, failure
				}
				return result, nil
			}
		}
	}
}

// timeoutOr reports a deadline as oslo's MessagingTimeout and anything else as is.
func (c *Client) timeoutOr(ctx context.Context, msgID string, err error) error {
	if ctx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("%w: Timed out waiting for a reply to message ID %s: %w", ErrTimeout, msgID, err)
	}
	return err
}
