package main

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestOneNovaletPerHost(t *testing.T) {
	dir := t.TempDir()
	first, err := lockHost(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, hostLockFile))
	if strings.TrimSpace(string(b)) != strconv.Itoa(os.Getpid()) {
		t.Fatalf("lock file holds %q, want this pid", b)
	}
	// A second one (flock locks belong to the open file, so a second open conflicts even in
	// one process) is refused and names the holder.
	if _, err := lockHost(dir); !errors.Is(err, errHostLocked) || !strings.Contains(err.Error(), strconv.Itoa(os.Getpid())) {
		t.Fatalf("second lock: %v", err)
	}
	first.Close() // the process ended
	again, err := lockHost(dir)
	if err != nil {
		t.Fatalf("lock after the holder ended: %v", err)
	}
	again.Close()
}
