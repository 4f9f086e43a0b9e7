package imagecache

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// BuildConfigDrive implements Cache: nova's ConfigDriveBuilder.make_drive for the iso9660
// format, with the ISO written to a temp file and renamed over disk.config.
func (c *Local) BuildConfigDrive(ctx context.Context, instanceDir string, files map[string][]byte) (string, error) {
	return c.BuildConfigDriveAs(ctx, instanceDir, "disk.config", files)
}

// BuildConfigDriveAs implements Cache: a config drive under another name, as a rescue's
// disk.config.rescue.
func (c *Local) BuildConfigDriveAs(ctx context.Context, instanceDir, name string, files map[string][]byte) (string, error) {
	out, err := c.buildConfigDrive(ctx, instanceDir, name, files)
	if err != nil {
		return "", fmt.Errorf("imagecache: config drive %s in %s: %w", name, instanceDir, err)
	}
	return out, nil
}

func (c *Local) buildConfigDrive(ctx context.Context, instanceDir, name string, files map[string][]byte) (string, error) {
	if name != "disk.config" {
		if err := checkInstanceFileName(name, "disk.config."); err != nil {
			return "", err
		}
	}
	if !filepath.IsAbs(instanceDir) {
		return "", classed(ErrInvalid, "instance directory %q is not absolute", instanceDir)
	}
	if len(files) == 0 {
		return "", classed(ErrInvalid, "no files for the config drive")
	}
	names := make([]string, 0, len(files))
	for name := range files {
		if err := checkDriveFileName(name); err != nil {
			return "", err
		}
		names = append(names, name)
	}
	sort.Strings(names)

	// The staging files hold admin_pass and user_data: they live in the instance directory
	// (0700), never in a shared /tmp, so a crash leaves them where the instance's delete and
	// CleanLeftovers remove them.
	if err := os.MkdirAll(instanceDir, 0o755); err != nil {
		return "", fsErr(err, "creating %s", instanceDir)
	}
	staging, err := os.MkdirTemp(instanceDir, configDriveStagingPrefix)
	if err != nil {
		return "", fsErr(err, "creating a staging directory")
	}
	defer func() { _ = os.RemoveAll(staging) }()
	for _, name := range names {
		p := filepath.Join(staging, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", fsErr(err, "creating %s", filepath.Dir(p))
		}
		if err := os.WriteFile(p, files[name], 0o644); err != nil {
			return "", fsErr(err, "writing %s", p)
		}
	}

	out, err := writeInstanceFile(instanceDir, name, c.opts.Owner, func(tmp string) error {
		return c.tools.makeISO(ctx, tmp, staging, c.opts.ConfigDrivePublisher)
	})
	if err != nil {
		return "", err
	}
	// nova's Flat backend records the drive as raw the first time it looks at it.
	if err := c.addDiskInfo(instanceDir, out, "raw"); err != nil {
		return "", err
	}
	c.log.Info("config drive created", "path", out, "files", len(names))
	return out, nil
}

// checkDriveFileName accepts clean relative slash paths that stay inside the drive.
func checkDriveFileName(name string) error {
	clean := filepath.ToSlash(filepath.Clean(filepath.FromSlash(name)))
	if name == "" || strings.HasPrefix(name, "/") || clean != name || name == "." ||
		name == ".." || strings.HasPrefix(name, "../") || strings.ContainsRune(name, 0) {
		return classed(ErrInvalid, "config drive file name %q is not a clean relative path", name)
	}
	return nil
}
