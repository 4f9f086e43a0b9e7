package imagecache

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// CreateOverlay implements Cache: nova's Qcow2 image backend creating an instance's root disk.
func (c *Local) CreateOverlay(ctx context.Context, base, instanceDir string, rootSize int64) (string, error) {
	return c.CreateOverlayAs(ctx, base, instanceDir, "disk", rootSize)
}

// CreateOverlayAs implements Cache: the Qcow2 backend creating another disk on a base, as a
// rescue's disk.rescue.
func (c *Local) CreateOverlayAs(ctx context.Context, base, instanceDir, name string, rootSize int64) (string, error) {
	disk, err := c.createOverlay(ctx, base, instanceDir, name, rootSize)
	if err != nil {
		return "", fmt.Errorf("imagecache: overlay %s on %s: %w", filepath.Join(instanceDir, name), base, err)
	}
	return disk, nil
}

func (c *Local) createOverlay(ctx context.Context, base, instanceDir, name string, rootSize int64) (string, error) {
	if name != "disk" {
		if err := checkInstanceFileName(name, "disk."); err != nil {
			return "", err
		}
		if strings.HasPrefix(name, "disk.config") {
			return "", classed(ErrInvalid, "%q is a config drive's name, not a disk's", name)
		}
	}
	if err := c.checkBasePath(base); err != nil {
		return "", err
	}
	if !filepath.IsAbs(instanceDir) {
		return "", classed(ErrInvalid, "instance directory %q is not absolute", instanceDir)
	}
	if rootSize < 0 {
		return "", classed(ErrInvalid, "negative root disk size %d", rootSize)
	}
	if _, err := os.Stat(base); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", classedErr(ErrNotFound, err, "base file")
		}
		return "", fsErr(err, "stat %s", base)
	}
	// nova re-checks the base every time: checks may have been added since it was cached.
	in, err := inspectFile(base)
	if err != nil {
		return "", fsErr(err, "inspecting %s", base)
	}
	if err := in.safe(); err != nil {
		return "", fmt.Errorf("base image failed safety check: %w", err)
	}
	info, err := c.tools.info(ctx, base, in.format)
	if err != nil {
		return "", err
	}
	if info.BackingFile != "" {
		return "", classed(ErrCorrupt, "base image failed safety check: backed by %s", info.BackingFile)
	}
	if info.DataFile != "" {
		return "", classed(ErrCorrupt, "base image failed safety check: data-file %s", info.DataFile)
	}
	if rootSize > 0 && rootSize < info.VirtualSize {
		return "", &DiskTooSmallError{FlavorSize: rootSize, ImageSize: info.VirtualSize}
	}
	// The base is in use from now on; its fresh mtime keeps Prune away until the overlay exists.
	if err := touch(base); err != nil {
		return "", err
	}

	disk := filepath.Join(instanceDir, name)
	if _, err := os.Stat(disk); err == nil {
		if err := c.checkExistingOverlay(ctx, disk, base); err != nil {
			return "", err
		}
		return disk, c.addDiskInfo(instanceDir, disk, "qcow2")
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fsErr(err, "stat %s", disk)
	}
	if _, err := writeInstanceFile(instanceDir, name, c.opts.Owner, func(tmp string) error {
		return c.tools.createOverlay(ctx, tmp, base, info.Format, info.ClusterSize, rootSize)
	}); err != nil {
		return "", err
	}
	if err := c.addDiskInfo(instanceDir, disk, "qcow2"); err != nil {
		return "", err
	}
	c.log.Info("instance disk created", "path", disk, "backing_file", base, "size", rootSize)
	return disk, nil
}

// checkBasePath accepts only a base file of this cache, so an overlay can never be backed by
// an arbitrary host file.
func (c *Local) checkBasePath(base string) error {
	if filepath.Clean(base) != base || filepath.Dir(base) != c.opts.baseDir() || !isBaseName(filepath.Base(base)) {
		return classed(ErrInvalid, "%q is not a base file of %s", base, c.opts.baseDir())
	}
	return nil
}

// checkExistingOverlay lets a repeated CreateOverlay (a retried build step) succeed when the
// disk there is already the overlay asked for.
func (c *Local) checkExistingOverlay(ctx context.Context, disk, base string) error {
	info, err := c.tools.info(ctx, disk, "qcow2")
	if err != nil {
		return err
	}
	if info.Format != "qcow2" || info.BackingFile != base {
		return classed(ErrInvalid, "%s exists (format %s, backing file %q)", disk, info.Format, info.BackingFile)
	}
	return nil
}

// GrowDisk implements Cache: the root disk of a resize grows to the new flavor's root_gb.
func (c *Local) GrowDisk(ctx context.Context, instanceDir string, size int64) error {
	if !filepath.IsAbs(instanceDir) {
		return classed(ErrInvalid, "instance directory %q is not absolute", instanceDir)
	}
	if size < 0 {
		return classed(ErrInvalid, "negative disk size %d", size)
	}
	disk := filepath.Join(instanceDir, "disk")
	if _, err := os.Stat(disk); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return classedErr(ErrNotFound, err, "instance disk")
		}
		return fsErr(err, "stat %s", disk)
	}
	info, err := c.tools.info(ctx, disk, "qcow2")
	if err != nil {
		return fmt.Errorf("imagecache: grow %s: %w", disk, err)
	}
	if size <= info.VirtualSize {
		return nil
	}
	if err := c.tools.resize(ctx, disk, size); err != nil {
		return fmt.Errorf("imagecache: grow %s to %d: %w", disk, size, err)
	}
	c.log.Info("instance disk grown", "path", disk, "from", info.VirtualSize, "size", size)
	return nil
}
