package metrics

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestImageCacheRecorders(t *testing.T) {
	m := newTestMetrics(t)
	m.ImageCacheLookup(LookupHit)
	m.ImageCacheLookup(LookupHit)
	m.ImageCacheLookup(LookupMiss)
	m.ImageCacheLookup(LookupCoalesced)
	m.ImageCacheLookup(Lookup("bogus")) // ignored
	m.ImageDownloaded(1<<20, 4*time.Second, ResultSuccess)
	m.ImageDownloaded(512, time.Second, ResultError) // bytes received before the failure count
	m.ImageEvicted(EvictUnused)
	m.ImageEvicted(EvictSpace)
	m.ImageEvicted(EvictSpace)
	m.ImageEvicted(EvictionReason("bogus")) // ignored
	compare(t, m, `
# HELP novalet_image_cache_lookups_total Requests for an image to the image cache, by result (hit, miss, coalesced).
# TYPE novalet_image_cache_lookups_total counter
novalet_image_cache_lookups_total{result="coalesced"} 1
novalet_image_cache_lookups_total{result="hit"} 2
novalet_image_cache_lookups_total{result="miss"} 1
# HELP novalet_image_download_bytes_total Bytes downloaded from Glance into the image cache.
# TYPE novalet_image_download_bytes_total counter
novalet_image_download_bytes_total 1.049088e+06
# HELP novalet_image_cache_evictions_total Base files removed from the image cache, by reason.
# TYPE novalet_image_cache_evictions_total counter
novalet_image_cache_evictions_total{reason="space"} 2
novalet_image_cache_evictions_total{reason="unused"} 1
`, "novalet_image_cache_lookups_total", "novalet_image_download_bytes_total", "novalet_image_cache_evictions_total")
	if n, sum := histogram(t, m, "novalet_image_download_duration_seconds", map[string]string{"result": "success"}); n != 1 || sum != 4 {
		t.Errorf("download duration {success}: %d samples, sum %v; want 1, 4", n, sum)
	}
}

type stubImageCache struct {
	u   ImageCacheUsage
	err error
}

func (s stubImageCache) ImageCacheUsage(context.Context) (ImageCacheUsage, error) { return s.u, s.err }

func TestImageCacheCollector(t *testing.T) {
	m := newTestMetrics(t)
	src := &stubImageCache{u: ImageCacheUsage{SizeBytes: 3 << 30, ImagesInUse: 2, ImagesUnused: 1, PathFreeBytes: 40 << 30}}
	if err := m.WatchImageCache(src); err != nil {
		t.Fatal(err)
	}
	compare(t, m, `
# HELP novalet_image_cache_size_bytes Space the image cache's base files take on disk.
# TYPE novalet_image_cache_size_bytes gauge
novalet_image_cache_size_bytes 3.221225472e+09
# HELP novalet_image_cache_images Base files in the image cache, in use by an instance disk or not.
# TYPE novalet_image_cache_images gauge
novalet_image_cache_images{state="in_use"} 2
novalet_image_cache_images{state="unused"} 1
# HELP novalet_instances_path_free_bytes Free space of the file system holding instances_path.
# TYPE novalet_instances_path_free_bytes gauge
novalet_instances_path_free_bytes 4.294967296e+10
`, "novalet_image_cache_size_bytes", "novalet_image_cache_images", "novalet_instances_path_free_bytes")

	src.err = errors.New("permission denied")
	if n := testutil.CollectAndCount(m.Registry(), "novalet_image_cache_size_bytes"); n != 0 {
		t.Errorf("%d size series from a failing source, want none", n)
	}
	// Two scrapes so far failed: CollectAndCount's and scrapeFailures' own.
	if got := scrapeFailures(t, m, "image_cache", "error"); got != 2 {
		t.Errorf(`failures{collector="image_cache",reason="error"} = %v, want 2`, got)
	}
}

// qcow2Header is the start of a qcow2 v3 image naming backing as its backing file.
func qcow2Header(backing string) []byte {
	h := make([]byte, 512)
	binary.BigEndian.PutUint32(h[0:], qcow2Magic)
	binary.BigEndian.PutUint32(h[4:], 3)
	if backing != "" {
		binary.BigEndian.PutUint64(h[8:], 200)
		binary.BigEndian.PutUint32(h[16:], uint32(len(backing)))
		copy(h[200:], backing)
	}
	return h
}

func TestFSImageCache(t *testing.T) {
	root := t.TempDir()
	base := filepath.Join(root, "_base")
	used := strings.Repeat("a", 40)
	unused := strings.Repeat("b", 40)
	legacy := strings.Repeat("c", 40) + "_10737418240" // nova's old resized copy
	write := func(path string, data []byte) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	block := make([]byte, 64<<10)
	write(filepath.Join(base, used), block)
	write(filepath.Join(base, unused), block)
	write(filepath.Join(base, legacy), block)
	write(filepath.Join(base, "tmp-download-123"), block) // not a base file
	inst := filepath.Join(root, "6a7c1b2e-5f3d-4c8a-9e0f-1a2b3c4d5e6f")
	write(filepath.Join(inst, "disk"), qcow2Header(filepath.Join(base, used)))
	write(filepath.Join(inst, "disk.config"), []byte("ISO"))
	write(filepath.Join(inst, "disk.info"), []byte("{}"))
	write(filepath.Join(root, "other-instance", "disk"), []byte("raw, short")) // not qcow2
	write(filepath.Join(root, "third-instance", "disk.local"), qcow2Header(""))

	u, err := FSImageCache{InstancesPath: root}.ImageCacheUsage(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if u.ImagesInUse != 1 || u.ImagesUnused != 2 {
		t.Errorf("images in use %d, unused %d; want 1 and 2", u.ImagesInUse, u.ImagesUnused)
	}
	// Allocation depends on the file system; three 64 KiB files take at least one block each.
	if u.SizeBytes < 3*512 || u.SizeBytes > 3*(64<<10)+3*(64<<10) {
		t.Errorf("size %d bytes for three 64 KiB base files", u.SizeBytes)
	}
	if u.PathFreeBytes <= 0 {
		t.Errorf("free bytes %d, want > 0", u.PathFreeBytes)
	}

	// No _base yet: an empty cache, not an error.
	empty, err := FSImageCache{InstancesPath: t.TempDir()}.ImageCacheUsage(context.Background())
	if err != nil || empty.SizeBytes != 0 || empty.ImagesInUse+empty.ImagesUnused != 0 || empty.PathFreeBytes <= 0 {
		t.Errorf("fresh instances_path: %+v, %v", empty, err)
	}
	if _, err := (FSImageCache{InstancesPath: filepath.Join(root, "missing")}).ImageCacheUsage(context.Background()); err == nil {
		t.Error("a missing instances_path was not an error")
	}
	// A custom subdirectory_name.
	write(filepath.Join(root, "cache", unused), block)
	custom, err := FSImageCache{InstancesPath: root, SubdirectoryName: "cache"}.ImageCacheUsage(context.Background())
	if err != nil || custom.ImagesUnused != 1 || custom.ImagesInUse != 0 {
		t.Errorf("subdirectory_name=cache: %+v, %v", custom, err)
	}
}

func TestIsCachedImageName(t *testing.T) {
	h := strings.Repeat("0123456789", 4)
	for name, want := range map[string]bool{
		h: true, h + "_sm": true, h + "_10737418240": true,
		h + "_": false, h + "x": false, h[:39]: false, "ABCDEF" + h[6:]: false,
		strings.Repeat("g", 40): false, "": false,
	} {
		if got := isCachedImageName(name); got != want {
			t.Errorf("isCachedImageName(%q) = %v, want %v", name, got, want)
		}
	}
}
