package imagecache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// CopyAs implements Cache: nova's Raw backend placing a kernel or ramdisk in the instance
// directory (copy_image of the base).
func (c *Local) CopyAs(ctx context.Context, base, instanceDir, name string) (string, error) {
	out, err := c.copyAs(ctx, base, instanceDir, name)
	if err != nil {
		return "", fmt.Errorf("imagecache: copy %s to %s: %w", base, filepath.Join(instanceDir, name), err)
	}
	return out, nil
}

func (c *Local) copyAs(ctx context.Context, base, instanceDir, name string) (string, error) {
	if name != "kernel" && name != "ramdisk" {
		if err := checkInstanceFileName(name, "kernel."); err != nil {
			if err := checkInstanceFileName(name, "ramdisk."); err != nil {
				return "", classed(ErrInvalid, "%q is not a kernel or ramdisk file name", name)
			}
		}
	}
	if err := c.checkBasePath(base); err != nil {
		return "", err
	}
	if !filepath.IsAbs(instanceDir) {
		return "", classed(ErrInvalid, "instance directory %q is not absolute", instanceDir)
	}
	src, err := os.Open(base)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", classedErr(ErrNotFound, err, "base file")
		}
		return "", fsErr(err, "open %s", base)
	}
	defer src.Close()
	if err := touch(base); err != nil {
		return "", err
	}
	out := filepath.Join(instanceDir, name)
	if _, err := os.Stat(out); err == nil {
		return out, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fsErr(err, "stat %s", out)
	}
	if _, err := writeInstanceFile(instanceDir, name, c.opts.Owner, func(tmp string) error {
		f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_TRUNC, 0)
		if err != nil {
			return fsErr(err, "open %s", tmp)
		}
		_, err = io.Copy(f, &ctxReader{ctx: ctx, r: src})
		if cerr := f.Close(); err == nil && cerr != nil {
			err = cerr
		}
		if err != nil {
			return fsErr(err, "copy to %s", tmp)
		}
		return nil
	}); err != nil {
		return "", err
	}
	c.log.Info("instance file copied from the cache", "path", out, "base", base)
	return out, nil
}

// ctxReader stops a copy when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r *ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

// RebaseDisk implements Cache: nova's _rebase_with_qemu_img on the instance's root disk. The
// new backing file's format is read from it and stated (-F), never probed.
func (c *Local) RebaseDisk(ctx context.Context, instanceDir, base string) error {
	disk := filepath.Join(instanceDir, "disk")
	if err := c.rebaseDisk(ctx, instanceDir, disk, base); err != nil {
		return fmt.Errorf("imagecache: rebase %s onto %q: %w", disk, base, err)
	}
	return nil
}

func (c *Local) rebaseDisk(ctx context.Context, instanceDir, disk, base string) error {
	if !filepath.IsAbs(instanceDir) {
		return classed(ErrInvalid, "instance directory %q is not absolute", instanceDir)
	}
	if _, err := os.Stat(disk); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return classedErr(ErrNotFound, err, "instance disk")
		}
		return fsErr(err, "stat %s", disk)
	}
	format := ""
	if base != "" {
		if err := c.checkBasePath(base); err != nil {
			return err
		}
		in, err := inspectFile(base)
		if err != nil {
			return fsErr(err, "inspecting %s", base)
		}
		if err := in.safe(); err != nil {
			return fmt.Errorf("base image failed safety check: %w", err)
		}
		info, err := c.tools.info(ctx, base, in.format)
		if err != nil {
			return err
		}
		if info.BackingFile != "" || info.DataFile != "" {
			return classed(ErrCorrupt, "base image failed safety check: backed by %q, data-file %q", info.BackingFile, info.DataFile)
		}
		format = info.Format
		if err := touch(base); err != nil {
			return err
		}
	}
	if err := c.tools.rebase(ctx, disk, base, format); err != nil {
		return err
	}
	c.log.Info("instance disk rebased", "path", disk, "backing_file", base, "flattened", base == "")
	return nil
}
