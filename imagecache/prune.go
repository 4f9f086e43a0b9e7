package imagecache

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// baseFile is a file in the base directory that Prune may consider.
type baseFile struct {
	name        string
	fingerprint string // sha1 of the image id it caches
	original    bool   // "<sha1>" rather than a legacy "<sha1>_<size>" / "<sha1>_sm"
	mtime       time.Time
}

// Prune implements Cache: nova's image cache manager pass for the base files, plus the
// free-space watermark.
func (c *Local) Prune(ctx context.Context, inUse map[string]bool, now time.Time) (PruneResult, error) {
	res, err := c.prune(ctx, inUse, now)
	if err != nil {
		return res, fmt.Errorf("imagecache: prune: %w", err)
	}
	return res, nil
}

func (c *Local) prune(ctx context.Context, inUse map[string]bool, now time.Time) (PruneResult, error) {
	var res PruneResult
	baseDir := c.opts.baseDir()
	entries, err := os.ReadDir(baseDir)
	if errors.Is(err, fs.ErrNotExist) {
		return res, nil
	}
	if err != nil {
		return res, fsErr(err, "listing %s", baseDir)
	}
	used := make(map[string]bool, len(inUse))
	for id, ok := range inUse {
		if ok {
			used[BaseName(id)] = true
		}
	}
	backing, err := c.backingFilesInUse(ctx)
	if err != nil {
		// Not knowing what the instance disks use, removing anything could break a guest.
		return res, err
	}

	var unused []baseFile
	for _, e := range entries {
		fp, original := baseFingerprint(e.Name())
		if fp == "" || !e.Type().IsRegular() {
			continue // temp files, swap/ephemeral bases, strangers: not ours to judge
		}
		path := filepath.Join(baseDir, e.Name())
		if used[fp] || backing[e.Name()] || c.flights.active(fp) {
			res.InUse++
			// Like nova, a pass refreshes the mtime of what is in use.
			if err := touch(path); err != nil {
				c.log.Warn("cannot touch base file in use", "path", path, "error", err)
			}
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // removed under us
		}
		unused = append(unused, baseFile{name: e.Name(), fingerprint: fp, original: original, mtime: info.ModTime()})
	}
	if !c.opts.RemoveUnusedBaseImages {
		res.TooYoung = len(unused)
		return res, nil
	}

	var young []baseFile
	for _, f := range unused {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if c.removeIfOlder(f, c.minAge(f), now, &res) {
			c.opts.observer().Evicted(EvictUnused)
			continue
		}
		young = append(young, f)
	}
	res.TooYoung = len(young)
	if c.opts.FreeSpaceWatermark > 0 && len(young) > 0 {
		if err := c.pruneToWatermark(ctx, young, now, &res); err != nil {
			return res, err
		}
	}
	return res, nil
}

func (c *Local) minAge(f baseFile) time.Duration {
	if f.original {
		return c.opts.RemoveUnusedOriginalMinimumAge
	}
	return c.opts.RemoveUnusedResizedMinimumAge
}

// pruneToWatermark removes unused bases, least recently used first, while free space is
// below the watermark, sparing those used in the last WatermarkMinimumAge.
func (c *Local) pruneToWatermark(ctx context.Context, young []baseFile, now time.Time, res *PruneResult) error {
	baseDir := c.opts.baseDir()
	sort.Slice(young, func(i, j int) bool { return young[i].mtime.Before(young[j].mtime) })
	for _, f := range young {
		if err := ctx.Err(); err != nil {
			return err
		}
		free, err := c.freeSpace(baseDir)
		if err != nil {
			return fsErr(err, "statfs %s", baseDir)
		}
		if free >= c.opts.FreeSpaceWatermark {
			return nil
		}
		if c.removeIfOlder(f, c.opts.WatermarkMinimumAge, now, res) {
			c.opts.observer().Evicted(EvictSpace)
			res.TooYoung--
			c.log.Info("base file removed for free space", "path", filepath.Join(baseDir, f.name),
				"free_bytes", free, "watermark_bytes", c.opts.FreeSpaceWatermark)
		}
	}
	return nil
}

// removeIfOlder deletes the base file if it is still unused and at least maxAge old at now.
// The checks are repeated under the base's lock: Ensure may have handed it out meanwhile.
func (c *Local) removeIfOlder(f baseFile, maxAge time.Duration, now time.Time, res *PruneResult) bool {
	path := filepath.Join(c.opts.baseDir(), f.name)
	unlock := c.locks.lock(f.fingerprint)
	defer unlock()
	if c.flights.active(f.fingerprint) {
		return false
	}
	st, err := os.Stat(path)
	if err != nil || now.Sub(st.ModTime()) < maxAge {
		return false
	}
	var allocated int64
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		allocated = sys.Blocks * 512
	}
	if err := os.Remove(path); err != nil {
		c.log.Error("cannot remove base file", "path", path, "error", err)
		return false
	}
	res.Removed = append(res.Removed, path)
	res.FreedBytes += allocated
	c.log.Info("removed unused base file", "path", path, "age_seconds", now.Sub(st.ModTime()).Seconds())
	return true
}

// backingFilesInUse returns the names of base files that disks under instances_path are
// backed by (nova's _list_backing_images, over every disk file rather than only "disk").
func (c *Local) backingFilesInUse(ctx context.Context) (map[string]bool, error) {
	inUse := make(map[string]bool)
	dirs, err := os.ReadDir(c.opts.InstancesPath)
	if err != nil {
		return nil, fsErr(err, "listing %s", c.opts.InstancesPath)
	}
	for _, d := range dirs {
		if !d.IsDir() || d.Name() == c.opts.SubdirectoryName {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		dir := filepath.Join(c.opts.InstancesPath, d.Name())
		files, err := os.ReadDir(dir)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nil, fsErr(err, "listing %s", dir)
		}
		for _, f := range files {
			if !f.Type().IsRegular() || !strings.HasPrefix(f.Name(), "disk") ||
				f.Name() == "disk.info" || strings.HasPrefix(f.Name(), "disk.config") {
				continue
			}
			backing, err := readBackingFile(filepath.Join(dir, f.Name()))
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					continue
				}
				return nil, fmt.Errorf("reading the backing file of %s: %w", filepath.Join(dir, f.Name()), err)
			}
			if backing != "" {
				inUse[filepath.Base(backing)] = true
			}
		}
	}
	return inUse, nil
}

// baseFingerprint parses a base directory entry: "<sha1>" is an original, "<sha1>_<suffix>"
// a legacy resized or "_sm" copy of the same image. Other names return "".
func baseFingerprint(name string) (fingerprint string, original bool) {
	if isBaseName(name) {
		return name, true
	}
	if len(name) > 41 && name[40] == '_' && isBaseName(name[:40]) {
		return name[:40], false
	}
	return "", false
}
