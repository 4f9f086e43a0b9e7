package imagecache

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
)

// plantBase puts a base file for a new image id into the cache, last used age ago.
func plantBase(t *testing.T, c *Local, age time.Duration, now time.Time) (id, path string) {
	t.Helper()
	id = uuid.NewString()
	if err := os.MkdirAll(c.BaseDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(c.BaseDir(), BaseName(id))
	if err := os.WriteFile(path, rawData(4096), 0o644); err != nil {
		t.Fatal(err)
	}
	mt := now.Add(-age)
	if err := os.Chtimes(path, mt, mt); err != nil {
		t.Fatal(err)
	}
	return id, path
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func TestPruneKeepsEverythingWhenRemovalIsOff(t *testing.T) {
	c, _ := unitCache(t, func(o *Options) { o.RemoveUnusedBaseImages = false })
	now := time.Now()
	_, old := plantBase(t, c, 30*24*time.Hour, now)
	res, err := c.Prune(testCtx(t), nil, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Removed) != 0 || !exists(old) || res.TooYoung != 1 {
		t.Fatalf("remove_unused_base_images=false: %+v, base exists %v", res, exists(old))
	}
}

func TestPruneHonoursConfiguredAge(t *testing.T) {
	c, _ := unitCache(t, func(o *Options) { o.RemoveUnusedOriginalMinimumAge = 10 * time.Minute })
	now := time.Now()
	_, older := plantBase(t, c, 11*time.Minute, now)
	_, newer := plantBase(t, c, 9*time.Minute, now)
	res, err := c.Prune(testCtx(t), nil, now)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Removed, []string{older}) || !exists(newer) || res.FreedBytes <= 0 {
		t.Fatalf("result %+v; newer exists %v", res, exists(newer))
	}
}

func TestPruneWatermarkRemovesLeastRecentlyUsedFirst(t *testing.T) {
	c, _ := unitCache(t, func(o *Options) {
		o.FreeSpaceWatermark = 10 << 30
		o.WatermarkMinimumAge = 10 * time.Minute
	})
	now := time.Now()
	inUseID, inUse := plantBase(t, c, 20*time.Hour, now) // oldest, but in use
	_, lru := plantBase(t, c, 5*time.Hour, now)
	_, mid := plantBase(t, c, 3*time.Hour, now)
	_, recent := plantBase(t, c, 2*time.Hour, now)
	_, fresh := plantBase(t, c, time.Minute, now) // may be about to back an overlay

	// Free space reaches the watermark after two removals.
	c.freeSpace = func(string) (int64, error) {
		removed := 0
		for _, p := range []string{lru, mid, recent, fresh} {
			if !exists(p) {
				removed++
			}
		}
		if removed >= 2 {
			return 11 << 30, nil
		}
		return 1 << 30, nil
	}
	res, err := c.Prune(testCtx(t), map[string]bool{inUseID: true}, now)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Removed, []string{lru, mid}) {
		t.Fatalf("watermark removed %v, want the two least recently used %v", res.Removed, []string{lru, mid})
	}
	for _, p := range []string{inUse, recent, fresh} {
		if !exists(p) {
			t.Fatalf("%s removed", p)
		}
	}
	if res.TooYoung != 2 || res.InUse != 1 {
		t.Fatalf("result %+v", res)
	}

	// However short of space, a base used in the last WatermarkMinimumAge stays.
	c.freeSpace = func(string) (int64, error) { return 0, nil }
	res, err = c.Prune(testCtx(t), map[string]bool{inUseID: true}, now)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Removed, []string{recent}) || !exists(fresh) || !exists(inUse) {
		t.Fatalf("second pass removed %v; fresh exists %v, in-use exists %v", res.Removed, exists(fresh), exists(inUse))
	}
}

func TestPruneSparesABaseBeingFetched(t *testing.T) {
	c, _ := unitCache(t, nil)
	now := time.Now()
	_, old := plantBase(t, c, 48*time.Hour, now)
	name := filepath.Base(old)
	release := make(chan struct{})
	started := make(chan struct{})
	go func() {
		_, _, _ = c.flights.do(testCtx(t), name, time.Minute, func(context.Context) (string, error) {
			close(started)
			<-release
			return old, nil
		})
	}()
	<-started
	res, err := c.Prune(testCtx(t), nil, now)
	close(release)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Removed) != 0 || !exists(old) {
		t.Fatalf("Prune removed a base with a fetch under way: %+v", res)
	}
}
