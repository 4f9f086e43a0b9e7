package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// hostLockFile is the lock one novalet per host holds, under state_path.
const hostLockFile = "novalet.lock"

// errHostLocked: another novalet runs on this host. Its start-up recovery would treat the
// first one's builds as interrupted and destroy them, and both would consume compute.<host>.
var errHostLocked = errors.New("another novalet runs on this host")

// lockHost takes state_path/novalet.lock (flock, held until the process ends) and writes this
// process's pid into it. The kernel drops the lock when the process dies, however it dies, so
// a stale file never blocks a restart.
func lockHost(statePath string) (*os.File, error) {
	if err := os.MkdirAll(statePath, 0o755); err != nil {
		return nil, fmt.Errorf("state_path: %w", err)
	}
	path := filepath.Join(statePath, hostLockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("host lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		b, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w (pid %s holds %s)", errHostLocked, strings.TrimSpace(string(b)), path)
		}
		return nil, fmt.Errorf("host lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}
