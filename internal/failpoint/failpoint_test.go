package failpoint

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	got := parse(" build.image, delete.destroyed,, build.defined = /run/go")
	if len(got) != 3 || got["build.image"] != "" || got["delete.destroyed"] != "" || got["build.defined"] != "/run/go" {
		t.Errorf("parse = %v", got)
	}
	if _, ok := got["build.disk"]; ok {
		t.Error("an unnamed failpoint is armed")
	}
	if len(parse("")) != 0 {
		t.Error("an empty variable arms something")
	}
}

func TestHoldOnlyWhenArmed(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	names := parse("build.image")

	hold(context.Background(), log, "build.disk", names) // not armed: returns at once
	if buf.Len() != 0 {
		t.Errorf("an unarmed failpoint logged: %s", buf.String())
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { hold(ctx, log, "build.image", names); close(done) }()
	select {
	case <-done:
		t.Fatal("an armed failpoint did not hold")
	case <-time.After(50 * time.Millisecond):
	}
	cancel()
	<-done
	if s := buf.String(); !strings.Contains(s, Msg) || !strings.Contains(s, `"failpoint":"build.image"`) {
		t.Errorf("log = %s", s)
	}
}

func TestHoldUntilReleased(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	release := filepath.Join(t.TempDir(), "go")
	names := parse("build.defined=" + release)

	done := make(chan struct{})
	go func() { hold(context.Background(), log, "build.defined", names); close(done) }()
	select {
	case <-done:
		t.Fatal("a failpoint with a release file returned before the file existed")
	case <-time.After(3 * releasePoll):
	}
	if err := os.WriteFile(release, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the failpoint still holds after its release file appeared")
	}
	if s := buf.String(); !strings.Contains(s, Msg) || !strings.Contains(s, ReleasedMsg) {
		t.Errorf("log = %s", s)
	}
}
