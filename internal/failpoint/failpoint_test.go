package failpoint

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	got := parse(" build.image, delete.destroyed,,")
	if len(got) != 2 || !got["build.image"] || !got["delete.destroyed"] {
		t.Errorf("parse = %v", got)
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
