package cachetest

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/uuid"

	"github.com/novalet/novalet/imagecache"
	"github.com/novalet/novalet/openstack/glance/glancetest"
)

// testKernelCopy: a kernel image (aki) is refused as a disk image and fetched as is when
// asked Raw, as nova's fetch_raw_image; CopyAs places it in the instance directory, keeps an
// existing copy, and takes only kernel and ramdisk names and the cache's own bases.
func testKernelCopy(t *testing.T, e *env) {
	data := RawImage(31, 64)
	img := e.glance.Add(glancetest.Image{ID: uuid.NewString(), Name: "vmlinuz", DiskFormat: "aki", ContainerFormat: "aki", Data: data})
	if _, err := e.cache.Ensure(testCtx(t), e.req(img.ID)); !errors.Is(err, imagecache.ErrInvalid) {
		t.Fatalf("Ensure of an aki image as a disk = %v, want ErrInvalid", err)
	}
	req := e.req(img.ID)
	req.Raw = true
	base, err := e.cache.Ensure(testCtx(t), req)
	if err != nil {
		t.Fatalf("Ensure Raw: %v", err)
	}
	if got, _ := os.ReadFile(base); !bytes.Equal(got, data) {
		t.Fatalf("kernel base %s is not the image's bytes", base)
	}
	dir := filepath.Join(e.instances, uuid.NewString())
	out, err := e.cache.CopyAs(testCtx(t), base, dir, "kernel.rescue")
	if err != nil {
		t.Fatalf("CopyAs: %v", err)
	}
	if got, _ := os.ReadFile(out); out != filepath.Join(dir, "kernel.rescue") || !bytes.Equal(got, data) {
		t.Fatalf("CopyAs wrote %s with other bytes than the base", out)
	}
	if err := os.WriteFile(out, []byte("kept"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := e.cache.CopyAs(testCtx(t), base, dir, "kernel.rescue"); err != nil {
		t.Fatalf("second CopyAs: %v", err)
	}
	if got := readFile(t, out); got != "kept" {
		t.Fatalf("second CopyAs replaced the existing file: %q", got)
	}
	for _, name := range []string{"disk", "disk.rescue", "kernel.part.x", "../kernel", "kernelx"} {
		if _, err := e.cache.CopyAs(testCtx(t), base, dir, name); !errors.Is(err, imagecache.ErrInvalid) {
			t.Errorf("CopyAs to %q = %v, want ErrInvalid", name, err)
		}
	}
	if _, err := e.cache.CopyAs(testCtx(t), "/etc/passwd", dir, "ramdisk.rescue"); !errors.Is(err, imagecache.ErrInvalid) {
		t.Errorf("CopyAs of a host file = %v, want ErrInvalid", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "ramdisk.rescue")); err == nil {
		t.Error("a refused CopyAs left its file")
	}
}

// testRebaseDisk: the root disk is rebased onto another base (nova's unshelve rebase onto the
// original image) and flattened when there is none; bad arguments are refused.
func testRebaseDisk(t *testing.T, e *env) {
	_, snapshot := e.ensure(t, 41)
	_, original := e.ensure(t, 42)
	dir := filepath.Join(e.instances, uuid.NewString())
	disk, err := e.cache.CreateOverlay(testCtx(t), snapshot, dir, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.cache.RebaseDisk(testCtx(t), dir, original); err != nil {
		t.Fatalf("RebaseDisk: %v", err)
	}
	if size, backing := qcow2Header(t, disk); size != 1<<30 || backing != original {
		t.Fatalf("rebased disk: size %d backing %q; want %d backed by %s", size, backing, 1<<30, original)
	}
	if err := e.cache.RebaseDisk(testCtx(t), dir, ""); err != nil {
		t.Fatalf("RebaseDisk to flatten: %v", err)
	}
	if size, backing := qcow2Header(t, disk); size != 1<<30 || backing != "" {
		t.Fatalf("flattened disk: size %d backing %q", size, backing)
	}
	if err := e.cache.RebaseDisk(testCtx(t), dir, "/etc/passwd"); !errors.Is(err, imagecache.ErrInvalid) {
		t.Errorf("RebaseDisk onto a host file = %v, want ErrInvalid", err)
	}
	if err := e.cache.RebaseDisk(testCtx(t), filepath.Join(e.instances, uuid.NewString()), original); !errors.Is(err, imagecache.ErrNotFound) {
		t.Errorf("RebaseDisk without a disk = %v, want ErrNotFound", err)
	}
}
