package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/novalet/novalet/config"
)

func TestPeriodicSpacingIsOslos(t *testing.T) {
	for in, want := range map[int]time.Duration{-1: -1, 0: 60 * time.Second, 2400: 40 * time.Minute} {
		if got := periodicSpacing(in); got != want {
			t.Errorf("periodicSpacing(%d) = %v, want %v", in, got, want)
		}
	}
}

// The image cache manager's options reach the agent and the cache.
func TestImageCacheManagerOptionsAreWired(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "nova.conf")
	body := "[DEFAULT]\ninstances_path = " + dir + "\n[image_cache]\nmanager_interval = 0\n" +
		"remove_unused_base_images = false\nremove_unused_original_minimum_age_seconds = 600\n[glance]\nnum_retries = 1\n"
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load([]config.Source{{Path: conf}})
	if err != nil {
		t.Fatal(err)
	}
	if got := computeOptions(cfg).ImageCacheManagerInterval; got != 60*time.Second {
		t.Errorf("manager_interval = 0: interval %v, want oslo's default 60s", got)
	}
	o, err := imageCacheOptions(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.RemoveUnusedBaseImages || o.RemoveUnusedOriginalMinimumAge != 10*time.Minute || o.Fetcher == nil {
		t.Errorf("image cache options: remove %v, minimum age %v, fetcher %v", o.RemoveUnusedBaseImages,
			o.RemoveUnusedOriginalMinimumAge, o.Fetcher)
	}
	// The default: every 40 minutes, as nova.
	cfg.ImageCache.ManagerInterval = 2400
	if got := computeOptions(cfg).ImageCacheManagerInterval; got != 40*time.Minute {
		t.Errorf("default manager_interval: %v", got)
	}
	// sync_power_state_interval reads the same way: 0 is the default spacing, negative is off.
	for in, want := range map[int]time.Duration{0: 60 * time.Second, -1: -1, 600: 10 * time.Minute} {
		cfg.Default.SyncPowerStateInterval = in
		if got := computeOptions(cfg).SyncPowerStateInterval; got != want {
			t.Errorf("sync_power_state_interval = %d: %v, want %v", in, got, want)
		}
	}
}

// TestGlanceTLSAndTimeoutReachDownloads: [glance] cafile, insecure and timeout apply to image
// downloads (they used http.DefaultClient): a missing cafile is a config error naming
// [glance], and timeout bounds a stalled stream.
func TestGlanceTLSAndTimeoutReachDownloads(t *testing.T) {
	load := func(body string) *config.Config {
		t.Helper()
		p := filepath.Join(t.TempDir(), "nova.conf")
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load([]config.Source{{Path: p}})
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	if _, err := imageCacheOptions(load("[glance]\ncafile = /nonexistent/ca.pem\n"), nil); err == nil || !strings.Contains(err.Error(), "[glance]") {
		t.Fatalf("missing cafile: %v", err)
	}
	o, err := imageCacheOptions(load("[glance]\ninsecure = true\ntimeout = 7\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.DownloadIdleTimeout != 7*time.Second {
		t.Errorf("idle timeout %v, want [glance] timeout", o.DownloadIdleTimeout)
	}
}
