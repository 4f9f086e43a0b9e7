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

// CleanLeftovers implements Cache. In the base directory it removes "<sha1>.part*" and
// "<sha1>.converted*" (ours, and nova's own fixed names) unless that image is being fetched;
// in instance directories, the temp files of overlays, config drives and disk.info; under
// snapshots_directory, the work directories of snapshots.
func (c *Local) CleanLeftovers(ctx context.Context) ([]string, error) {
	removed, err := c.cleanLeftovers(ctx)
	if err != nil {
		return removed, fmt.Errorf("imagecache: cleaning leftovers: %w", err)
	}
	return removed, nil
}

func (c *Local) cleanLeftovers(ctx context.Context) ([]string, error) {
	var removed []string
	remove := func(path string) error {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fsErr(err, "removing %s", path)
		}
		c.log.Info("removed leftover temp file", "path", path)
		removed = append(removed, path)
		return nil
	}

	baseDir := c.opts.baseDir()
	entries, err := os.ReadDir(baseDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fsErr(err, "listing %s", baseDir)
	}
	for _, e := range entries {
		name := e.Name()
		if len(name) <= 40 || !isBaseName(name[:40]) || !e.Type().IsRegular() {
			continue
		}
		rest := name[40:]
		if !strings.HasPrefix(rest, ".part") && !strings.HasPrefix(rest, ".converted") {
			continue
		}
		if c.flights.active(name[:40]) {
			continue
		}
		if err := remove(filepath.Join(baseDir, name)); err != nil {
			return removed, err
		}
	}

	if err := c.cleanSnapshotDirs(func(p string) error {
		if err := os.RemoveAll(p); err != nil {
			return fsErr(err, "removing %s", p)
		}
		c.log.Info("removed a snapshot's leftover work directory", "path", p)
		removed = append(removed, p)
		return nil
	}); err != nil {
		return removed, err
	}

	dirs, err := os.ReadDir(c.opts.InstancesPath)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return removed, fsErr(err, "listing %s", c.opts.InstancesPath)
	}
	for _, d := range dirs {
		if !d.IsDir() || d.Name() == c.opts.SubdirectoryName {
			continue
		}
		if err := ctx.Err(); err != nil {
			return removed, err
		}
		dir := filepath.Join(c.opts.InstancesPath, d.Name())
		files, err := os.ReadDir(dir)
		if err != nil {
			continue // an instance directory deleted meanwhile
		}
		for _, f := range files {
			if f.IsDir() && strings.HasPrefix(f.Name(), configDriveStagingPrefix) {
				p := filepath.Join(dir, f.Name())
				if err := os.RemoveAll(p); err != nil {
					return removed, fsErr(err, "removing %s", p)
				}
				c.log.Info("removed a config drive's leftover staging directory", "path", p)
				removed = append(removed, p)
				continue
			}
			if !f.Type().IsRegular() || !isInstanceTemp(f.Name()) {
				continue
			}
			if err := remove(filepath.Join(dir, f.Name())); err != nil {
				return removed, err
			}
		}
	}
	return removed, nil
}

// configDriveStagingPrefix names the directory BuildConfigDrive stages the drive's files in,
// inside the instance directory.
const configDriveStagingPrefix = ".configdrive-staging-"

// isInstanceTemp matches the temp names CreateOverlay(As), BuildConfigDrive(As) and disk.info
// writes use ("<name>.part.*" for a name checkInstanceFileName accepts) and nova's fixed
// "disk.info.tmp".
func isInstanceTemp(name string) bool {
	if strings.HasPrefix(name, "disk.info.tmp") {
		return true
	}
	i := strings.Index(name, ".part.")
	return i > 0 && (name[:i] == "disk" || checkInstanceFileName(name[:i], "disk.") == nil)
}
