package cachetest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/uuid"
)

// testUsage: the cache reports its base files' size and which of them instance disks use,
// counting nova's legacy copies and leaving temp files out.
func testUsage(t *testing.T, e *env) {
	u, err := e.cache.Usage(testCtx(t))
	if err != nil {
		t.Fatalf("Usage of an empty cache: %v", err)
	}
	if u.SizeBytes != 0 || u.InUse != 0 || u.Unused != 0 || u.FreeBytes <= 0 {
		t.Fatalf("Usage of an empty cache = %+v, want nothing cached and some free space", u)
	}

	const kib = 256
	_, used := e.ensure(t, 50)
	_, unused := e.ensure(t, 51)
	_, resized := e.ensure(t, 52)
	if err := os.Rename(resized, resized+"_10737418240"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(unused+".part.999", make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	instance := filepath.Join(e.instances, uuid.NewString())
	if _, err := e.cache.CreateOverlay(testCtx(t), used, instance, 0); err != nil {
		t.Fatal(err)
	}

	u, err = e.cache.Usage(testCtx(t))
	if err != nil {
		t.Fatalf("Usage: %v", err)
	}
	if u.InUse != 1 || u.Unused != 2 {
		t.Fatalf("Usage = %+v, want 1 base in use and 2 unused", u)
	}
	// Three raw bases of 256 KiB of data; allocation rounds to the file system's blocks.
	if lo, hi := int64(3*kib<<10)/2, int64(3*kib<<10)*2; u.SizeBytes < lo || u.SizeBytes > hi {
		t.Fatalf("Usage: %d bytes for three %d KiB bases, want between %d and %d", u.SizeBytes, kib, lo, hi)
	}
	if u.FreeBytes <= 0 {
		t.Fatalf("Usage: free bytes %d", u.FreeBytes)
	}

	// The instance goes: its base is unused now.
	if err := os.RemoveAll(instance); err != nil {
		t.Fatal(err)
	}
	u, err = e.cache.Usage(testCtx(t))
	if err != nil || u.InUse != 0 || u.Unused != 3 {
		t.Fatalf("Usage after the instance went = %+v, %v; want 3 unused", u, err)
	}
}
