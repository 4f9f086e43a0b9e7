// Package failpoint holds an operation at a named step when the process was started with
// NOVALET_FAILPOINTS naming that step. The fault suite (e2e/faults_test.go, `make faults`)
// kills novalet -9 there, to prove that start-up recovery settles an operation interrupted at
// every step of build, delete, stop, reboot and suspend. Without the variable (in production)
// Hold returns at once; the names are read once, at the first Hold.
package failpoint

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"sync"
)

// Env names the variable that arms failpoints: a comma-separated list of names.
const Env = "NOVALET_FAILPOINTS"

// Msg is the message Hold logs when it holds; the fault suite waits for it.
const Msg = "failpoint reached; holding the operation until the process ends"

var armed = sync.OnceValue(func() map[string]bool { return parse(os.Getenv(Env)) })

// parse splits a NOVALET_FAILPOINTS value into its names.
func parse(v string) map[string]bool {
	names := map[string]bool{}
	for _, n := range strings.Split(v, ",") {
		if n = strings.TrimSpace(n); n != "" {
			names[n] = true
		}
	}
	return names
}

// Hold logs and waits until ctx ends when name is armed; otherwise it returns at once.
func Hold(ctx context.Context, log *slog.Logger, name string) {
	hold(ctx, log, name, armed())
}

func hold(ctx context.Context, log *slog.Logger, name string, names map[string]bool) {
	if !names[name] {
		return
	}
	log.Warn(Msg, "failpoint", name)
	<-ctx.Done()
}
