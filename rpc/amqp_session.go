package rpc

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"
)

// session keeps one AMQP connection open: it dials the hosts round-robin with oslo's back-off,
// and redials whenever the connection is lost. Users take the current connection with get and
// rebuild their channels on a new one; oslo uses one connection to send and another to listen,
// and so do we.
type session struct {
	t       *AMQPTransport
	purpose string

	mu   sync.Mutex
	conn *amqp.Connection
	up   chan struct{} // closed while conn is usable
	kick chan *amqp.Connection

	done chan struct{}
}

func newSession(t *AMQPTransport, purpose string) *session {
	return &session{t: t, purpose: purpose, up: make(chan struct{}), kick: make(chan *amqp.Connection, 1), done: make(chan struct{})}
}

// get returns the live connection, waiting for a reconnect within ctx.
func (s *session) get(ctx context.Context) (*amqp.Connection, error) {
	for {
		s.mu.Lock()
		conn, up := s.conn, s.up
		s.mu.Unlock()
		if conn != nil && !conn.IsClosed() {
			return conn, nil
		}
		select {
		case <-up:
		case <-s.t.closing:
			return nil, ErrClosed
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: no connection to %s: %w", ErrUnavailable, s.t.url, ctx.Err())
		}
	}
}

// broken drops conn (if it is still the current one) so the supervisor dials again; used when
// a broker call overran its deadline, which a heartbeat would otherwise notice only minutes
// later.
func (s *session) broken(conn *amqp.Connection) {
	go func() { _ = conn.CloseDeadline(time.Now().Add(2 * time.Second)) }()
	select {
	case s.kick <- conn:
	default:
	}
}

// run is the supervisor goroutine.
func (s *session) run() {
	defer close(s.done)
	log := s.t.log.With("purpose", s.purpose)
	hosts := s.t.hosts
	next := 0
	failures := 0
	connectedBefore := false
	for {
		h := hosts[next%len(hosts)]
		next++
		conn, err := s.t.dial(h)
		if err != nil {
			delay := s.t.backoff(failures)
			failures++
			log.Error("AMQP server unreachable, retrying", "host", h.String(), "error", err, "retry_in", delay.String())
			select {
			case <-time.After(delay):
				continue
			case <-s.t.closing:
				return
			}
		}
		failures = 0
		log.Info("connected to AMQP server", "host", h.String())
		s.t.state(s.purpose, true, connectedBefore)
		connectedBefore = true
		closed := conn.NotifyClose(make(chan *amqp.Error, 1))
		s.mu.Lock()
		s.conn = conn
		close(s.up)
		s.mu.Unlock()

		lost := false
		for !lost {
			select {
			case e := <-closed:
				log.Warn("AMQP connection lost", "host", h.String(), "error", errString(e))
				s.t.state(s.purpose, false, false)
				lost = true
			case c := <-s.kick:
				if c == conn {
					log.Warn("AMQP connection dropped after a broker call overran its deadline", "host", h.String())
					s.t.state(s.purpose, false, false)
					lost = true
				}
			case <-s.t.closing:
				s.mu.Lock()
				s.conn = nil
				s.mu.Unlock()
				_ = conn.CloseDeadline(time.Now().Add(5 * time.Second))
				return
			}
		}
		s.mu.Lock()
		s.conn = nil
		s.up = make(chan struct{})
		s.mu.Unlock()
		_ = conn.CloseDeadline(time.Now().Add(2 * time.Second))
	}
}

func errString(e *amqp.Error) string {
	if e == nil {
		return "closed"
	}
	return e.Error()
}

// backoff follows kombu's retry_over_time as oslo configures it: interval_start (at least
// 1 s), then growing by interval_step, capped at interval_max.
func (t *AMQPTransport) backoff(failures int) time.Duration {
	start := t.opts.RetryInterval
	if start <= 0 {
		start = time.Second
	}
	d := start + time.Duration(failures)*t.opts.RetryBackoff
	if t.opts.IntervalMax > 0 && d > t.opts.IntervalMax {
		d = t.opts.IntervalMax
	}
	return d
}

// dial makes one TCP (+TLS) connection and the AMQP handshake, all within ConnectTimeout, and
// aborts when the transport closes.
func (t *AMQPTransport) dial(h TransportHost) (*amqp.Connection, error) {
	timeout := t.opts.ConnectTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(t.ctx, timeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", h.Address())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	deadline, _ := ctx.Deadline()
	_ = nc.SetDeadline(deadline)
	abort := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	defer abort()
	if t.tls != nil {
		cfg := t.tls.Clone()
		if cfg.ServerName == "" && !cfg.InsecureSkipVerify {
			cfg.ServerName = h.Hostname
		}
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, fmt.Errorf("%w: TLS handshake with %s: %w", ErrUnavailable, h.Address(), err)
		}
		nc = tc
	}
	cfg := amqp.Config{
		SASL:       []amqp.Authentication{t.auth(h)},
		Vhost:      t.url.VHost(),
		Heartbeat:  t.opts.HeartbeatTimeoutThreshold,
		Locale:     "en_US",
		Properties: t.clientProperties(),
	}
	conn, err := amqp.Open(nc, cfg)
	if err != nil {
		nc.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w: AMQP handshake with %s: %w", ErrUnavailable, h.Address(), ctx.Err())
		}
		return nil, fmt.Errorf("%w: AMQP handshake with %s: %w", ErrUnavailable, h.Address(), err)
	}
	return conn, nil
}

func (t *AMQPTransport) auth(h TransportHost) amqp.Authentication {
	if strings.EqualFold(t.opts.LoginMethod, "PLAIN") {
		return &amqp.PlainAuth{Username: h.Username, Password: h.Password()}
	}
	return &amqp.AMQPlainAuth{Username: h.Username, Password: h.Password()}
}

// clientProperties are what oslo sends (connection_name "<argv0>:<pid>:<uuid>"); amqp091 adds
// its own capabilities table.
func (t *AMQPTransport) clientProperties() amqp.Table {
	p := amqp.NewConnectionProperties()
	p["product"] = "novalet"
	p["connection_name"] = fmt.Sprintf("%s:%d:%s", filepath.Base(os.Args[0]), os.Getpid(), uuid.NewString())
	return p
}

// tlsConfig mirrors oslo's _fetch_ssl_params: no CA file means no verification at all (oslo
// passes ssl=True to kombu, which does not check the peer); a CA file means the chain is
// verified, the host name only when ssl_enforce_hostname_verification is set.
func tlsConfig(o RabbitOptions) (*tls.Config, error) {
	if !o.SSL {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.SSLCertFile != "" || o.SSLKeyFile != "" {
		key := o.SSLKeyFile
		if key == "" {
			key = o.SSLCertFile
		}
		cert, err := tls.LoadX509KeyPair(o.SSLCertFile, key)
		if err != nil {
			return nil, fmt.Errorf("oslo_messaging_rabbit.ssl_cert_file/ssl_key_file: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	if o.SSLCAFile == "" {
		cfg.InsecureSkipVerify = true
		return cfg, nil
	}
	pem, err := os.ReadFile(o.SSLCAFile)
	if err != nil {
		return nil, fmt.Errorf("oslo_messaging_rabbit.ssl_ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("oslo_messaging_rabbit.ssl_ca_file %s: no PEM certificates", o.SSLCAFile)
	}
	cfg.RootCAs = pool
	if o.SSLEnforceHostnameVerification {
		return cfg, nil
	}
	// Chain only: Go verifies host names together with chains, so verify the chain ourselves.
	cfg.InsecureSkipVerify = true
	cfg.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
		if len(raw) == 0 {
			return errors.New("broker sent no certificate")
		}
		certs := make([]*x509.Certificate, len(raw))
		for i, r := range raw {
			c, err := x509.ParseCertificate(r)
			if err != nil {
				return err
			}
			certs[i] = c
		}
		inter := x509.NewCertPool()
		for _, c := range certs[1:] {
			inter.AddCert(c)
		}
		_, err := certs[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter})
		return err
	}
	return cfg, nil
}

// shuffled returns the hosts in random order, as oslo shuffles several hosts before
// failing over round-robin.
func shuffled(hosts []TransportHost) []TransportHost {
	out := append([]TransportHost(nil), hosts...)
	rand.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// state reports a connection change to the OnConnectionState hook, if any.
func (t *AMQPTransport) state(purpose string, up, reconnect bool) {
	if t.opts.OnConnectionState != nil {
		t.opts.OnConnectionState(purpose, up, reconnect)
	}
}
