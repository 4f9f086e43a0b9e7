package testenv

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

var novalet struct {
	once sync.Once
	path string
	err  error
	out  []byte
}

// Novalet builds ./cmd/novalet once per test binary and returns the path of the binary.
func Novalet(t testing.TB) string {
	t.Helper()
	novalet.once.Do(func() {
		dir, err := os.MkdirTemp("", "novalet-test-bin-")
		if err != nil {
			novalet.err = err
			return
		}
		goTool, err := exec.LookPath("go")
		if err != nil {
			goTool = "/usr/local/go/bin/go"
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		novalet.path = filepath.Join(dir, "novalet")
		cmd := exec.CommandContext(ctx, goTool, "build", "-o", novalet.path, "./cmd/novalet")
		cmd.Dir = RepoRoot(t)
		novalet.out, novalet.err = cmd.CombinedOutput()
	})
	if novalet.err != nil {
		t.Fatalf("testenv: go build ./cmd/novalet: %v\n%s", novalet.err, novalet.out)
	}
	return novalet.path
}
