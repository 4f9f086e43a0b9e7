package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/novalet/novalet/agent"
	"github.com/novalet/novalet/config"
	"github.com/novalet/novalet/metrics"
)

// running is what a Guru Meditation report shows of the daemon once serve has built it.
type running struct {
	m *metrics.Metrics
	a *agent.Agent
}

var current atomic.Pointer[running]

// writeGuruReport writes, on SIGUSR2, a report in the shape of oslo.reports' Guru Meditation
// report nova-compute writes: package, configuration (secrets masked), threads (every
// goroutine's stack), plus the broker, libvirt and heartbeat health and the operations in
// flight. Nothing in it is a secret: values nova marks secret print as ***.
func writeGuruReport(w io.Writer, cfg *config.Config, r *running) {
	bar := strings.Repeat("=", 80)
	section := func(name string) { fmt.Fprintf(w, "%s\n====%s====\n%s\n", bar, center(name, 72), bar) }
	section("Guru Meditation")
	fmt.Fprintf(w, "Date: %s\n\n", time.Now().UTC().Format(time.RFC3339))
	section("Package")
	fmt.Fprintf(w, "product = novalet (OpenStack Nova compute)\nversion = %s\nnova = %s\ngo = %s\npid = %d\n\n",
		version, novaVersion, runtime.Version(), os.Getpid())
	section("Health")
	if r == nil {
		fmt.Fprintln(w, "not serving yet (start-up in progress)")
	} else {
		h := r.m.Health()
		names := make([]string, 0, len(h.Checks))
		for n := range h.Checks {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Fprintf(w, "status = %s\n", h.Status)
		for _, n := range names {
			c := h.Checks[n]
			fmt.Fprintf(w, "%s: ok=%v %s\n", n, c.OK, c.Error)
		}
		fmt.Fprintf(w, "operations waiting behind another on the same instance = %d\n", r.a.QueueDepth())
	}
	fmt.Fprintln(w)
	section("Configuration")
	var lines []string
	for _, e := range cfg.Effective() {
		v := fmt.Sprint(e.Value)
		if e.Value == nil {
			v = "None"
		}
		if config.Secret(e.Group, e.Name) {
			v = "***"
		}
		lines = append(lines, fmt.Sprintf("%s:\n  %s = %s", e.Group, e.Name, v))
	}
	sort.Strings(lines)
	group := ""
	for _, l := range lines {
		g, kv, _ := strings.Cut(l, "\n")
		if g != group {
			fmt.Fprintf(w, "\n%s\n", g)
			group = g
		}
		fmt.Fprintln(w, kv)
	}
	fmt.Fprintln(w)
	section("Threads")
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	fmt.Fprintf(w, "%d goroutines\n\n%s\n", runtime.NumGoroutine(), buf)
}

func center(s string, width int) string {
	pad := max(0, width-len(s))
	return strings.Repeat(" ", pad/2) + s + strings.Repeat(" ", pad-pad/2)
}
