package metrics

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

func TestServeUntilContextEnds(t *testing.T) {
	m := newTestMetrics(t)
	m.SetLibvirtUp(true)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- m.ServeListener(ctx, ln) }()

	body := scrape(t, "http://"+ln.Addr().String())
	if !strings.Contains(body, "novalet_libvirt_up 1") || !strings.Contains(body, "novalet_build_info{") {
		t.Errorf("scrape lacks novalet series:\n%.2000s", body)
	}
	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("ServeListener after cancel: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("ServeListener did not return after its context ended")
	}
}

func TestServeBadAddress(t *testing.T) {
	m := newTestMetrics(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.Serve(ctx, "256.0.0.1:http"); err == nil {
		t.Error("Serve on an impossible address returned nil")
	}
}

func TestLabelGuard(t *testing.T) {
	g := newLabelGuard(2)
	for in, want := range map[string]string{"a": "a", "b": "b"} {
		if got := g.value(in); got != want {
			t.Errorf("value(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"c": otherLabel, "a": "a", "": otherLabel, "\xff": otherLabel, strings.Repeat("x", 129): otherLabel,
	} {
		if got := g.value(in); got != want {
			t.Errorf("value(%q) = %q, want %q", in, got, want)
		}
	}
}
