package oslolog

import (
	"log/slog"
	"log/syslog"
	"runtime"
	"strings"
	"testing"

	"github.com/coreos/go-systemd/v22/journal"
)

// TestJournalFields: what OSJournalHandler sends beside the message, plus the attributes.
func TestJournalFields(t *testing.T) {
	type sent struct {
		msg  string
		p    journal.Priority
		vars map[string]string
	}
	var got []sent
	s := &journalSink{identifier: "nova-compute", facility: int(syslog.LOG_USER),
		send: func(msg string, p journal.Priority, vars map[string]string) error {
			got = append(got, sent{msg, p, vars})
			return nil
		}}
	log := slog.New(textHandler(s, slog.LevelDebug)).With("component", "agent")
	_, file, line, _ := runtime.Caller(0)
	log.Warn("boot failed", "instance_uuid", "u-1", "request_id", "req-1", "user_id", "u", "project_id", "p",
		"2x", 1, "message", "shadow", slog.Group("net", "mac", "fa:16"))
	if len(got) != 1 {
		t.Fatalf("sent %d", len(got))
	}
	g := got[0]
	wantMsg := " 12345 WARNING novalet.agent [None req-1 u p - - - -] [instance: u-1] boot failed 2x=1 message=shadow net.mac=fa:16"
	if g.p != journal.PriWarning || !strings.HasSuffix(g.msg, wantMsg) {
		t.Errorf("sent %v %q, want PriWarning and a line ending %q", g.p, g.msg, wantMsg)
	}
	want := map[string]string{
		"SYSLOG_IDENTIFIER": "nova-compute", "SYSLOG_FACILITY": "8", "LOGGER_NAME": "novalet.agent", "LOGGER_LEVEL": "WARNING",
		"CODE_FILE": file, "CODE_LINE": itoa(line + 1), "CODE_FUNC": "TestJournalFields",
		"INSTANCE_UUID": "u-1", "REQUEST_ID": "req-1", "USER_ID": "u", "PROJECT_ID": "p", "COMPONENT": "agent",
		"F_2X": "1", "ATTR_MESSAGE": "shadow", "NET_MAC": "fa:16",
	}
	for k, v := range want {
		if g.vars[k] != v {
			t.Errorf("%s = %q, want %q", k, g.vars[k], v)
		}
	}
	if len(g.vars) != len(want) {
		t.Errorf("fields %v, want exactly %v", g.vars, want)
	}
}

type fakeSyslog struct{ got []string }

func (f *fakeSyslog) rec(sev, m string) error { f.got = append(f.got, sev+" "+m); return nil }
func (f *fakeSyslog) Debug(m string) error    { return f.rec("debug", m) }
func (f *fakeSyslog) Info(m string) error     { return f.rec("info", m) }
func (f *fakeSyslog) Warning(m string) error  { return f.rec("warning", m) }
func (f *fakeSyslog) Err(m string) error      { return f.rec("err", m) }
func (f *fakeSyslog) Crit(m string) error     { return f.rec("crit", m) }
func (f *fakeSyslog) Close() error            { return nil }

// TestSyslogSeverities: SYSLOG_MAP, the formatted line as the message.
func TestSyslogSeverities(t *testing.T) {
	f := &fakeSyslog{}
	h := newHandler(&syslogSink{w: f}, slog.LevelDebug, "novalet", nil)
	for _, l := range []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError, LevelCritical} {
		handle(t, h, l, "m")
	}
	want := []string{"debug", "info", "warning", "err", "crit"}
	for i, w := range want {
		if len(f.got) != len(want) || f.got[i][:len(w)+2] != w+" {" {
			t.Fatalf("got %q, want severities %v with JSON lines", f.got, want)
		}
	}
}

// TestFacility: oslo's _find_facility spellings.
func TestFacility(t *testing.T) {
	for in, want := range map[string]syslog.Priority{"LOG_USER": syslog.LOG_USER, "local3": syslog.LOG_LOCAL3,
		"Daemon": syslog.LOG_DAEMON, "LOG_AUTHPRIV": syslog.LOG_AUTHPRIV} {
		if got, err := Facility(in); err != nil || got != want {
			t.Errorf("Facility(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "LOG_", "user1", "LOG_LOCAL8"} {
		if _, err := Facility(bad); err == nil {
			t.Errorf("Facility(%q) accepted", bad)
		}
	}
}
