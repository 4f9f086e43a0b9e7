package rpc

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Reply timing (oslo: kombu_missing_consumer_retry_timeout, retried every 0.25 s; gone reply
// queues remembered for 60 s, at most 200).
const (
	replyRetryEvery      = 250 * time.Millisecond
	obsoleteReplyTTL     = 60 * time.Second
	obsoleteReplyMaxSize = 200
)

// replier sends replies and call-monitor heartbeats for a server.
type replier struct {
	t       Transport
	timeout time.Duration
	gone    *obsoleteQueues
}

// send publishes one reply to the caller's reply queue on the default exchange. A missing
// queue is retried (the caller may be reconnecting) until timeout, then the queue is
// remembered as gone so later replies to it are dropped at once, like oslo's
// ObsoleteReplyQueuesCache.
func (r *replier) send(req *Request, reply *Reply) error {
	if r.gone.has(req.ReplyQ) {
		return fmt.Errorf("%w: reply queue %s is gone; dropping reply to %s", ErrUndeliverable, req.ReplyQ, req.MsgID)
	}
	reply.MsgID = req.MsgID
	reply.UniqueID = newHexID()
	body, err := EncodeReply(reply)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	defer cancel()
	for {
		err := r.t.Send(ctx, Destination{Kind: ToQueue, Topic: req.ReplyQ}, body)
		if err == nil {
			return nil
		}
		if !errors.Is(err, ErrUndeliverable) || ctx.Err() != nil {
			if errors.Is(err, ErrUndeliverable) {
				r.gone.add(req.ReplyQ)
			}
			return err
		}
		select {
		case <-time.After(replyRetryEvery):
		case <-ctx.Done():
			r.gone.add(req.ReplyQ)
			return fmt.Errorf("%w: reply queue %s missing for %s: %w", ErrUndeliverable, req.ReplyQ, r.timeout, err)
		}
	}
}

// heartbeat sends one {"result": null, "failure": null, "ending": false} keep-alive, once,
// within interval: a keep-alive that cannot be sent is not worth retrying.
func (r *replier) heartbeat(req *Request, interval time.Duration) error {
	if r.gone.has(req.ReplyQ) {
		return ErrUndeliverable
	}
	reply := &Reply{MsgID: req.MsgID, UniqueID: newHexID(), Ending: false}
	body, err := EncodeReply(reply)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), interval)
	defer cancel()
	return r.t.Send(ctx, Destination{Kind: ToQueue, Topic: req.ReplyQ}, body)
}

// obsoleteQueues remembers reply queues found missing.
type obsoleteQueues struct {
	mu sync.Mutex
	m  map[string]time.Time
}

func newObsoleteQueues() *obsoleteQueues { return &obsoleteQueues{m: map[string]time.Time{}} }

func (o *obsoleteQueues) has(q string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	t, ok := o.m[q]
	if ok && time.Since(t) > obsoleteReplyTTL {
		delete(o.m, q)
		return false
	}
	return ok
}

func (o *obsoleteQueues) add(q string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.m) >= obsoleteReplyMaxSize {
		var oldest string
		var at time.Time
		for k, t := range o.m {
			if oldest == "" || t.Before(at) {
				oldest, at = k, t
			}
		}
		delete(o.m, oldest)
	}
	o.m[q] = time.Now()
}

// idCache is oslo's _MsgIdCache: the last 16 _unique_id values seen.
type idCache struct {
	mu   sync.Mutex
	ids  [16]string
	next int
}

// seen reports whether id was received before, and remembers it.
func (c *idCache) seen(id string) bool {
	if id == "" {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, have := range c.ids {
		if have == id {
			return true
		}
	}
	c.ids[c.next] = id
	c.next = (c.next + 1) % len(c.ids)
	return false
}
