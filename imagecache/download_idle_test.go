package imagecache

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/novalet/novalet/openstack/glance/glancetest"
)

// TestStalledDownloadIsCut: Glance sends half the image and then nothing. The download fails
// after the idle timeout (not the hours of DownloadTimeout), leaves no partial file, and frees
// its slot: the next Ensure downloads afresh and succeeds.
func TestStalledDownloadIsCut(t *testing.T) {
	c, _ := unitCache(t, func(o *Options) { o.DownloadIdleTimeout = 200 * time.Millisecond })
	g := glancetest.New(t)
	img := g.Add(glancetest.Image{ID: uuid.NewString(), Data: rawData(256 << 10)})
	release := g.Hold()
	defer release()
	_, err := c.Ensure(testCtx(t), reqFor(g, img.ID))
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "stalled") {
		t.Fatalf("Ensure of a stalled download = %v, want ErrUnavailable saying it stalled", err)
	}
	entries, _ := os.ReadDir(c.opts.baseDir())
	for _, e := range entries {
		t.Errorf("left in _base: %s", e.Name())
	}
	release()
	if _, err := c.Ensure(testCtx(t), reqFor(g, img.ID)); err != nil {
		t.Fatalf("Ensure after the stall: %v", err)
	}
	if n := g.Downloads(img.ID); n < 2 {
		t.Fatalf("%d downloads, want a fresh one after the stall", n)
	}
}
