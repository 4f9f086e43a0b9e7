package imagecache

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// A snapshot's image is staged the way nova's libvirt driver stages it: a fresh work
// directory under [libvirt] snapshots_directory (default <instances_path>/snapshots), where a
// live copy of the disk lands and from which qemu-img convert writes the whole image that is
// uploaded. The directory goes when the upload is over; one a crash left behind goes at the
// next start (CleanLeftovers).

// snapshotDirPrefix names the work directories, so leftovers are told apart from anything
// else an operator keeps there.
const snapshotDirPrefix = "novalet-snapshot-"

// SnapshotDir implements Cache.
func (c *Local) SnapshotDir(ctx context.Context) (string, func(), error) {
	if err := ctx.Err(); err != nil {
		return "", nil, err
	}
	root := c.opts.snapshotsDir()
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", nil, fsErr(err, "creating %s", root)
	}
	// nova's snapshots_directory is nova's: Debian's nova-compute, running as nova, must be
	// able to stage its own snapshots there after novalet made it (a node given back).
	if err := c.opts.Owner.own(root); err != nil {
		return "", nil, err
	}
	dir, err := os.MkdirTemp(root, snapshotDirPrefix)
	if err != nil {
		return "", nil, fsErr(err, "creating a work directory in %s", root)
	}
	// nova's 0701: QEMU (another user) must reach the live copy libvirt creates in it.
	if err := os.Chmod(dir, 0o701); err != nil {
		_ = os.RemoveAll(dir)
		return "", nil, fsErr(err, "chmod %s", dir)
	}
	return dir, func() {
		if err := os.RemoveAll(dir); err != nil {
			c.log.Warn("snapshot work directory not removed", "path", dir, "error", err)
		}
	}, nil
}

// Extract implements Cache: nova's extract_snapshot.
func (c *Local) Extract(ctx context.Context, src, srcFormat, dst, format string) error {
	for _, f := range []string{srcFormat, format} {
		if f != "qcow2" && f != "raw" {
			return classed(ErrInvalid, "snapshot format %q: only qcow2 and raw are supported", f)
		}
	}
	compress := c.opts.SnapshotCompression && format == "qcow2"
	if err := c.tools.convert(ctx, src, srcFormat, dst, format, compress); err != nil {
		_ = os.Remove(dst)
		return fmt.Errorf("imagecache: extracting a snapshot of %s: %w", src, err)
	}
	return nil
}

// cleanSnapshotDirs removes the work directories an interrupted snapshot left.
func (c *Local) cleanSnapshotDirs(remove func(string) error) error {
	root := c.opts.snapshotsDir()
	entries, err := os.ReadDir(root)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return fsErr(err, "listing %s", root)
	}
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), snapshotDirPrefix) {
			continue
		}
		if err := remove(filepath.Join(root, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

func (o *Options) snapshotsDir() string {
	if o.SnapshotsDirectory != "" {
		return o.SnapshotsDirectory
	}
	return filepath.Join(o.InstancesPath, "snapshots")
}
