//go:build component

package systemd

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/novalet/novalet/internal/testenv"
)

const unitExecBinary = "/usr/bin/novalet"

// writeUnit writes unit text as dir/novalet.service (the name matters: it is the unit's name).
func writeUnit(t *testing.T, dir, text string) string {
	t.Helper()
	path := filepath.Join(dir, "novalet.service")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// verifyStrict runs `systemd-analyze verify` and returns every output line that names the unit
// and its exit error. Unknown keys and bad values are only warnings (exit 0), and verify also
// loads the host's units and may warn about those, so the lines naming ours are what count.
func verifyStrict(t *testing.T, path string) (ours []string, runErr error) {
	t.Helper()
	tool, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatalf("systemd-analyze not found (apt-get install systemd): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, tool, "verify", path)
	cmd.Stdout, cmd.Stderr = &out, &out
	runErr = cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("systemd-analyze verify %s: %v", path, ctx.Err())
	}
	var exitErr *exec.ExitError
	if runErr != nil && !errors.As(runErr, &exitErr) {
		t.Fatalf("running systemd-analyze: %v", runErr)
	}
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.Contains(l, filepath.Base(path)) {
			ours = append(ours, l)
		}
	}
	return ours, runErr
}

func TestUnitFileVerifies(t *testing.T) {
	bin := testenv.Novalet(t)
	if n := strings.Count(UnitFile, "ExecStart="+unitExecBinary+" "); n != 1 {
		t.Fatalf("novalet.service has %d ExecStart=%s lines, want 1", n, unitExecBinary)
	}
	text := strings.Replace(UnitFile, "ExecStart="+unitExecBinary+" ", "ExecStart="+bin+" ", 1)

	t.Run("novalet.service", func(t *testing.T) {
		ours, err := verifyStrict(t, writeUnit(t, t.TempDir(), text))
		if err != nil || len(ours) != 0 {
			t.Fatalf("systemd-analyze verify: exit %v, lines about the unit:\n%s", err, strings.Join(ours, "\n"))
		}
	})

	// The checker itself must be able to fail, or the pass above proves nothing.
	t.Run("a bad value is caught", func(t *testing.T) {
		bad := strings.Replace(text, "\nKillMode=process\n", "\nKillMode=proces\n", 1)
		if bad == text {
			t.Fatal("KillMode=process not found in the unit")
		}
		// Exit status stays 0 for a bad value; only the warning naming the unit reveals it.
		ours, _ := verifyStrict(t, writeUnit(t, t.TempDir(), bad))
		if len(ours) == 0 {
			t.Fatal("systemd-analyze verify accepted KillMode=proces without a word")
		}
	})
	t.Run("a missing binary is caught", func(t *testing.T) {
		if _, statErr := os.Stat(unitExecBinary); statErr == nil {
			t.Logf("%s is installed here, so the unrewritten unit is legitimately valid", unitExecBinary)
			return
		}
		_, err := verifyStrict(t, writeUnit(t, t.TempDir(), UnitFile))
		if err == nil {
			t.Fatalf("systemd-analyze verify passed with ExecStart=%s absent", unitExecBinary)
		}
	})
}
