package imagecache

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// fetch is nova's fetch_to_raw: download into <base>.part..., check the bytes, inspect the
// format, convert to raw when force_raw_images, then rename into place. Whatever fails, the
// temp files go and nothing appears under the base name.
func (c *Local) fetch(ctx context.Context, req Request, name string) (string, int64, error) {
	// A fetch that finished between our lookup and this flight's start has done the work.
	if path, ok, err := c.cached(name); err != nil || ok {
		return path, 0, err
	}
	baseDir := c.opts.baseDir()
	if err := os.MkdirAll(baseDir, 0o755); err != nil {
		return "", 0, fsErr(err, "creating %s", baseDir)
	}
	if err := c.opts.Owner.own(baseDir); err != nil {
		return "", 0, err
	}
	greq := glanceRequest(req)
	img, err := c.fetcher.Image(ctx, greq)
	if err != nil {
		return "", 0, fromGlance(err)
	}
	if err := checkImage(img, req.Raw); err != nil {
		return "", 0, err
	}
	if img.Size != nil {
		if err := c.requireSpace(baseDir, *img.Size, "the download"); err != nil {
			return "", 0, err
		}
	}

	var temps []string
	published := false
	defer func() {
		if published {
			return
		}
		for _, p := range temps {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				c.log.Warn("cannot remove temp file", "path", p, "error", err)
			}
		}
	}()
	part, err := tempPath(baseDir, name+".part.")
	if err != nil {
		return "", 0, err
	}
	temps = append(temps, part)

	start := time.Now()
	c.log.Info("downloading image", "image_id", req.ImageID, "disk_format", img.DiskFormat, "size", sizeOrUnknown(img.Size))
	f, err := os.OpenFile(part, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return "", 0, fsErr(err, "opening %s", part)
	}
	n, err := download(ctx, c.fetcher, greq, img, f, c.opts.DownloadIdleTimeout)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fsErr(cerr, "closing %s", part)
	}
	if err != nil {
		return "", 0, err
	}

	final := part
	if !req.Raw {
		if final, err = c.checkAndConvert(ctx, part, img.DiskFormat, name, &temps); err != nil {
			return "", 0, err
		}
	}
	dst := filepath.Join(baseDir, name)
	if err := publish(final, dst, c.opts.Owner); err != nil {
		return "", 0, err
	}
	published = true
	c.log.Info("image cached", "image_id", req.ImageID, "path", dst, "bytes", n,
		"disk_format", img.DiskFormat, "converted", final != part, "seconds", time.Since(start).Seconds())
	return dst, n, nil
}

// checkAndConvert runs the format checks on the downloaded file and, if needed, converts it
// to raw. It returns the file to publish; new temp files are added to temps.
func (c *Local) checkAndConvert(ctx context.Context, part, diskFormat, name string, temps *[]string) (string, error) {
	if err := checkDeclaredFormat(part, diskFormat); err != nil {
		return "", err
	}
	// qemu-img must agree with our own inspection; this catches what only qemu understands.
	info, err := c.tools.info(ctx, part, qemuFormatOf[diskFormat])
	if err != nil {
		return "", err
	}
	if want := qemuFormatOf[diskFormat]; info.Format != want {
		return "", classed(ErrCorrupt, "qemu-img detects %s, expected %s for disk_format %s", info.Format, want, diskFormat)
	}
	if info.BackingFile != "" {
		return "", classed(ErrCorrupt, "fmt=%s backed by: %s", info.Format, info.BackingFile)
	}
	if info.DataFile != "" {
		return "", classed(ErrCorrupt, "fmt=%s has data-file: %s", info.Format, info.DataFile)
	}
	if info.Format == "raw" || !c.opts.ForceRawImages {
		return part, nil
	}

	baseDir := filepath.Dir(part)
	if err := c.requireSpace(baseDir, info.VirtualSize, "conversion to raw"); err != nil {
		return "", err
	}
	conv, err := tempPath(baseDir, name+".converted.")
	if err != nil {
		return "", err
	}
	*temps = append(*temps, conv)
	if err := c.tools.convertToRaw(ctx, part, conv, info.Format); err != nil {
		if errors.Is(err, ErrNoSpace) || ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
			return "", err
		}
		return "", classedErr(ErrCorrupt, err, "unable to convert image to raw")
	}
	// The original is no longer needed; freeing its space early matters on a full disk.
	if err := os.Remove(part); err != nil {
		return "", fsErr(err, "removing %s", part)
	}
	cinfo, err := c.tools.info(ctx, conv, "raw")
	if err != nil {
		return "", err
	}
	if cinfo.Format != "raw" {
		return "", classed(ErrCorrupt, "converted to raw, but format is now %s", cinfo.Format)
	}
	if err := syncFile(conv); err != nil {
		return "", fsErr(err, "syncing %s", conv)
	}
	return conv, nil
}

func sizeOrUnknown(size *int64) string {
	if size == nil {
		return "unknown"
	}
	return fmt.Sprint(*size)
}
