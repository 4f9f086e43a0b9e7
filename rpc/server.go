package rpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// ServerConfig describes an RPC server: oslo's Target(topic, server) on the control exchange,
// and its endpoints.
type ServerConfig struct {
	// Exchange is the control exchange; DefaultExchange ("nova") when empty.
	Exchange string
	// Topic and Server: the server consumes Topic, Topic.Server and Topic_fanout.
	Topic  string
	Server string
	// Endpoints are tried in order, as oslo's dispatcher does.
	Endpoints []Endpoint
	// PingEnabled adds oslo_rpc_server_ping (rpc_ping_enabled, default false).
	PingEnabled bool
	// MaxConcurrency bounds requests handled at once (executor_thread_pool_size, 64).
	MaxConcurrency int
	// ReplyTimeout bounds retrying a reply whose queue is missing
	// (kombu_missing_consumer_retry_timeout, 60 s).
	ReplyTimeout time.Duration
	Logger       *slog.Logger
}

// Server consumes requests and dispatches them to endpoints. Each message is acknowledged on
// receipt (oslo's behaviour: a crash loses it rather than running it twice), duplicates are
// dropped by _unique_id, calls get one reply {result, failure, ending: true} plus
// {ending: false} keep-alives every _timeout/2 while the handler runs.
type Server struct {
	t         Transport
	cfg       ServerConfig
	endpoints []Endpoint
	log       *slog.Logger
	replies   *replier
	dups      idCache
	sem       chan struct{}

	accept     context.Context // cancelled when Stop begins
	stopAccept context.CancelFunc
	handlers   context.Context // cancelled when Stop gives up on handlers
	abandon    context.CancelFunc

	mu       sync.Mutex
	sub      Subscription
	started  bool
	inflight map[*inflight]struct{}
	wg       sync.WaitGroup
}

// inflight is one request being handled.
type inflight struct {
	req      *Request
	finished chan struct{} // closed when the handler returned or the request was abandoned
	once     sync.Once
}

// NewServer checks cfg and builds a server; Start begins consuming.
func NewServer(t Transport, cfg ServerConfig) (*Server, error) {
	if cfg.Exchange == "" {
		cfg.Exchange = DefaultExchange
	}
	if cfg.Topic == "" || cfg.Server == "" {
		return nil, fmt.Errorf("rpc: server needs a topic and a server name")
	}
	if cfg.MaxConcurrency <= 0 {
		cfg.MaxConcurrency = 64
	}
	if cfg.ReplyTimeout <= 0 {
		cfg.ReplyTimeout = 60 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	endpoints := append([]Endpoint(nil), cfg.Endpoints...)
	if cfg.PingEnabled {
		endpoints = append(endpoints, pingEndpoint())
	}
	for _, ep := range endpoints {
		if _, err := parseVersion(ep.version()); err != nil {
			return nil, fmt.Errorf("rpc: endpoint namespace %q: %w", ep.Namespace, err)
		}
	}
	s := &Server{
		t: t, cfg: cfg, endpoints: endpoints,
		log:      log.With("component", "rpc.server", "topic", cfg.Topic, "server", cfg.Server),
		replies:  &replier{t: t, timeout: cfg.ReplyTimeout, gone: newObsoleteQueues()},
		sem:      make(chan struct{}, cfg.MaxConcurrency),
		inflight: map[*inflight]struct{}{},
	}
	s.accept, s.stopAccept = context.WithCancel(context.Background())
	s.handlers, s.abandon = context.WithCancel(context.Background())
	return s, nil
}

// Start declares the server's queues and begins consuming; it returns once they exist.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return fmt.Errorf("rpc: server already started")
	}
	sub, err := s.t.Listen(ctx, ListenSpec{Exchange: s.cfg.Exchange, Topic: s.cfg.Topic, Server: s.cfg.Server}, s.deliver)
	if err != nil {
		return fmt.Errorf("rpc: starting server for %s.%s: %w", s.cfg.Topic, s.cfg.Server, err)
	}
	s.sub, s.started = sub, true
	return nil
}

// Queues returns the queues consumed (topic, topic.server, fanout), once started.
func (s *Server) Queues() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sub == nil {
		return nil
	}
	return s.sub.Queues()
}

// inflightCount is the number of requests being handled.
func (s *Server) inflightCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.inflight)
}

// Stop stops consuming and waits for requests in flight until ctx ends; calls still running
// then get a failure reply, their handlers' contexts are cancelled, and Stop returns an error
// saying how many were abandoned.
func (s *Server) Stop(ctx context.Context) error {
	s.stopAccept()
	s.mu.Lock()
	sub := s.sub
	s.sub = nil
	s.mu.Unlock()
	var errs []error
	if sub != nil {
		if err := sub.Close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return errors.Join(errs...)
	case <-ctx.Done():
	}
	s.mu.Lock()
	left := make([]*inflight, 0, len(s.inflight))
	for f := range s.inflight {
		left = append(left, f)
	}
	s.mu.Unlock()
	var replies sync.WaitGroup
	for _, f := range left {
		replies.Add(1)
		go func() {
			defer replies.Done()
			s.finish(f, nil, NovaError("NovaException",
				fmt.Sprintf("%s was abandoned: the compute service is stopping", f.req.Method), nil))
		}()
	}
	replies.Wait()
	// Only now cancel the handlers: their own (cancelled) replies lose the race.
	s.abandon()
	return errors.Join(append(errs, fmt.Errorf("rpc: stop deadline passed with %d requests in flight: %w", len(left), ctx.Err()))...)
}

// deliver runs on the subscription's goroutine: decode, drop duplicates, then hand the
// request to a worker, waiting for a free one (bounded concurrency).
func (s *Server) deliver(d Delivery) {
	req, err := DecodeRequest(d.Body)
	if err != nil {
		s.log.Error("invalid message", "queue", d.Queue, "error", err)
		if req != nil && req.MsgID != "" && req.ReplyQ != "" {
			f := &inflight{req: req, finished: make(chan struct{})}
			s.track(f)
			go s.finish(f, nil, builtinError("ValueError", err.Error()))
		}
		return
	}
	log := s.log.With("method", req.Method, "request_id", req.Context.RequestID(), "msg_id", req.MsgID)
	if s.dups.seen(req.UniqueID) {
		log.Warn("ignoring duplicate message", "unique_id", req.UniqueID)
		return
	}
	f := &inflight{req: req, finished: make(chan struct{})}
	select {
	case s.sem <- struct{}{}:
	case <-s.accept.Done():
		// Acknowledged already: fail it cleanly rather than drop it silently.
		log.Warn("request arrived while stopping")
		s.track(f)
		go s.finish(f, nil, NovaError("NovaException", req.Method+" refused: the compute service is stopping", nil))
		return
	}
	log.Debug("dispatching", "queue", d.Queue)
	s.track(f)
	go s.handle(f, log)
}

func (s *Server) track(f *inflight) {
	s.mu.Lock()
	s.inflight[f] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
}

func (s *Server) handle(f *inflight, log *slog.Logger) {
	defer func() { <-s.sem }()
	req := f.req
	hbDone := make(chan struct{})
	if interval := req.ClientTimeout / 2; req.IsCall() && interval >= time.Second {
		go s.keepAlive(f, interval, hbDone, log)
	} else {
		close(hbDone)
	}
	ctx := WithRequestContext(s.handlers, req.Context)
	result, err := dispatch(ctx, s.endpoints, req)
	var failure *RemoteError
	var raw []byte
	if err == nil {
		if raw, err = marshalResult(result); err != nil {
			err = fmt.Errorf("encoding the result of %s: %w", req.Method, err)
		}
	}
	if err != nil {
		failure = failureFor(req.Method, err)
		var re *RemoteError
		var pe *panicError
		switch {
		case errors.As(err, &re):
			log.Info("request failed", "class", failure.Class, "error", failure.Message)
		case errors.As(err, &pe):
			log.Error("request handler panicked", "error", err, "stack", string(pe.stack))
		default:
			log.Error("request failed", "error", err)
		}
	}
	f.once.Do(func() { close(f.finished) })
	<-hbDone
	s.finish(f, raw, failure)
}

// keepAlive sends ending:false replies every interval until the handler finishes; a failed
// keep-alive ends them (oslo's watchdog does the same: the caller will time out).
func (s *Server) keepAlive(f *inflight, interval time.Duration, done chan<- struct{}, log *slog.Logger) {
	defer close(done)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-f.finished:
			return
		case <-tick.C:
			if err := s.replies.heartbeat(f.req, interval); err != nil {
				log.Debug("call-monitor heartbeat failed", "error", err)
				return
			}
		}
	}
}

// finish sends the one final reply of a call (or nothing for a cast) and forgets the request.
// Stop may race with the handler: whoever comes first replies.
func (s *Server) finish(f *inflight, result []byte, failure *RemoteError) {
	s.mu.Lock()
	_, ok := s.inflight[f]
	delete(s.inflight, f)
	s.mu.Unlock()
	if !ok {
		return
	}
	defer s.wg.Done()
	f.once.Do(func() { close(f.finished) })
	if !f.req.IsCall() || f.req.ReplyQ == "" {
		return
	}
	reply := &Reply{Result: result, Ending: true}
	if failure != nil {
		text, err := serializeFailure(failure)
		if err != nil {
			text, _ = serializeFailure(builtinError("TypeError", err.Error()))
		}
		reply.Result, reply.Failure = nil, &text
	}
	if err := s.replies.send(f.req, reply); err != nil {
		s.log.Error("cannot send reply", "method", f.req.Method, "msg_id", f.req.MsgID, "reply_q", f.req.ReplyQ, "error", err)
	}
}
