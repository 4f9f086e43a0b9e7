package imagecache

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// fakeTools does in Go what qemu-img and genisoimage do, enough for the cache's logic to be
// exercised without them: info from the file's signatures, a sparse raw file of the right
// virtual size as the "conversion", a minimal qcow2 header naming the backing file as the
// overlay, and a JSON document standing in for the ISO.
type fakeTools struct{}

func (fakeTools) info(_ context.Context, path, format string) (imageInfo, error) {
	if format == "" {
		return imageInfo{}, classed(ErrInvalid, "qemu-img info %s: no format given (qemu-img must not probe)", path)
	}
	st, err := os.Stat(path)
	if err != nil {
		return imageInfo{}, err
	}
	in, err := inspectFile(path)
	if err != nil {
		return imageInfo{}, err
	}
	// As qemu-img -f: any file reads as raw; another format must be what the file is.
	if format == "raw" {
		return imageInfo{Format: "raw", VirtualSize: st.Size()}, nil
	}
	if in.format != format {
		return imageInfo{}, fmt.Errorf("fake qemu-img info: %s is not in %s format", path, format)
	}
	switch in.format {
	case "qcow2":
		return imageInfo{Format: "qcow2", VirtualSize: int64(in.qcow2.size), BackingFile: in.qcow2.backingFile,
			ClusterSize: 65536}, nil
	case "iso":
		return imageInfo{Format: "raw", VirtualSize: st.Size()}, nil
	default:
		return imageInfo{Format: in.format, VirtualSize: st.Size()}, nil
	}
}

func (t fakeTools) convertToRaw(ctx context.Context, src, dst, srcFormat string) error {
	info, err := t.info(ctx, src, srcFormat)
	if err != nil {
		return err
	}
	if info.Format != srcFormat {
		return fmt.Errorf("fake convert: %s is %s, not %s", src, info.Format, srcFormat)
	}
	return os.Truncate(dst, info.VirtualSize)
}

// convert stands a whole image of src's virtual size in for qemu-img convert: a fake qcow2
// header without backing file, or a sparse raw file.
func (t fakeTools) convert(ctx context.Context, src, srcFormat, dst, format string, _ bool) error {
	info, err := t.info(ctx, src, srcFormat)
	if err != nil {
		return err
	}
	if format == "raw" {
		f, err := os.Create(dst)
		if err != nil {
			return err
		}
		if err := f.Truncate(info.VirtualSize); err != nil {
			_ = f.Close()
			return err
		}
		return f.Close()
	}
	return os.WriteFile(dst, FakeQcow2(uint64(info.VirtualSize), ""), 0o644)
}

func (t fakeTools) createOverlay(ctx context.Context, path, backing, backingFormat string, _ int64, size int64) error {
	info, err := t.info(ctx, backing, backingFormat)
	if err != nil {
		return err
	}
	if info.Format != backingFormat {
		return fmt.Errorf("fake create: %s is %s, not %s", backing, info.Format, backingFormat)
	}
	if size == 0 {
		size = info.VirtualSize
	}
	return os.WriteFile(path, FakeQcow2(uint64(size), backing), 0o644)
}

// resize rewrites the fake qcow2 header with the new virtual size, keeping the backing file.
func (t fakeTools) resize(ctx context.Context, path string, size int64) error {
	info, err := t.info(ctx, path, "qcow2")
	if err != nil {
		return err
	}
	return os.WriteFile(path, FakeQcow2(uint64(size), info.BackingFile), 0o644)
}

// rebase rewrites the fake qcow2 header with the new backing file (none to flatten), keeping
// the virtual size.
func (t fakeTools) rebase(ctx context.Context, path, backing, backingFormat string) error {
	info, err := t.info(ctx, path, "qcow2")
	if err != nil {
		return err
	}
	if backing != "" {
		if _, err := t.info(ctx, backing, backingFormat); err != nil {
			return err
		}
	}
	return os.WriteFile(path, FakeQcow2(uint64(info.VirtualSize), backing), 0o644)
}

// FakeQcow2 returns a minimal qcow2 version 3 header (no data) with the given virtual size
// and backing file name: enough for signature checks and backing-file scans. Tests use it to
// build images that look like qcow2 without qemu-img.
func FakeQcow2(size uint64, backing string) []byte {
	const headerLen = 104
	buf := make([]byte, max(512, headerLen+8+len(backing)))
	be := binary.BigEndian
	copy(buf, "QFI\xfb")
	be.PutUint32(buf[4:], 3)
	if backing != "" {
		be.PutUint64(buf[8:], headerLen+8) // after the header and the end-of-extensions mark
		be.PutUint32(buf[16:], uint32(len(backing)))
		copy(buf[headerLen+8:], backing)
	}
	be.PutUint32(buf[20:], 16) // cluster_bits
	be.PutUint64(buf[24:], size)
	be.PutUint32(buf[96:], 4) // refcount_order
	be.PutUint32(buf[100:], headerLen)
	return buf
}

// fakeISO is the document fakeTools writes instead of an ISO 9660 image.
type fakeISO struct {
	Label     string            `json:"label"`
	Publisher string            `json:"publisher"`
	Files     map[string][]byte `json:"files"`
}

func (fakeTools) makeISO(_ context.Context, out, srcDir, publisher string) error {
	doc := fakeISO{Label: "config-2", Publisher: publisher, Files: map[string][]byte{}}
	err := filepath.WalkDir(srcDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(srcDir, p)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		doc.Files[filepath.ToSlash(rel)] = data
		return err
	})
	if err != nil {
		return err
	}
	raw, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	return os.WriteFile(out, raw, 0o644)
}

// ReadFakeConfigDrive returns the volume label and files of a config drive a Fake built.
func ReadFakeConfigDrive(path string) (label string, files map[string][]byte, err error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", nil, err
	}
	var doc fakeISO
	if err := json.Unmarshal(raw, &doc); err != nil {
		return "", nil, errors.New("imagecache: not a fake config drive: " + err.Error())
	}
	return doc.Label, doc.Files, nil
}
