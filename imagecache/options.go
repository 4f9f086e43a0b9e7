package imagecache

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"
)

// Options configure a cache. DefaultOptions holds nova's defaults; the [image_cache] and
// [DEFAULT] options map one to one, the rest are novalet's bounds on external work.
type Options struct {
	// InstancesPath is [DEFAULT] instances_path.
	InstancesPath string
	// SubdirectoryName is [image_cache] subdirectory_name, relative to InstancesPath.
	SubdirectoryName string
	// ForceRawImages is [DEFAULT] force_raw_images: non-raw images are converted once.
	ForceRawImages bool

	// RemoveUnusedBaseImages is [image_cache] remove_unused_base_images; false disables every
	// removal, the free-space watermark included.
	RemoveUnusedBaseImages bool
	// RemoveUnusedOriginalMinimumAge is [image_cache] remove_unused_original_minimum_age_seconds.
	RemoveUnusedOriginalMinimumAge time.Duration
	// RemoveUnusedResizedMinimumAge is [image_cache] remove_unused_resized_minimum_age_seconds,
	// for legacy "<hash>_<size>" bases nova once made (novalet never does).
	RemoveUnusedResizedMinimumAge time.Duration
	// FreeSpaceWatermark (bytes, 0 = off): while the cache's file system has less free than
	// this, Prune also removes unused bases younger than the minimum age, least recently used
	// first, but never one younger than WatermarkMinimumAge (it may be about to be used).
	FreeSpaceWatermark  int64
	WatermarkMinimumAge time.Duration
	// Fetcher reads images from Glance; nil means a glance.Client with nova's defaults.
	Fetcher Fetcher
	// DownloadTimeout bounds one whole fetch: download, inspection, conversion.
	DownloadTimeout time.Duration
	// DownloadIdleTimeout fails a download that receives nothing for this long (a stalled
	// Glance or network), so it frees its slot instead of waiting for DownloadTimeout.
	DownloadIdleTimeout time.Duration
	// ToolTimeout bounds one qemu-img info/create or genisoimage run; ConvertTimeout bounds
	// qemu-img convert, which is as slow as the disk.
	ToolTimeout    time.Duration
	ConvertTimeout time.Duration
	QemuImgCmd     string // qemu-img binary
	MkisofsCmd     string // [DEFAULT] mkisofs_cmd
	// ConfigDrivePublisher is genisoimage's -publisher; nova uses "<product> <version>".
	ConfigDrivePublisher string

	// SnapshotsDirectory is [libvirt] snapshots_directory, where snapshots are staged; ""
	// means <InstancesPath>/snapshots, nova's default.
	SnapshotsDirectory string
	// SnapshotCompression is [libvirt] snapshot_compression: qcow2 snapshots are compressed.
	SnapshotCompression bool

	// Owner owns what the cache writes under instances_path (_base, bases, instance
	// directories, disks, disk.info, config drives); nil keeps the process's user.
	Owner *Owner

	Logger *slog.Logger // nil: slog.Default()
	// Observer is told about lookups, downloads and evictions; nil: nobody.
	Observer Observer
}

// DefaultOptions returns nova 26.2.2's defaults (Debian) and novalet's bounds.
func DefaultOptions() Options {
	return Options{
		InstancesPath:                  "/var/lib/nova/instances",
		SubdirectoryName:               "_base",
		ForceRawImages:                 true,
		RemoveUnusedBaseImages:         true,
		RemoveUnusedOriginalMinimumAge: 24 * time.Hour,
		RemoveUnusedResizedMinimumAge:  time.Hour,
		WatermarkMinimumAge:            10 * time.Minute,
		DownloadTimeout:                3 * time.Hour,
		DownloadIdleTimeout:            2 * time.Minute,
		ToolTimeout:                    2 * time.Minute,
		ConvertTimeout:                 time.Hour,
		QemuImgCmd:                     "qemu-img",
		MkisofsCmd:                     "genisoimage",
		ConfigDrivePublisher:           "OpenStack Nova 26.2.2",
	}
}

// validate checks the options a cache cannot work without (errors name the option) and fills
// in the default Fetcher.
func (o *Options) validate() error {
	var errs []error
	if !filepath.IsAbs(o.InstancesPath) {
		errs = append(errs, fmt.Errorf("instances_path %q is not an absolute path", o.InstancesPath))
	}
	sub := o.SubdirectoryName
	if sub == "" || filepath.IsAbs(sub) || filepath.Clean(sub) != sub || sub == "." ||
		strings.HasPrefix(sub, "..") {
		errs = append(errs, fmt.Errorf("image_cache.subdirectory_name %q is not a plain relative directory", sub))
	}
	if o.RemoveUnusedOriginalMinimumAge < 0 || o.RemoveUnusedResizedMinimumAge < 0 || o.WatermarkMinimumAge < 0 {
		errs = append(errs, errors.New("image_cache minimum ages must not be negative"))
	}
	if o.SnapshotsDirectory != "" && !filepath.IsAbs(o.SnapshotsDirectory) {
		errs = append(errs, fmt.Errorf("libvirt.snapshots_directory %q is not an absolute path", o.SnapshotsDirectory))
	}
	if o.FreeSpaceWatermark < 0 {
		errs = append(errs, errors.New("free-space watermark must not be negative"))
	}
	if o.Fetcher == nil {
		f, err := defaultFetcher()
		if err != nil {
			errs = append(errs, err)
		}
		o.Fetcher = f
	}
	for name, d := range map[string]time.Duration{
		"download timeout": o.DownloadTimeout, "tool timeout": o.ToolTimeout, "convert timeout": o.ConvertTimeout,
	} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive", name))
		}
	}
	if o.QemuImgCmd == "" || o.MkisofsCmd == "" {
		errs = append(errs, errors.New("qemu-img and mkisofs_cmd must be set"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("imagecache: options: %w", err)
	}
	return nil
}

func (o *Options) baseDir() string { return filepath.Join(o.InstancesPath, o.SubdirectoryName) }

func (o *Options) logger() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.Default()
}
