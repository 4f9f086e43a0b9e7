package metrics

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// FSImageCache is an ImageCacheSource that reads the cache as nova's layout puts it on disk:
// base files named after the image id's sha1 in <InstancesPath>/<SubdirectoryName> (legacy
// "<sha1>_<suffix>" copies count too), instance disks <InstancesPath>/<uuid>/disk* whose qcow2
// header names a base file as backing. It only reads.
type FSImageCache struct {
	InstancesPath string
	// SubdirectoryName is [image_cache] subdirectory_name; "" means "_base".
	SubdirectoryName string
}

// qcow2 header fields (big-endian): magic, version, backing_file_offset, backing_file_size.
const (
	qcow2Magic      = 0x514649fb // "QFI\xfb"
	qcow2HeaderSize = 20
	maxBackingName  = 1023 // the format's limit
)

// ImageCacheUsage implements ImageCacheSource.
func (c FSImageCache) ImageCacheUsage(ctx context.Context) (ImageCacheUsage, error) {
	var u ImageCacheUsage
	var st unix.Statfs_t
	if err := unix.Statfs(c.InstancesPath, &st); err != nil {
		return u, fmt.Errorf("metrics: statfs %s: %w", c.InstancesPath, err)
	}
	u.PathFreeBytes = int64(st.Bavail) * int64(st.Bsize)

	sub := c.SubdirectoryName
	if sub == "" {
		sub = "_base"
	}
	baseDir := filepath.Join(c.InstancesPath, sub)
	entries, err := os.ReadDir(baseDir)
	if errors.Is(err, fs.ErrNotExist) {
		return u, nil // nothing cached yet
	}
	if err != nil {
		return u, fmt.Errorf("metrics: list %s: %w", baseDir, err)
	}
	bases := map[string]bool{}
	for _, e := range entries {
		if !e.Type().IsRegular() || !isCachedImageName(e.Name()) {
			continue // temp files of running downloads, strangers
		}
		info, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // evicted since the listing
		}
		if err != nil {
			return u, fmt.Errorf("metrics: stat %s: %w", filepath.Join(baseDir, e.Name()), err)
		}
		u.SizeBytes += allocated(info)
		bases[e.Name()] = false
	}

	used, err := backingNames(ctx, c.InstancesPath, sub)
	if err != nil {
		return u, err
	}
	for name := range bases {
		if used[name] {
			u.ImagesInUse++
		} else {
			u.ImagesUnused++
		}
	}
	return u, nil
}

// isCachedImageName reports whether name is "<40 hex digits>" or "<40 hex digits>_<suffix>".
func isCachedImageName(name string) bool {
	if len(name) < 40 || (len(name) > 40 && (name[40] != '_' || len(name) == 41)) {
		return false
	}
	for _, r := range name[:40] {
		if !strings.ContainsRune("0123456789abcdef", r) {
			return false
		}
	}
	return true
}

// allocated is the space a file takes on disk (a sparse raw image takes less than its size).
func allocated(info fs.FileInfo) int64 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return st.Blocks * 512
	}
	return info.Size()
}

// backingNames returns the file names of the backing files of every instance disk.
func backingNames(ctx context.Context, instancesPath, baseSub string) (map[string]bool, error) {
	dirs, err := os.ReadDir(instancesPath)
	if err != nil {
		return nil, fmt.Errorf("metrics: list %s: %w", instancesPath, err)
	}
	used := map[string]bool{}
	for _, d := range dirs {
		if !d.IsDir() || d.Name() == baseSub || strings.HasPrefix(d.Name(), ".") {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		dir := filepath.Join(instancesPath, d.Name())
		files, err := os.ReadDir(dir)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // instance deleted since the listing
			}
			return nil, fmt.Errorf("metrics: list %s: %w", dir, err)
		}
		for _, f := range files {
			n := f.Name()
			if !f.Type().IsRegular() || !strings.HasPrefix(n, "disk") || n == "disk.info" || n == "disk.config" {
				continue
			}
			backing, err := qcow2Backing(filepath.Join(dir, n))
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					continue
				}
				return nil, err
			}
			if backing != "" {
				used[filepath.Base(backing)] = true
			}
		}
	}
	return used, nil
}

// qcow2Backing returns the backing file a qcow2 image names, "" for none or for a file that
// is not qcow2.
func qcow2Backing(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("metrics: open %s: %w", path, err)
	}
	defer f.Close()
	var h [qcow2HeaderSize]byte
	if _, err := io.ReadFull(f, h[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return "", nil // too short to be qcow2
		}
		return "", fmt.Errorf("metrics: read %s: %w", path, err)
	}
	if binary.BigEndian.Uint32(h[0:4]) != qcow2Magic {
		return "", nil
	}
	off := binary.BigEndian.Uint64(h[8:16])
	size := binary.BigEndian.Uint32(h[16:20])
	if off == 0 || size == 0 || size > maxBackingName {
		return "", nil
	}
	name := make([]byte, size)
	if _, err := f.ReadAt(name, int64(off)); err != nil {
		return "", fmt.Errorf("metrics: read the backing file name of %s: %w", path, err)
	}
	return string(name), nil
}
