package oslolog

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// at is the time of every golden line: 2026-12-05 14:13:21.123456 UTC.
var at = time.Date(2026, 12, 5, 14, 13, 21, 123456789, time.UTC)

// lines is a sink that keeps each record's text.
type lines struct {
	mu  sync.Mutex
	got []string
	e   []*entry
}

func (l *lines) emit(e *entry) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, string(e.text))
	l.e = append(l.e, e)
	return nil
}

func textHandler(s sink, level slog.Leveler) *Handler {
	return newHandler(s, level, "novalet", &textFormat{dateFormat: "%Y-%m-%d %H:%M:%S", loc: time.UTC, pid: 12345})
}

func handle(t *testing.T, h slog.Handler, level slog.Level, msg string, args ...any) {
	t.Helper()
	r := slog.NewRecord(at, level, msg, 0)
	r.Add(args...)
	if err := h.Handle(context.Background(), r); err != nil {
		t.Fatal(err)
	}
}

// TestTextGolden: the lines oslo.log 5.0's ContextFormatter prints with nova's defaults for
// the same record (generated with Debian's python3-oslo.log, logger name aside).
func TestTextGolden(t *testing.T) {
	const uuid = "1f7a0a4e-0000-4000-8000-000000000001"
	cases := []struct {
		name  string
		level slog.Level
		msg   string
		args  []any
		want  string
	}{
		{"no context", slog.LevelInfo, "hello", nil,
			"2026-12-05 14:13:21.123 12345 INFO novalet [-] hello"},
		{"instance without context", slog.LevelWarn, "hello", []any{"instance_uuid", uuid},
			"2026-12-05 14:13:21.123 12345 WARNING novalet [-] [instance: " + uuid + "] hello"},
		{"context without global id", slog.LevelInfo, "hello", []any{"request_id", "req-aaaa", "user_id", "u1", "project_id", "p1"},
			"2026-12-05 14:13:21.123 12345 INFO novalet [None req-aaaa u1 p1 - - - -] hello"},
		{"context without user", slog.LevelInfo, "no user", []any{"request_id", "req-aaaa"},
			"2026-12-05 14:13:21.123 12345 INFO novalet [None req-aaaa - - - - - -] no user"},
		{"full context and instance", slog.LevelError, "hello", []any{"instance_uuid", uuid, "global_request_id", "req-gggg",
			"request_id", "req-aaaa", "user_id", "u1", "project_id", "p1", "user_domain_id", "default", "project_domain_id", "default"},
			"2026-12-05 14:13:21.123 12345 ERROR novalet [req-gggg req-aaaa u1 p1 - - default default] [instance: " + uuid + "] hello"},
		{"critical", LevelCritical, "crit", []any{"request_id", "req-aaaa", "user_id", "u1", "project_id", "p1"},
			"2026-12-05 14:13:21.123 12345 CRITICAL novalet [None req-aaaa u1 p1 - - - -] crit"},
		{"message kept as oslo keeps it", slog.LevelInfo, "multi\nline", nil,
			"2026-12-05 14:13:21.123 12345 INFO novalet [-] multi\nline"},
		// novalet's own: the record's other attributes follow as key=value.
		{"attributes", slog.LevelInfo, "image fetched", []any{"image", "cirros", "size", 12, "took", 1500 * time.Millisecond,
			"error", errors.New("no space left"), "empty", "", "quote", `a "b"=c`},
			`2026-12-05 14:13:21.123 12345 INFO novalet [-] image fetched image=cirros size=12 took=1.5s error="no space left" empty="" quote="a \"b\"=c"`},
		{"user and global id without a request stay key=value", slog.LevelInfo, "x", []any{"user_id", "u1", "global_request_id", "req-g"},
			"2026-12-05 14:13:21.123 12345 INFO novalet [-] x user_id=u1 global_request_id=req-g"},
		{"component names the logger", slog.LevelInfo, "connected", []any{"component", "rpc.amqp"},
			"2026-12-05 14:13:21.123 12345 INFO novalet.rpc.amqp [-] connected"},
		{"warn+1 is still WARNING", slog.LevelWarn + 1, "w", nil,
			"2026-12-05 14:13:21.123 12345 WARNING novalet [-] w"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var l lines
			handle(t, textHandler(&l, slog.LevelDebug), c.level, c.msg, c.args...)
			if len(l.got) != 1 || l.got[0] != c.want {
				t.Errorf("got  %q\nwant %q", l.got, c.want)
			}
		})
	}
}

// TestDebugSuffix: DEBUG lines end with logging_debug_format_suffix, %(funcName)s
// %(pathname)s:%(lineno)d, from the record's caller.
func TestDebugSuffix(t *testing.T) {
	var l lines
	log := slog.New(textHandler(&l, slog.LevelDebug))
	_, file, line, _ := runtime.Caller(0)
	log.Debug("dbg", "k", "v")
	log.Info("info")
	want := " [-] dbg k=v TestDebugSuffix " + file + ":" + itoa(line+1)
	if len(l.got) != 2 || !strings.HasSuffix(l.got[0], want) {
		t.Errorf("debug line %q, want suffix %q", l.got, want)
	}
	if strings.Contains(l.got[1], file) {
		t.Errorf("INFO line has the debug suffix: %q", l.got[1])
	}
}

func itoa(n int) string { return string(appendPadded(nil, n, 1)) }

// TestLevel: records below the level are dropped, and a LevelVar change applies at once.
func TestLevel(t *testing.T) {
	var l lines
	level := new(slog.LevelVar)
	log := slog.New(textHandler(&l, level))
	log.Debug("hidden")
	level.Set(slog.LevelDebug)
	log.Debug("shown")
	if len(l.got) != 1 || !strings.Contains(l.got[0], " DEBUG novalet [-] shown") {
		t.Errorf("got %q", l.got)
	}
	var nilLevel lines
	slog.New(textHandler(&nilLevel, nil)).Debug("nil level is INFO")
	if len(nilLevel.got) != 0 {
		t.Errorf("nil level let DEBUG through: %q", nilLevel.got)
	}
}

// TestDateFormat: log_date_format is strftime, and msecs still follow it.
func TestDateFormat(t *testing.T) {
	var l lines
	h := newHandler(&l, nil, "novalet", &textFormat{dateFormat: "%d/%m/%Y %H:%M:%S", loc: time.FixedZone("X", 3600), pid: 1})
	handle(t, h, slog.LevelInfo, "m")
	if want := "05/12/2026 15:13:21.123 1 INFO novalet [-] m"; l.got[0] != want {
		t.Errorf("got %q, want %q", l.got[0], want)
	}
}

// TestWithAttrsAndGroups: attributes from With come before the record's, groups prefix keys,
// special keys count only at the top level, and derived handlers do not share state.
func TestWithAttrsAndGroups(t *testing.T) {
	var l lines
	base := slog.New(textHandler(&l, nil))
	inst := base.With("instance_uuid", "u-1", "request_id", "req-1", "operation", "spawn")
	inst.Info("a", "step", 1)
	inst.WithGroup("disk").Info("b", "size", 10, "request_id", "not-special")
	inst.WithGroup("g").With("k", "v").WithGroup("h").Info("c", "x", 1)
	inst.WithGroup("empty").Info("d")
	base.Info("e", slog.Group("net", "mac", "fa:16:3e:00:00:01", slog.Group("ip", "v4", "10.0.0.5")), slog.Group("none"))
	base.With("request_id", "req-old").Info("f", "request_id", "req-new")
	want := []string{
		"INFO novalet [None req-1 - - - - - -] [instance: u-1] a operation=spawn step=1",
		"INFO novalet [None req-1 - - - - - -] [instance: u-1] b operation=spawn disk.size=10 disk.request_id=not-special",
		"INFO novalet [None req-1 - - - - - -] [instance: u-1] c operation=spawn g.k=v g.h.x=1",
		"INFO novalet [None req-1 - - - - - -] [instance: u-1] d operation=spawn",
		"INFO novalet [-] e net.mac=fa:16:3e:00:00:01 net.ip.v4=10.0.0.5",
		"INFO novalet [None req-new - - - - - -] f",
	}
	if len(l.got) != len(want) {
		t.Fatalf("got %d lines: %q", len(l.got), l.got)
	}
	for i := range want {
		if got := strings.SplitN(l.got[i], " ", 4)[3]; got != want[i] {
			t.Errorf("line %d:\ngot  %q\nwant %q", i, got, want[i])
		}
	}
}

// TestJSON: use_json keeps slog's JSON lines, attributes and groups included.
func TestJSON(t *testing.T) {
	var l lines
	log := slog.New(newHandler(&l, nil, "novalet", nil))
	log.With("instance_uuid", "u-1").WithGroup("g").Info("hello", "k", "v")
	got := strings.SplitN(l.got[0], ",", 2)[1]
	if want := `"level":"INFO","msg":"hello","instance_uuid":"u-1","g":{"k":"v"}}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if l.e[0].name != "novalet" || len(l.e[0].attrs) != 2 {
		t.Errorf("entry beside the JSON: %+v", l.e[0])
	}
}

// TestConcurrent: one handler and its derivatives used from many goroutines write whole,
// unmixed lines (run with -race).
func TestConcurrent(t *testing.T) {
	for _, format := range []*textFormat{{dateFormat: "%H", loc: time.UTC}, nil} {
		var buf bytes.Buffer
		s := &streamSink{w: &buf}
		log := slog.New(newHandler(s, nil, "novalet", format))
		var wg sync.WaitGroup
		for i := range 16 {
			wg.Go(func() {
				l := log.With("worker", i)
				for j := range 100 {
					l.WithGroup("g").Info("message", "j", j)
				}
			})
		}
		wg.Wait()
		got := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
		if len(got) != 1600 {
			t.Fatalf("%d lines, want 1600", len(got))
		}
		for _, line := range got {
			if !strings.Contains(line, "message") || strings.Count(line, "worker") != 1 {
				t.Fatalf("mixed line %q", line)
			}
		}
	}
}
