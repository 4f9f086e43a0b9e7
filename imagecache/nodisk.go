package imagecache

import (
	"context"
	"path/filepath"
	"time"
)

// NoDisks is the cache of the fake driver (compute_driver = fake.FakeDriver): as nova's fake
// driver never touches a disk, nothing is downloaded and nothing is written. It answers with
// the paths Local would use, so the domain definitions the fake hypervisor keeps look as they
// would on a libvirt host. Snapshots and disk extraction have no disk to read: ErrInvalid.
type NoDisks struct {
	opts Options
}

var _ Cache = (*NoDisks)(nil)

// NewNoDisks returns the cache for instancesPath with nova's default layout.
func NewNoDisks(instancesPath string) *NoDisks {
	o := DefaultOptions()
	o.InstancesPath = instancesPath
	return &NoDisks{opts: o}
}

// Ensure returns the base file's path without fetching the image.
func (c *NoDisks) Ensure(ctx context.Context, req Request) (string, error) {
	if err := validateImageID(req.ImageID); err != nil {
		return "", err
	}
	return filepath.Join(c.opts.baseDir(), BaseName(req.ImageID)), ctx.Err()
}

// CreateOverlay returns <instanceDir>/disk without writing it.
func (c *NoDisks) CreateOverlay(ctx context.Context, base, instanceDir string, rootSize int64) (string, error) {
	return filepath.Join(instanceDir, "disk"), ctx.Err()
}

// CreateOverlayAs returns <instanceDir>/<name> without writing it.
func (c *NoDisks) CreateOverlayAs(ctx context.Context, base, instanceDir, name string, rootSize int64) (string, error) {
	if err := checkInstanceFileName(name, "disk."); err != nil {
		return "", err
	}
	return filepath.Join(instanceDir, name), ctx.Err()
}

// CopyAs returns <instanceDir>/<name> without writing it.
func (c *NoDisks) CopyAs(ctx context.Context, base, instanceDir, name string) (string, error) {
	return filepath.Join(instanceDir, name), ctx.Err()
}

// RebaseDisk has no disk to rebase.
func (c *NoDisks) RebaseDisk(ctx context.Context, instanceDir, base string) error {
	return ctx.Err()
}

// GrowDisk has no disk to grow.
func (c *NoDisks) GrowDisk(ctx context.Context, instanceDir string, size int64) error {
	return ctx.Err()
}

// BuildConfigDrive returns <instanceDir>/disk.config without writing it.
func (c *NoDisks) BuildConfigDrive(ctx context.Context, instanceDir string, files map[string][]byte) (string, error) {
	return filepath.Join(instanceDir, "disk.config"), ctx.Err()
}

// BuildConfigDriveAs returns <instanceDir>/<name> without writing it.
func (c *NoDisks) BuildConfigDriveAs(ctx context.Context, instanceDir, name string, files map[string][]byte) (string, error) {
	if err := checkInstanceFileName(name, "disk.config."); err != nil {
		return "", err
	}
	return filepath.Join(instanceDir, name), ctx.Err()
}

// Prune has nothing to remove.
func (c *NoDisks) Prune(ctx context.Context, inUse map[string]bool, now time.Time) (PruneResult, error) {
	return PruneResult{}, ctx.Err()
}

// Usage reports an empty cache.
func (c *NoDisks) Usage(ctx context.Context) (Usage, error) { return Usage{}, ctx.Err() }

// CleanLeftovers has nothing to clean.
func (c *NoDisks) CleanLeftovers(ctx context.Context) ([]string, error) { return nil, ctx.Err() }

// SnapshotDir refuses: there is no disk to snapshot.
func (c *NoDisks) SnapshotDir(ctx context.Context) (string, func(), error) {
	return "", nil, classed(ErrInvalid, "the fake driver keeps no disks to snapshot")
}

// Extract refuses: there is no disk to read.
func (c *NoDisks) Extract(ctx context.Context, src, srcFormat, dst, format string) error {
	return classed(ErrInvalid, "the fake driver keeps no disks to extract")
}
