package imagecache

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// imageInfo is what qemu-img info says about a file.
type imageInfo struct {
	Format      string
	VirtualSize int64
	BackingFile string
	DataFile    string
	ClusterSize int64
}

// diskTool is the image work done by external programs. The host implementation runs
// qemu-img and genisoimage; the fake one (faketools.go) does the same in Go for tests.
type diskTool interface {
	// info reads the file as format (qemu-img info -f), never letting qemu probe it.
	info(ctx context.Context, path, format string) (imageInfo, error)
	convertToRaw(ctx context.Context, src, dst, srcFormat string) error
	convert(ctx context.Context, src, srcFormat, dst, format string, compress bool) error
	createOverlay(ctx context.Context, path, backing, backingFormat string, clusterSize, size int64) error
	makeISO(ctx context.Context, out, srcDir, publisher string) error
	// resize sets a qcow2 image's virtual size (qemu-img resize -f qcow2).
	resize(ctx context.Context, path string, size int64) error
	// rebase makes backing (of backingFormat) the qcow2 image's backing file, copying what
	// differs (qemu-img rebase, safe mode); backing "" flattens the image.
	rebase(ctx context.Context, path, backing, backingFormat string) error
}

// hostTools runs the host's qemu-img and genisoimage with nova's arguments.
type hostTools struct {
	qemuImg, mkisofs   string
	prlimit            string // "" when util-linux's prlimit is missing
	timeout, convertTO time.Duration
}

func newHostTools(o *Options) *hostTools {
	t := &hostTools{qemuImg: o.QemuImgCmd, mkisofs: o.MkisofsCmd, timeout: o.ToolTimeout,
		convertTO: o.ConvertTimeout}
	if p, err := exec.LookPath("prlimit"); err == nil {
		t.prlimit = p
	}
	return t
}

// qemuImgLimits are nova's QEMU_IMG_LIMITS for qemu-img info: a crafted image must not make
// it eat the host (CVE-2015-5162).
var qemuImgLimits = []string{"--as=1073741824", "--cpu=30"}

// run executes one command under a deadline with the C locale (nova parses English output
// and so may we) and returns its stdout. stderr goes into the error.
func run(ctx context.Context, timeout time.Duration, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LANG=C")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if err == nil {
		return stdout.Bytes(), nil
	}
	msg := strings.TrimSpace(stderr.String())
	if len(msg) > 2048 {
		msg = msg[:2048] + "..."
	}
	desc := fmt.Sprintf("%s %s", name, strings.Join(args, " "))
	switch {
	case ctx.Err() != nil:
		return nil, fmt.Errorf("%s: %w (after %v): %s", desc, ctx.Err(), timeout, msg)
	case strings.Contains(msg, "No space left on device") || strings.Contains(msg, "Disk quota exceeded"):
		return nil, classedErr(ErrNoSpace, err, "%s: %s", desc, msg)
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return nil, fmt.Errorf("%s: %w: %s", desc, err, msg)
	}
	return nil, fmt.Errorf("%s: %w", desc, err)
}

// qemuImgInfoJSON is qemu-img info --output=json, the fields we read.
type qemuImgInfoJSON struct {
	Format          string `json:"format"`
	VirtualSize     int64  `json:"virtual-size"`
	BackingFilename string `json:"backing-filename"`
	ClusterSize     int64  `json:"cluster-size"`
	FormatSpecific  struct {
		Data struct {
			DataFile string `json:"data-file"`
		} `json:"data"`
	} `json:"format-specific"`
}

// info runs nova's unprivileged_qemu_img_info with the format the caller's own inspection
// found (-f, as nova does since the fix for CVE-2024-32498): qemu-img never probes, so a text
// VMDK descriptor handed in as raw is read as raw and its extent paths are never opened.
// --force-share lets a running guest's disk be read.
func (t *hostTools) info(ctx context.Context, path, format string) (imageInfo, error) {
	if format == "" {
		return imageInfo{}, classed(ErrInvalid, "qemu-img info %s: no format given (qemu-img must not probe)", path)
	}
	args := []string{"info", "-f", format, path, "--force-share", "--output=json"}
	name := t.qemuImg
	if t.prlimit != "" {
		args = append(append(append([]string{}, qemuImgLimits...), "--", t.qemuImg), args...)
		name = t.prlimit
	}
	out, err := run(ctx, t.timeout, name, args...)
	if err != nil {
		return imageInfo{}, err
	}
	var j qemuImgInfoJSON
	if err := json.Unmarshal(out, &j); err != nil {
		return imageInfo{}, fmt.Errorf("qemu-img info %s: parsing its output: %w", path, err)
	}
	if j.Format == "" {
		return imageInfo{}, fmt.Errorf("qemu-img info %s: no format in its output", path)
	}
	return imageInfo{Format: j.Format, VirtualSize: j.VirtualSize, BackingFile: j.BackingFilename,
		DataFile: j.FormatSpecific.Data.DataFile, ClusterSize: j.ClusterSize}, nil
}

// convertToRaw is nova's convert_image(src, dst, fmt, "raw"). nova picks cache=none where
// O_DIRECT works; writeback followed by our own fsync of dst is as durable and works on tmpfs.
func (t *hostTools) convertToRaw(ctx context.Context, src, dst, srcFormat string) error {
	_, err := run(ctx, t.convertTO, t.qemuImg, "convert", "-t", "writeback", "-O", "raw", "-f", srcFormat, src, dst)
	return err
}

// convert is nova's convert_image(src, dst, srcFormat, format, compress) as extract_snapshot
// calls it; the source's backing chain is read through, so dst stands alone.
func (t *hostTools) convert(ctx context.Context, src, srcFormat, dst, format string, compress bool) error {
	args := []string{"convert", "-t", "writeback", "-O", format}
	if compress {
		args = append(args, "-c")
	}
	args = append(args, "-f", srcFormat, src, dst)
	_, err := run(ctx, t.convertTO, t.qemuImg, args...)
	return err
}

// createOverlay is nova's create_image(path, "qcow2", size, backing_file=base): the backing
// format is stated (never probed) and a base's non-default cluster size is inherited. size 0
// leaves the overlay at the base's virtual size.
func (t *hostTools) createOverlay(ctx context.Context, path, backing, backingFormat string, clusterSize, size int64) error {
	args := []string{"create", "-f", "qcow2", "-b", backing, "-F", backingFormat}
	if clusterSize > 0 {
		args = append(args, "-o", "cluster_size="+strconv.FormatInt(clusterSize, 10))
	}
	args = append(args, path)
	if size > 0 {
		args = append(args, strconv.FormatInt(size, 10))
	}
	_, err := run(ctx, t.timeout, t.qemuImg, args...)
	return err
}

// resize is nova's resize_image: qemu-img resize with the format stated, never probed.
func (t *hostTools) resize(ctx context.Context, path string, size int64) error {
	_, err := run(ctx, t.timeout, t.qemuImg, "resize", "-f", "qcow2", path, strconv.FormatInt(size, 10))
	return err
}

// rebase is nova's _rebase_with_qemu_img: qemu-img rebase -b <backing> -F <format>, or -b ""
// to flatten; the image's own format is stated too. It reads the whole chain, so it gets the
// conversion deadline.
func (t *hostTools) rebase(ctx context.Context, path, backing, backingFormat string) error {
	args := []string{"rebase", "-f", "qcow2", "-b", backing}
	if backing != "" {
		args = append(args, "-F", backingFormat)
	}
	_, err := run(ctx, t.convertTO, t.qemuImg, append(args, path)...)
	return err
}

// makeISO is nova's ConfigDriveBuilder._make_iso9660, flag for flag.
func (t *hostTools) makeISO(ctx context.Context, out, srcDir, publisher string) error {
	_, err := run(ctx, t.timeout, t.mkisofs, "-o", out, "-ldots", "-allow-lowercase", "-allow-multidot",
		"-l", "-publisher", publisher, "-quiet", "-J", "-r", "-V", "config-2", srcDir)
	return err
}
