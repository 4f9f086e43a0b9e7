package rpc

import (
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// DefaultAMQPPort is used for hosts without a port, with or without ssl, as oslo does.
const DefaultAMQPPort = 5672

// TransportURL is a parsed [DEFAULT] transport_url
// (rabbit://user:pass@host1:port,user:pass@host2:port/vhost?query).
//
// It follows oslo.messaging's TransportURL.parse, not RFC 3986: several comma-separated hosts,
// each with its own credentials, user and password URL-decoded, the host name left as written.
// String, GoString and LogValue never show a password.
type TransportURL struct {
	Scheme string
	Hosts  []TransportHost
	// VirtualHost is the decoded path without its leading slash; "" means the default vhost "/".
	VirtualHost string
	// Query holds the query parameters; repeated keys are joined with "," as oslo does. oslo
	// lets them override [oslo_messaging_rabbit] options (see RabbitOptions.ApplyQuery).
	Query map[string]string
}

// TransportHost is one broker of a TransportURL.
type TransportHost struct {
	Hostname string
	Port     int
	Username string
	password string
}

// NewTransportHost builds a host; the password is kept out of every printed form.
func NewTransportHost(hostname string, port int, username, password string) TransportHost {
	return TransportHost{Hostname: hostname, Port: port, Username: username, password: password}
}

// Password returns the host's password, for the AMQP login only.
func (h TransportHost) Password() string { return h.password }

// Address is host:port, IPv6 literals bracketed, the port defaulted to 5672.
func (h TransportHost) Address() string {
	port := h.Port
	if port == 0 {
		port = DefaultAMQPPort
	}
	return net.JoinHostPort(h.Hostname, strconv.Itoa(port))
}

// String shows the user and address; a password shows as "***".
func (h TransportHost) String() string {
	var b strings.Builder
	if h.Username != "" || h.password != "" {
		b.WriteString(url.PathEscape(h.Username))
		if h.password != "" {
			b.WriteString(":***")
		}
		b.WriteByte('@')
	}
	b.WriteString(h.Address())
	return b.String()
}

// GoString keeps %#v from printing the password field.
func (h TransportHost) GoString() string { return "rpc.TransportHost(" + h.String() + ")" }

// VHost is the AMQP virtual host to open: "/" when the URL has none.
func (u TransportURL) VHost() string {
	if u.VirtualHost == "" {
		return "/"
	}
	return u.VirtualHost
}

// String renders the URL with every password replaced by "***".
func (u TransportURL) String() string {
	hosts := make([]string, len(u.Hosts))
	for i, h := range u.Hosts {
		hosts[i] = h.String()
	}
	s := u.Scheme + "://" + strings.Join(hosts, ",") + "/" + url.PathEscape(u.VirtualHost)
	if len(u.Query) > 0 {
		keys := make([]string, 0, len(u.Query))
		for k := range u.Query {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = url.QueryEscape(k) + "=" + url.QueryEscape(u.Query[k])
		}
		s += "?" + strings.Join(parts, "&")
	}
	return s
}

// GoString keeps %#v from printing passwords.
func (u TransportURL) GoString() string { return "rpc.TransportURL(" + u.String() + ")" }

// LogValue makes slog print the redacted form.
func (u TransportURL) LogValue() slog.Value { return slog.StringValue(u.String()) }

// ParseTransportURL parses a transport_url with oslo.messaging's rules. Only the rabbit
// driver is supported. A URL without hosts means guest:guest@localhost:5672, as in oslo.
func ParseTransportURL(raw string) (TransportURL, error) {
	var u TransportURL
	scheme, rest, ok := strings.Cut(raw, ":")
	if !ok || scheme == "" {
		return u, fmt.Errorf("%w: no scheme specified", ErrInvalidURL)
	}
	u.Scheme = strings.ToLower(scheme)
	if u.Scheme != "rabbit" {
		return u, fmt.Errorf("%w: scheme %q: only the rabbit driver is supported", ErrInvalidURL, u.Scheme)
	}
	rest, _, _ = strings.Cut(rest, "#")
	rest, query, _ := strings.Cut(rest, "?")
	netloc, path := "", rest
	if strings.HasPrefix(rest, "//") {
		rest = rest[2:]
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			netloc, path = rest[:i], rest[i:]
		} else {
			netloc, path = rest, ""
		}
	}
	if query != "" {
		q, err := url.ParseQuery(query)
		if err != nil {
			return u, fmt.Errorf("%w: query: %w", ErrInvalidURL, err)
		}
		u.Query = make(map[string]string, len(q))
		for k, vs := range q {
			nonEmpty := vs[:0:0]
			for _, v := range vs {
				if v != "" { // parse_qs drops blank values
					nonEmpty = append(nonEmpty, v)
				}
			}
			if len(nonEmpty) > 0 {
				u.Query[k] = strings.Join(nonEmpty, ",")
			}
		}
	}
	if strings.HasPrefix(path, "/") {
		u.VirtualHost = unquote(path[1:])
	}
	for _, part := range strings.Split(netloc, ",") {
		if part == "" {
			continue
		}
		h, err := parseTransportHost(part)
		if err != nil {
			return u, err
		}
		u.Hosts = append(u.Hosts, h)
	}
	if len(u.Hosts) == 0 {
		u.Hosts = []TransportHost{NewTransportHost("localhost", DefaultAMQPPort, "guest", "guest")}
	}
	return u, nil
}

func parseTransportHost(part string) (TransportHost, error) {
	var h TransportHost
	hostport := part
	if i := strings.LastIndexByte(part, '@'); i >= 0 {
		cred := part[:i]
		hostport = part[i+1:]
		user, pass, hasPass := strings.Cut(cred, ":")
		if hasPass {
			h.password = unquote(pass)
		}
		h.Username = unquote(user)
	}
	port := ""
	switch {
	case strings.HasPrefix(hostport, "["):
		end := strings.IndexByte(hostport, ']')
		if end < 0 {
			return h, fmt.Errorf("%w: invalid IPv6 URL", ErrInvalidURL)
		}
		h.Hostname = hostport[1:end]
		if _, p, ok := strings.Cut(hostport[end:], ":"); ok {
			port = p
		}
	default:
		h.Hostname, port, _ = strings.Cut(hostport, ":")
	}
	if h.Hostname == "" {
		return h, fmt.Errorf("%w: host %q has no host name", ErrInvalidURL, h.String())
	}
	h.Port = DefaultAMQPPort
	if port != "" {
		p, err := strconv.Atoi(port)
		if err != nil || p < 1 || p > 65535 {
			return h, fmt.Errorf("%w: port %q of host %s", ErrInvalidURL, port, h.Hostname)
		}
		h.Port = p
	}
	return h, nil
}

// unquote decodes %XX escapes like Python's urllib.parse.unquote: a malformed escape is kept
// as written instead of failing.
func unquote(s string) string {
	if d, err := url.PathUnescape(s); err == nil {
		return d
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
