package imagecache

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// Usage implements Cache. It reads what Prune reads (the base directory and the backing files
// of the instance disks) and changes nothing, not even a base file's times.
func (c *Local) Usage(ctx context.Context) (Usage, error) {
	u, err := c.usage(ctx)
	if err != nil {
		return u, fmt.Errorf("imagecache: usage: %w", err)
	}
	return u, nil
}

func (c *Local) usage(ctx context.Context) (Usage, error) {
	var u Usage
	free, err := c.freeSpace(c.opts.InstancesPath)
	if err != nil {
		return u, fsErr(err, "statfs %s", c.opts.InstancesPath)
	}
	u.FreeBytes = free

	baseDir := c.opts.baseDir()
	entries, err := os.ReadDir(baseDir)
	if errors.Is(err, fs.ErrNotExist) {
		return u, nil // nothing cached yet
	}
	if err != nil {
		return u, fsErr(err, "listing %s", baseDir)
	}
	backing, err := c.backingFilesInUse(ctx)
	if err != nil {
		return u, err
	}
	for _, e := range entries {
		if fp, _ := baseFingerprint(e.Name()); fp == "" || !e.Type().IsRegular() {
			continue // temp files of work in progress, strangers
		}
		info, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // pruned since the listing
		}
		if err != nil {
			return u, fsErr(err, "stat %s", filepath.Join(baseDir, e.Name()))
		}
		u.SizeBytes += allocatedSize(info)
		if backing[e.Name()] {
			u.InUse++
		} else {
			u.Unused++
		}
	}
	return u, nil
}

// allocatedSize is the space a file takes on disk (a sparse raw image takes less than its size).
func allocatedSize(info fs.FileInfo) int64 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return st.Blocks * 512
	}
	return info.Size()
}
