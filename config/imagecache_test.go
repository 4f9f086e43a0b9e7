package config

import (
	"errors"
	"strings"
	"testing"
)

// The options of nova's periodic image cache manager: nova 26.2.2's defaults, -1 as the
// lowest manager_interval (disabled), and the name it had in [DEFAULT].
func TestImageCacheManagerOptions(t *testing.T) {
	dir := t.TempDir()
	c := load(t, Source{Path: writeFile(t, dir, "empty.conf", "[DEFAULT]\n")})
	ic := c.ImageCache
	if ic.ManagerInterval != 2400 || !ic.RemoveUnusedBaseImages || ic.RemoveUnusedOriginalMinimumAgeSeconds != 86400 ||
		ic.RemoveUnusedResizedMinimumAgeSeconds != 3600 || ic.SubdirectoryName != "_base" {
		t.Errorf("defaults: %+v", ic)
	}

	c = load(t, Source{Path: writeFile(t, dir, "set.conf",
		"[image_cache]\nmanager_interval = -1\nremove_unused_base_images = false\nremove_unused_original_minimum_age_seconds = 600\n")})
	if ic := c.ImageCache; ic.ManagerInterval != -1 || ic.RemoveUnusedBaseImages || ic.RemoveUnusedOriginalMinimumAgeSeconds != 600 {
		t.Errorf("set: %+v", ic)
	}

	c = load(t, Source{Path: writeFile(t, dir, "old.conf", "[DEFAULT]\nimage_cache_manager_interval = 0\n")})
	if c.ImageCache.ManagerInterval != 0 {
		t.Errorf("[DEFAULT] image_cache_manager_interval = 0 gave manager_interval %d", c.ImageCache.ManagerInterval)
	}
	if w := warningsText(c); !strings.Contains(w, "image_cache_manager_interval: deprecated name; use [image_cache] manager_interval") {
		t.Errorf("warnings: %s", w)
	}

	_, err := Load([]Source{{Path: writeFile(t, dir, "bad.conf", "[image_cache]\nmanager_interval = -2\n")}})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "[image_cache] manager_interval") {
		t.Errorf("manager_interval = -2: %v, want ErrInvalid", err)
	}
}
