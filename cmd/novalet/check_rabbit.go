package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/novalet/novalet/config"
	"github.com/novalet/novalet/rpc"
)

// checkRabbit logs in to each broker of transport_url with its user, password and vhost, once,
// and closes. It proves what the agent's transport will need; it never shows the password.
func checkRabbit(ctx context.Context, cfg *config.Config) row {
	const name = "rabbitmq"
	u, err := rpc.ParseTransportURL(cfg.Default.TransportURL)
	if err != nil {
		return fail(name, fmt.Errorf("[DEFAULT] transport_url: %w", err), "write it as rabbit://USER:PASSWORD@HOST:5672/VHOST")
	}
	if len(u.Hosts) == 0 || u.Hosts[0].Hostname == "" {
		return fail(name, fmt.Errorf("[DEFAULT] transport_url names no broker"), "write it as rabbit://USER:PASSWORD@HOST:5672/VHOST")
	}
	var details []string
	for _, h := range u.Hosts {
		if err := amqpLogin(ctx, h, u.VHost(), cfg.Rabbit); err != nil {
			return fail(name, fmt.Errorf("%s vhost %q: %w", h, u.VHost(), err), rabbitFix(err, h, u.VHost()))
		}
		details = append(details, h.String())
	}
	return ok(name, "logged in to %s, vhost %q", strings.Join(details, ", "), u.VHost())
}

func amqpLogin(ctx context.Context, h rpc.TransportHost, vhost string, opts config.Rabbit) error {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(rowTimeout)
	}
	var auth amqp.Authentication = &amqp.AMQPlainAuth{Username: h.Username, Password: h.Password()}
	if strings.EqualFold(opts.LoginMethod, "PLAIN") {
		auth = &amqp.PlainAuth{Username: h.Username, Password: h.Password()}
	}
	ac := amqp.Config{
		SASL:  []amqp.Authentication{auth},
		Vhost: vhost,
		Dial: func(network, addr string) (net.Conn, error) {
			d := net.Dialer{Deadline: deadline}
			conn, err := d.DialContext(ctx, network, addr)
			if err == nil {
				// The whole handshake, login included, ends by the row's deadline.
				err = conn.SetDeadline(deadline)
			}
			return conn, err
		},
	}
	scheme := "amqp"
	if opts.SSL {
		scheme = "amqps"
		tc := &tls.Config{ServerName: h.Hostname}
		if opts.SSLCAFile != "" {
			pem, err := os.ReadFile(opts.SSLCAFile)
			if err != nil {
				return fmt.Errorf("ssl_ca_file: %w", err)
			}
			tc.RootCAs = x509.NewCertPool()
			tc.RootCAs.AppendCertsFromPEM(pem)
		}
		if opts.SSLCertFile != "" {
			cert, err := tls.LoadX509KeyPair(opts.SSLCertFile, opts.SSLKeyFile)
			if err != nil {
				return fmt.Errorf("ssl_cert_file/ssl_key_file: %w", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		ac.TLSClientConfig = tc
	}
	// The URL carries no credentials: they go through SASL, so no error can echo them.
	conn, err := amqp.DialConfig(scheme+"://"+h.Address()+"/", ac)
	if err != nil {
		return err
	}
	return conn.Close()
}

func rabbitFix(err error, h rpc.TransportHost, vhost string) string {
	var ae *amqp.Error
	if errors.As(err, &ae) {
		switch ae.Code {
		case amqp.AccessRefused:
			return fmt.Sprintf("check the user and password in transport_url (rabbitmqctl add_user %s ...; rabbitmqctl set_permissions -p %s %s '.*' '.*' '.*')", h.Username, vhost, h.Username)
		case amqp.NotAllowed:
			return fmt.Sprintf("create the vhost and grant the user (rabbitmqctl add_vhost %s; rabbitmqctl set_permissions -p %s %s '.*' '.*' '.*')", vhost, vhost, h.Username)
		}
		if strings.Contains(ae.Reason, "username or password") {
			return "check the user and password in transport_url"
		}
	}
	return fmt.Sprintf("start RabbitMQ on %s or fix the host and port in transport_url", h.Address())
}
