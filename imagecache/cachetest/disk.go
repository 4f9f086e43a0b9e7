package cachetest

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/novalet/novalet/imagecache"
)

func (e *env) ensure(t *testing.T, seed byte) (id, path string) {
	t.Helper()
	img := e.addRaw(seed, 256)
	path, err := e.cache.Ensure(testCtx(t), e.req(img.ID))
	if err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	return img.ID, path
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func testCreateOverlay(t *testing.T, e *env) {
	_, base := e.ensure(t, 20)
	dir := filepath.Join(e.instances, uuid.NewString())
	disk, err := e.cache.CreateOverlay(testCtx(t), base, dir, 0)
	if err != nil {
		t.Fatalf("CreateOverlay: %v", err)
	}
	if disk != filepath.Join(dir, "disk") {
		t.Fatalf("disk = %s, want %s/disk", disk, dir)
	}
	size, backing := qcow2Header(t, disk)
	if backing != base || size != 256<<10 {
		t.Fatalf("overlay: size %d backing %q; want %d backed by %s", size, backing, 256<<10, base)
	}
	want := `{"` + disk + `": "qcow2"}` + "\n"
	if got := readFile(t, filepath.Join(dir, "disk.info")); got != want {
		t.Fatalf("disk.info = %q, want %q", got, want)
	}
	// A retried build step finds its disk and succeeds.
	if again, err := e.cache.CreateOverlay(testCtx(t), base, dir, 0); err != nil || again != disk {
		t.Fatalf("second CreateOverlay = %q, %v", again, err)
	}
	if got := readFile(t, filepath.Join(dir, "disk.info")); got != want {
		t.Fatalf("disk.info after a retry = %q, want %q", got, want)
	}

	// A flavor root disk bigger than the image sets the overlay's size.
	dir2 := filepath.Join(e.instances, uuid.NewString())
	disk2, err := e.cache.CreateOverlay(testCtx(t), base, dir2, 1<<30)
	if err != nil {
		t.Fatalf("CreateOverlay of 1 GiB: %v", err)
	}
	if size, backing := qcow2Header(t, disk2); size != 1<<30 || backing != base {
		t.Fatalf("1 GiB overlay: size %d backing %q", size, backing)
	}
	if names, _ := os.ReadDir(dir2); len(names) != 2 {
		t.Fatalf("instance directory holds %d entries, want disk and disk.info only", len(names))
	}
}

func testCreateOverlayBad(t *testing.T, e *env) {
	_, base := e.ensure(t, 21)
	dir := filepath.Join(e.instances, uuid.NewString())
	_, err := e.cache.CreateOverlay(testCtx(t), base, dir, 4096)
	var small *imagecache.DiskTooSmallError
	if !errors.As(err, &small) || !errors.Is(err, imagecache.ErrInvalid) {
		t.Fatalf("CreateOverlay smaller than the image = %v, want DiskTooSmallError (ErrInvalid)", err)
	}
	if small.FlavorSize != 4096 || small.ImageSize != 256<<10 {
		t.Fatalf("DiskTooSmallError = %+v", small)
	}
	if _, err := os.Stat(filepath.Join(dir, "disk")); !os.IsNotExist(err) {
		t.Fatalf("a refused overlay left a disk behind (%v)", err)
	}
	for _, b := range []string{"/etc/passwd", e.baseDir() + "/../_base/" + filepath.Base(base),
		filepath.Join(e.instances, filepath.Base(base))} {
		if _, err := e.cache.CreateOverlay(testCtx(t), b, dir, 0); !errors.Is(err, imagecache.ErrInvalid) {
			t.Errorf("CreateOverlay backed by %s = %v, want ErrInvalid", b, err)
		}
	}
	missing := filepath.Join(e.baseDir(), imagecache.BaseName(uuid.NewString()))
	if _, err := e.cache.CreateOverlay(testCtx(t), missing, dir, 0); !errors.Is(err, imagecache.ErrNotFound) {
		t.Errorf("CreateOverlay on a base not cached = %v, want ErrNotFound", err)
	}
}

// testGrowDisk: a resize grows the overlay, keeps its backing file, and never shrinks it.
func testGrowDisk(t *testing.T, e *env) {
	_, base := e.ensure(t, 23)
	dir := filepath.Join(e.instances, uuid.NewString())
	disk, err := e.cache.CreateOverlay(testCtx(t), base, dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.cache.GrowDisk(testCtx(t), dir, 2<<30); err != nil {
		t.Fatalf("GrowDisk: %v", err)
	}
	if size, backing := qcow2Header(t, disk); size != 2<<30 || backing != base {
		t.Fatalf("grown disk: size %d backing %q; want %d backed by %s", size, backing, 2<<30, base)
	}
	if err := e.cache.GrowDisk(testCtx(t), dir, 1<<30); err != nil {
		t.Fatalf("GrowDisk to a smaller size: %v", err)
	}
	if size, _ := qcow2Header(t, disk); size != 2<<30 {
		t.Fatalf("a smaller size shrank the disk to %d", size)
	}
	if err := e.cache.GrowDisk(testCtx(t), filepath.Join(e.instances, uuid.NewString()), 1<<30); !errors.Is(err, imagecache.ErrNotFound) {
		t.Fatalf("GrowDisk without a disk = %v, want ErrNotFound", err)
	}
	if err := e.cache.GrowDisk(testCtx(t), "relative", 1<<30); !errors.Is(err, imagecache.ErrInvalid) {
		t.Fatalf("GrowDisk of a relative directory = %v, want ErrInvalid", err)
	}
}

func testBuildConfigDrive(t *testing.T, e *env) {
	_, base := e.ensure(t, 22)
	dir := filepath.Join(e.instances, uuid.NewString())
	disk, err := e.cache.CreateOverlay(testCtx(t), base, dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	meta := []byte(`{"uuid": "` + filepath.Base(dir) + `", "hostname": "vm1.novalocal"}`)
	files := map[string][]byte{
		"openstack/latest/meta_data.json":     meta,
		"openstack/2012-08-10/meta_data.json": meta,
		"openstack/latest/user_data":          []byte("#!/bin/sh\necho hi\n"),
		"ec2/latest/meta-data.json":           []byte(`{}`),
	}
	out, err := e.cache.BuildConfigDrive(testCtx(t), dir, files)
	if err != nil {
		t.Fatalf("BuildConfigDrive: %v", err)
	}
	if out != filepath.Join(dir, "disk.config") {
		t.Fatalf("config drive at %s, want %s/disk.config", out, dir)
	}
	label, got := e.cfg.ReadConfigDrive(t, out)
	if label != "config-2" {
		t.Fatalf("volume label %q, want config-2", label)
	}
	for name, data := range files {
		if !bytes.Equal(got[name], data) {
			t.Errorf("%s on the drive = %q, want %q", name, got[name], data)
		}
	}
	want := `{"` + disk + `": "qcow2", "` + out + `": "raw"}` + "\n"
	if got := readFile(t, filepath.Join(dir, "disk.info")); got != want {
		t.Fatalf("disk.info = %q, want %q", got, want)
	}
	// Rebuilding replaces the drive and leaves no temp file.
	files["openstack/latest/user_data"] = []byte("second")
	if _, err := e.cache.BuildConfigDrive(testCtx(t), dir, files); err != nil {
		t.Fatalf("second BuildConfigDrive: %v", err)
	}
	if _, got := e.cfg.ReadConfigDrive(t, out); string(got["openstack/latest/user_data"]) != "second" {
		t.Fatalf("rebuilt drive has user_data %q", got["openstack/latest/user_data"])
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 3 {
		t.Fatalf("instance directory holds %d entries, want disk, disk.config, disk.info", len(ents))
	}
	for _, bad := range []string{"../escape", "/etc/shadow", "openstack/../../x", "", "a//b"} {
		if _, err := e.cache.BuildConfigDrive(testCtx(t), dir, map[string][]byte{bad: nil}); !errors.Is(err, imagecache.ErrInvalid) {
			t.Errorf("BuildConfigDrive with file %q = %v, want ErrInvalid", bad, err)
		}
	}
}

// testNamedFiles: a rescue's disk.rescue and disk.config.rescue next to an instance's own disk
// and drive: made at the base's size, recorded in disk.info, backing files Prune keeps, and
// names outside the instance's disk files refused.
func testNamedFiles(t *testing.T, e *env) {
	_, base := e.ensure(t, 23)
	rescueID, rescueBase := e.ensure(t, 24)
	dir := filepath.Join(e.instances, uuid.NewString())
	disk, err := e.cache.CreateOverlay(testCtx(t), base, dir, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	rescue, err := e.cache.CreateOverlayAs(testCtx(t), rescueBase, dir, "disk.rescue", 0)
	if err != nil {
		t.Fatalf("CreateOverlayAs: %v", err)
	}
	if rescue != filepath.Join(dir, "disk.rescue") {
		t.Fatalf("rescue disk at %s, want %s/disk.rescue", rescue, dir)
	}
	if size, backing := qcow2Header(t, rescue); size != 256<<10 || backing != rescueBase {
		t.Fatalf("rescue overlay: size %d backing %q; want %d backed by %s", size, backing, 256<<10, rescueBase)
	}
	if size, backing := qcow2Header(t, disk); size != 1<<30 || backing != base {
		t.Fatalf("root disk changed: size %d backing %q", size, backing)
	}
	drive, err := e.cache.BuildConfigDriveAs(testCtx(t), dir, "disk.config.rescue", map[string][]byte{"openstack/latest/meta_data.json": []byte(`{"admin_pass": "x"}`)})
	if err != nil {
		t.Fatalf("BuildConfigDriveAs: %v", err)
	}
	if drive != filepath.Join(dir, "disk.config.rescue") {
		t.Fatalf("rescue config drive at %s", drive)
	}
	if label, got := e.cfg.ReadConfigDrive(t, drive); label != "config-2" || string(got["openstack/latest/meta_data.json"]) != `{"admin_pass": "x"}` {
		t.Fatalf("rescue config drive: label %q files %v", label, got)
	}
	want := `{"` + disk + `": "qcow2", "` + rescue + `": "qcow2", "` + drive + `": "raw"}` + "\n"
	if got := readFile(t, filepath.Join(dir, "disk.info")); got != want {
		t.Fatalf("disk.info = %q, want %q", got, want)
	}
	// The rescue image's base backs an instance disk: Prune keeps it however old.
	old := time.Now().Add(-48 * time.Hour)
	if err := os.Chtimes(rescueBase, old, old); err != nil {
		t.Fatal(err)
	}
	if _, err := e.cache.Prune(testCtx(t), map[string]bool{}, time.Now()); err != nil {
		t.Fatalf("Prune: %v", err)
	}
	if _, err := os.Stat(rescueBase); err != nil {
		t.Fatalf("Prune removed the base of disk.rescue (image %s): %v", rescueID, err)
	}
	for _, bad := range []string{"disk", "disk.", "disk.info", "disk.config", "disk.config.x", "../disk.x", "disk.x/y", "disk.x.part.1", "other"} {
		if _, err := e.cache.CreateOverlayAs(testCtx(t), base, dir, bad, 0); bad != "disk" && !errors.Is(err, imagecache.ErrInvalid) {
			t.Errorf("CreateOverlayAs %q = %v, want ErrInvalid", bad, err)
		}
	}
	for _, bad := range []string{"disk.config.", "disk.rescue", "disk.info", "disk.config./x", "disk.config.x.part.2"} {
		if _, err := e.cache.BuildConfigDriveAs(testCtx(t), dir, bad, map[string][]byte{"a": nil}); !errors.Is(err, imagecache.ErrInvalid) {
			t.Errorf("BuildConfigDriveAs %q = %v, want ErrInvalid", bad, err)
		}
	}
}

func testPrune(t *testing.T, e *env) {
	inUseID, inUse := e.ensure(t, 30) // an instance's image_ref
	_, oldUnused := e.ensure(t, 31)   // nobody's, two days old
	_, young := e.ensure(t, 32)       // nobody's, just fetched
	_, backingOnly := e.ensure(t, 33) // backs an instance disk the caller did not mention
	_, resizedBase := e.ensure(t, 34) // renamed below into a legacy "<sha1>_<size>" base
	if _, err := e.cache.CreateOverlay(testCtx(t), backingOnly, filepath.Join(e.instances, uuid.NewString()), 0); err != nil {
		t.Fatal(err)
	}
	legacy := resizedBase + "_10737418240"
	if err := os.Rename(resizedBase, legacy); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	old := now.Add(-48 * time.Hour)
	for _, p := range []string{inUse, oldUnused, backingOnly} {
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	twoHours := now.Add(-2 * time.Hour) // older than the resized minimum age (1 h) only
	if err := os.Chtimes(legacy, twoHours, twoHours); err != nil {
		t.Fatal(err)
	}

	res, err := e.cache.Prune(testCtx(t), map[string]bool{inUseID: true}, now)
	if err != nil {
		t.Fatalf("Prune: %v", err)
	}
	slices.Sort(res.Removed)
	want := []string{oldUnused, legacy}
	slices.Sort(want)
	if !slices.Equal(res.Removed, want) {
		t.Fatalf("Prune removed %v, want %v", res.Removed, want)
	}
	if res.InUse != 2 || res.TooYoung != 1 {
		t.Fatalf("Prune result %+v, want InUse 2, TooYoung 1", res)
	}
	for _, p := range []string{inUse, young, backingOnly} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("Prune removed %s, which it must keep: %v", p, err)
		}
	}
	for _, p := range want {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Fatalf("%s still there after Prune (%v)", p, err)
		}
	}
	// A pass refreshes what is in use, as nova's does.
	if st, _ := os.Stat(inUse); st.ModTime().Before(now.Add(-time.Hour)) {
		t.Fatalf("in-use base keeps its old mtime %v", st.ModTime())
	}
}

func testCleanLeftovers(t *testing.T, e *env) {
	id, base := e.ensure(t, 40)
	name := imagecache.BaseName(id)
	dir := filepath.Join(e.instances, uuid.NewString())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	leftovers := []string{
		filepath.Join(e.baseDir(), name+".part"), // nova's own name
		filepath.Join(e.baseDir(), name+".part.123456"),
		filepath.Join(e.baseDir(), imagecache.BaseName(uuid.NewString())+".converted.42"),
		filepath.Join(dir, "disk.part.777"),
		filepath.Join(dir, "disk.config.part.778"),
		filepath.Join(dir, "disk.info.tmp"),
	}
	keep := []string{base, filepath.Join(e.baseDir(), "swap_512"), filepath.Join(dir, "console.log"),
		filepath.Join(e.baseDir(), "notes.part")}
	for _, p := range append(slices.Clone(leftovers), keep[1:]...) {
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A config drive's staging directory left by a crash: it holds admin_pass and user_data.
	staging := filepath.Join(dir, ".configdrive-staging-99")
	if err := os.MkdirAll(filepath.Join(staging, "openstack", "latest"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(staging, "openstack", "latest", "meta_data.json"), []byte(`{"admin_pass": "s3cret"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	leftovers = append(leftovers, staging)
	removed, err := e.cache.CleanLeftovers(testCtx(t))
	if err != nil {
		t.Fatalf("CleanLeftovers: %v", err)
	}
	slices.Sort(removed)
	slices.Sort(leftovers)
	if !slices.Equal(removed, leftovers) {
		t.Fatalf("CleanLeftovers removed %v, want %v", removed, leftovers)
	}
	for _, p := range keep {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("CleanLeftovers removed %s: %v", p, err)
		}
	}
}
