package testenv

import (
	"context"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

var (
	fixturesOnce sync.Once
	fixturesErr  string
)

// ControlPlaneFixtures makes sure the running control plane has what the demo and the tests
// use (image guest, flavor test_flavor, key pair test-key with its private key file, network
// test_net with test_subnet) by running controlplane/fixtures.sh, once per test binary. The
// script creates what is missing and leaves the rest, so no test depends on state an earlier
// run left behind. A failure fails the test with the script's output.
func ControlPlaneFixtures(t testing.TB) {
	t.Helper()
	RequireRoot(t)
	fixturesOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		script := filepath.Join(RepoRoot(t), "controlplane", "fixtures.sh")
		out, err := exec.CommandContext(ctx, "bash", script).CombinedOutput()
		if err != nil {
			fixturesErr = "controlplane/fixtures.sh: " + err.Error() + "\n" + string(out)
		}
	})
	if fixturesErr != "" {
		t.Fatalf("testenv: the control plane's fixtures: %s", fixturesErr)
	}
}
