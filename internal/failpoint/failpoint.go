// Package failpoint holds an operation at a named step when the process was started with
// NOVALET_FAILPOINTS naming that step. The fault suite (e2e/faults_test.go, `make faults`)
// kills novalet -9 there, to prove that start-up recovery settles an operation interrupted at
// every step of build, delete, stop, reboot and suspend, or lets it go on after a fault it
// injects meanwhile (a broker restart). Without the variable (in production) Hold returns at
// once; the names are read once, at the first Hold.
package failpoint

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"
)

// Env names the variable that arms failpoints: a comma-separated list of names, each
// optionally `name=path`: that one holds only until the file path exists.
const Env = "NOVALET_FAILPOINTS"

// Msg is the message Hold logs when it holds; the fault suite waits for it.
const Msg = "failpoint reached; holding the operation until the process ends"

// ReleasedMsg is the message Hold logs when a release file lets the operation go on.
const ReleasedMsg = "failpoint released; the operation goes on"

// releasePoll is how often a held failpoint looks for its release file.
const releasePoll = 100 * time.Millisecond

var armed = sync.OnceValue(func() map[string]string { return parse(os.Getenv(Env)) })

// parse splits a NOVALET_FAILPOINTS value into its names, each with its release file ("" =
// held until the process ends).
func parse(v string) map[string]string {
	names := map[string]string{}
	for _, n := range strings.Split(v, ",") {
		name, release, _ := strings.Cut(strings.TrimSpace(n), "=")
		if name = strings.TrimSpace(name); name != "" {
			names[name] = strings.TrimSpace(release)
		}
	}
	return names
}

// Hold logs and waits, when name is armed, until ctx ends or its release file exists;
// otherwise it returns at once.
func Hold(ctx context.Context, log *slog.Logger, name string) {
	hold(ctx, log, name, armed())
}

func hold(ctx context.Context, log *slog.Logger, name string, names map[string]string) {
	release, ok := names[name]
	if !ok {
		return
	}
	log.Warn(Msg, "failpoint", name)
	if release == "" {
		<-ctx.Done()
		return
	}
	tick := time.NewTicker(releasePoll)
	defer tick.Stop()
	for {
		if _, err := os.Stat(release); err == nil {
			log.Warn(ReleasedMsg, "failpoint", name)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
