package rpc

import (
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
)

type hostWant struct {
	host, user, pass string
	port             int
}

// Expected values were produced by oslo_messaging.TransportURL.parse (14.0.3); hosts without a
// port get 5672 and a URL without hosts gets guest@localhost, as the rabbit driver does.
func TestParseTransportURL(t *testing.T) {
	tests := []struct {
		raw   string
		vhost string
		hosts []hostWant
		query map[string]string
	}{
		{"rabbit://novalet:novalet-test@127.0.0.1:5672/", "/", []hostWant{{"127.0.0.1", "novalet", "novalet-test", 5672}}, nil},
		{"rabbit://u:p%40ss%3Aw@h1:5673,u2:p2@h2/nova%2Fvh?ssl=1&heartbeat_rate=3", "nova/vh",
			[]hostWant{{"h1", "u", "p@ss:w", 5673}, {"h2", "u2", "p2", 5672}}, map[string]string{"ssl": "1", "heartbeat_rate": "3"}},
		{"rabbit://u:p@[::1]:5672,h3/", "/", []hostWant{{"::1", "u", "p", 5672}, {"h3", "", "", 5672}}, nil},
		{"rabbit://", "/", []hostWant{{"localhost", "guest", "guest", 5672}}, nil},
		{"rabbit:///vh", "vh", []hostWant{{"localhost", "guest", "guest", 5672}}, nil},
		{"rabbit://user@host", "/", []hostWant{{"host", "user", "", 5672}}, nil},
		{"rabbit://h//", "/", []hostWant{{"h", "", "", 5672}}, nil},
		{"rabbit://u:pa:ss@h?x=1&x=2", "/", []hostWant{{"h", "u", "pa:ss", 5672}}, map[string]string{"x": "1,2"}},
		{"rabbit://u:bad%zz@h", "/", []hostWant{{"h", "u", "bad%zz", 5672}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			u, err := ParseTransportURL(tt.raw)
			if err != nil {
				t.Fatal(err)
			}
			if u.VHost() != tt.vhost {
				t.Errorf("vhost = %q, want %q", u.VHost(), tt.vhost)
			}
			var got []hostWant
			for _, h := range u.Hosts {
				got = append(got, hostWant{h.Hostname, h.Username, h.Password(), h.Port})
			}
			if !reflect.DeepEqual(got, tt.hosts) {
				t.Errorf("hosts = %+v, want %+v", got, tt.hosts)
			}
			if len(tt.query) > 0 && !reflect.DeepEqual(u.Query, tt.query) {
				t.Errorf("query = %v, want %v", u.Query, tt.query)
			}
		})
	}
}

func TestParseTransportURLErrors(t *testing.T) {
	for _, raw := range []string{"", "127.0.0.1:5672", "kafka://h", "amqp://h", "rabbit://h:notaport/", "rabbit://h:70000", "rabbit://[::1/", "rabbit://u:p@:5672/"} {
		if _, err := ParseTransportURL(raw); !errors.Is(err, ErrInvalidURL) {
			t.Errorf("ParseTransportURL(%q) err = %v, want ErrInvalidURL", raw, err)
		}
	}
}

func TestTransportURLNeverShowsPassword(t *testing.T) {
	u, err := ParseTransportURL("rabbit://nova:s3cr%40t@h1:5672,nova:s3cr%40t@[fe80::1]/vh")
	if err != nil {
		t.Fatal(err)
	}
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "url", u, "host", u.Hosts[0])
	for _, s := range []string{u.String(), fmt.Sprint(u), fmt.Sprintf("%+v", u), fmt.Sprintf("%#v", u), fmt.Sprint(u.Hosts), fmt.Sprintf("%#v", u.Hosts[0]), logged.String()} {
		if strings.Contains(s, "s3cr") {
			t.Errorf("password shown: %s", s)
		}
	}
	if want := "rabbit://nova:***@h1:5672,nova:***@[fe80::1]:5672/vh"; u.String() != want {
		t.Errorf("String() = %q, want %q", u.String(), want)
	}
	if _, err := ParseTransportURL("rabbit://u:s3cr@h:bad/"); err == nil || strings.Contains(err.Error(), "s3cr") {
		t.Errorf("error shows the password or is nil: %v", err)
	}
}

func TestRabbitOptionsQuery(t *testing.T) {
	o := DefaultRabbitOptions()
	if err := o.ApplyQuery(map[string]string{"ssl": "yes", "amqp_durable_queues": "True", "rabbit_transient_queues_ttl": "60", "rabbit_login_method": "PLAIN"}); err != nil {
		t.Fatal(err)
	}
	if !o.SSL || !o.AMQPDurableQueues || o.TransientQueuesTTL.Seconds() != 60 || o.LoginMethod != "PLAIN" {
		t.Fatalf("options = %+v", o)
	}
	for _, q := range []map[string]string{{"no_such_option": "1"}, {"ssl": "maybe"}, {"rabbit_login_method": "EXTERNAL"}, {"rabbit_transient_queues_ttl": "0"}} {
		o := DefaultRabbitOptions()
		if err := o.ApplyQuery(q); err == nil {
			t.Errorf("ApplyQuery(%v) accepted", q)
		}
	}
}

func TestQueueDeclarationsMatchOslo(t *testing.T) {
	o := DefaultRabbitOptions()
	qs := serverQueues(o, ListenSpec{Exchange: "nova", Topic: "compute", Server: "cmp1"})
	want := []struct {
		name, exchange, kind, key string
		exDurable, exAuto         bool
		args                      map[string]any
	}{
		{"compute", "nova", "topic", "compute", false, false, map[string]any{}},
		{"compute.cmp1", "nova", "topic", "compute.cmp1", false, false, map[string]any{}},
		{"compute_fanout_", "compute_fanout", "fanout", "compute", false, true, map[string]any{"x-expires": int32(1800000)}},
	}
	for i, w := range want {
		q := qs[i]
		if !strings.HasPrefix(q.Name, w.name) || q.Exchange.Name != w.exchange || q.Exchange.Kind != w.kind || q.Key != w.key ||
			q.Exchange.Durable != w.exDurable || q.Exchange.AutoDelete != w.exAuto || q.Durable || q.AutoDelete || !reflect.DeepEqual(q.Args, w.args) {
			t.Errorf("queue %d = %+v, want %+v", i, q, w)
		}
	}
	r := replyQueue(o, "reply_x")
	if r.Durable || r.AutoDelete || r.Exchange.Name != "" || !reflect.DeepEqual(r.Args, map[string]any{"x-expires": int32(1800000)}) {
		t.Errorf("reply queue = %+v", r)
	}
	o.QuorumQueue = true
	if q := serverQueues(o, ListenSpec{Exchange: "nova", Topic: "compute", Server: "h"})[0]; !q.Durable || q.Args["x-queue-type"] != "quorum" || !q.Exchange.Durable {
		t.Errorf("quorum topic queue = %+v", q)
	}
}
