package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/novalet/novalet/config"
)

func TestSIGHUPReloadsDebugAndNamesRestartOptions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nova.conf")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("[DEFAULT]\ndebug = false\nhost = cmp1\n[vnc]\nserver_listen = 127.0.0.1\n")
	sources := []config.Source{{Path: path}}
	running, err := config.Load(sources)
	if err != nil {
		t.Fatal(err)
	}
	level := new(slog.LevelVar)
	level.Set(logLevel(running.Default.Debug))
	var out bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: level}))
	reopens := &countReopen{}
	r := reloader{sources: sources, level: level, logs: reopens, log: log}

	write("[DEFAULT]\ndebug = true\nhost = cmp1\n[vnc]\nserver_listen = 0.0.0.0\n")
	next := r.reload(running)
	if level.Level() != slog.LevelDebug || !next.Default.Debug {
		t.Fatalf("debug not applied: level %v", level.Level())
	}
	if !strings.Contains(out.String(), `"groups":["vnc"]`) {
		t.Fatalf("the restart warning does not name [vnc] alone: %s", out.String())
	}

	out.Reset()
	write("[DEFAULT]\ndebug = maybe\n")
	if kept := r.reload(next); kept != next || level.Level() != slog.LevelDebug {
		t.Fatal("a broken file replaced the running configuration")
	}
	if !strings.Contains(out.String(), "not reloaded") {
		t.Fatalf("no error logged: %s", out.String())
	}
	if reopens.n != 2 {
		t.Errorf("log file reopened %d times for two SIGHUPs, want 2", reopens.n)
	}
}

type countReopen struct{ n int }

func (c *countReopen) Reopen() error { c.n++; return nil }
