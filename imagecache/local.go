package imagecache

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// Local is the cache on the local file system, laid out as nova's libvirt driver lays it
// out, so a host can switch between nova-compute and novalet with its cache intact.
type Local struct {
	opts    Options
	log     *slog.Logger
	tools   diskTool
	fetcher Fetcher
	flights flightGroup
	// locks guards, per base name, the moment a base is looked up and touched against the
	// moment Prune removes it; per disk.info path, its read-modify-write.
	locks keyedMutex
	// freeSpace reports the bytes available to us on dir's file system (tests replace it).
	freeSpace func(dir string) (int64, error)
}

var _ Cache = (*Local)(nil)

// New returns the real cache, doing image work with the host's qemu-img and genisoimage.
func New(opts Options) (*Local, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	return newLocal(opts, newHostTools(&opts)), nil
}

// newLocal makes a cache of validated options (validate fills in the fetcher).
func newLocal(opts Options, tools diskTool) *Local {
	return &Local{opts: opts, log: opts.logger(), tools: tools, fetcher: opts.Fetcher, freeSpace: statfsFree}
}

// BaseDir is <instances_path>/<subdirectory_name>.
func (c *Local) BaseDir() string { return c.opts.baseDir() }

// Ensure implements Cache.
func (c *Local) Ensure(ctx context.Context, req Request) (string, error) {
	if err := validateImageID(req.ImageID); err != nil {
		return "", fmt.Errorf("imagecache: %w", err)
	}
	name := BaseName(req.ImageID)
	path, ok, err := c.cached(name)
	if err == nil && ok {
		c.opts.observer().Lookup(LookupHit)
	}
	if err == nil && !ok {
		var joined bool
		path, joined, err = c.flights.do(ctx, name, c.opts.DownloadTimeout, func(fctx context.Context) (string, error) {
			start := time.Now()
			p, n, err := c.fetch(fctx, req, name)
			c.opts.observer().Downloaded(n, time.Since(start), err)
			if err != nil {
				// Logged once per fetch here; each waiter's caller reports its own outcome.
				c.log.Warn("image fetch failed", "image_id", req.ImageID, "error", err)
			}
			return p, err
		})
		if joined {
			c.opts.observer().Lookup(LookupCoalesced)
		} else {
			c.opts.observer().Lookup(LookupMiss)
		}
	}
	if err != nil {
		return "", fmt.Errorf("imagecache: image %s: %w", req.ImageID, err)
	}
	return path, nil
}

// cached returns the base file's path if it exists, touching it so Prune sees it as recently
// used (nova updates the mtime on every use for the same reason).
func (c *Local) cached(name string) (string, bool, error) {
	path := filepath.Join(c.opts.baseDir(), name)
	unlock := c.locks.lock(name)
	defer unlock()
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fsErr(err, "stat %s", path)
	}
	if !st.Mode().IsRegular() {
		return "", false, classed(ErrCorrupt, "%s is not a regular file", path)
	}
	if err := touch(path); err != nil {
		return "", false, err
	}
	return path, true, nil
}

// touch sets a file's times to now. Like nova, a file we may not touch is not an error.
func touch(path string) error {
	now := time.Now()
	err := os.Chtimes(path, now, now)
	if err == nil || errors.Is(err, fs.ErrPermission) {
		return nil
	}
	return fsErr(err, "touch %s", path)
}

// requireSpace fails with ErrNoSpace when need bytes do not fit in dir's free space, so a
// big image fails at once instead of after filling the disk.
func (c *Local) requireSpace(dir string, need int64, what string) error {
	free, err := c.freeSpace(dir)
	if err != nil {
		return fsErr(err, "statfs %s", dir)
	}
	if need > free {
		return classed(ErrNoSpace, "%s needs %d bytes, %s has %d free", what, need, dir, free)
	}
	return nil
}

func statfsFree(dir string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * st.Bsize, nil
}
