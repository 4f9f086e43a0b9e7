package metrics

import (
	"context"
	"errors"
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
