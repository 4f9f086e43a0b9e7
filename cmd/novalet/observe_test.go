package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/novalet/novalet/imagecache"
)

// The metrics read the image cache's usage from the cache itself.
func TestImageCacheUsageAdapter(t *testing.T) {
	dir := t.TempDir()
	c, err := imagecache.NewFake(dir)
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(dir, "_base")
	if err := os.MkdirAll(base, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(base, strings.Repeat("a", 40)), make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	src := imageCacheUsage{c}
	u, err := src.ImageCacheUsage(context.Background())
	if err != nil || u.ImagesUnused != 1 || u.ImagesInUse != 0 || u.PathFreeBytes <= 0 {
		t.Fatalf("usage = %+v, %v; want one unused image and some free space", u, err)
	}
	boom := errors.New("statfs failed")
	c.FailNext("Usage", boom)
	if _, err := src.ImageCacheUsage(context.Background()); !errors.Is(err, boom) {
		t.Fatalf("failing cache: %v", err)
	}
}
