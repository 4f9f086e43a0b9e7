//go:build component

package imagecache_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sys/unix"

	"github.com/novalet/novalet/imagecache"
	"github.com/novalet/novalet/imagecache/cachetest"
	"github.com/novalet/novalet/internal/testenv"
	"github.com/novalet/novalet/openstack/glance/glancetest"
)

// requireTools fails the test unless the host programs the real cache runs are installed.
func requireTools(t *testing.T) {
	t.Helper()
	for _, p := range []string{"qemu-img", "genisoimage", "isoinfo", "blkid"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Fatalf("%s is not installed (Debian: apt-get install qemu-utils genisoimage util-linux): %v", p, err)
		}
	}
}

func newLocal(t *testing.T, instancesPath string, edit func(*imagecache.Options)) *imagecache.Local {
	t.Helper()
	requireTools(t)
	o := imagecache.DefaultOptions()
	o.InstancesPath = instancesPath
	if edit != nil {
		edit(&o)
	}
	c, err := imagecache.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func command(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("%s %v: %v: %s", name, args, err, ee.Stderr)
		}
		t.Fatalf("%s %v: %v", name, args, err)
	}
	return out
}

// qemuInfo is qemu-img info --output=json.
type qemuInfo struct {
	Format                string `json:"format"`
	VirtualSize           int64  `json:"virtual-size"`
	BackingFilename       string `json:"backing-filename"`
	BackingFilenameFormat string `json:"backing-filename-format"`
}

func qemuImgInfo(t *testing.T, path string) qemuInfo {
	t.Helper()
	var info qemuInfo
	if err := json.Unmarshal(command(t, "qemu-img", "info", "--force-share", "--output=json", path), &info); err != nil {
		t.Fatal(err)
	}
	return info
}

// readISO reads a config drive with isoinfo (Rock Ridge names, as cloud-init sees them).
func readISO(t *testing.T, path string) (string, map[string][]byte) {
	t.Helper()
	label := ""
	for _, line := range strings.Split(string(command(t, "isoinfo", "-d", "-i", path)), "\n") {
		if v, ok := strings.CutPrefix(line, "Volume id: "); ok {
			label = strings.TrimSpace(v)
		}
	}
	if got := strings.TrimSpace(string(command(t, "blkid", "-o", "value", "-s", "LABEL", path))); got != label {
		t.Fatalf("blkid sees label %q, isoinfo %q", got, label)
	}
	paths := strings.Fields(string(command(t, "isoinfo", "-R", "-f", "-i", path)))
	files := map[string][]byte{}
	for _, p := range paths {
		isDir := false
		for _, q := range paths {
			if strings.HasPrefix(q, p+"/") {
				isDir = true
			}
		}
		if !isDir {
			files[strings.TrimPrefix(p, "/")] = command(t, "isoinfo", "-R", "-i", path, "-x", p)
		}
	}
	return label, files
}

// The real cache passes the port's conformance suite with qemu-img and genisoimage.
func TestLocalConformance(t *testing.T) {
	cachetest.Run(t, cachetest.Config{
		New: func(t *testing.T, instancesPath string) imagecache.Cache {
			return newLocal(t, instancesPath, nil)
		},
		ReadConfigDrive: readISO,
	})
}

func guestImage(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testenv.GuestDir(t), "guest.qcow2"))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return c
}

func request(g *glancetest.Server, id string) imagecache.Request {
	return imagecache.Request{ImageID: id, Endpoint: g.URL, Token: "user-token"}
}

func requireEmptyDir(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	if len(ents) != 0 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("%s should be empty, holds %v", dir, names)
	}
}

func TestLocalQcow2IsConvertedToRaw(t *testing.T) {
	dir := t.TempDir()
	c := newLocal(t, dir, nil)
	g := glancetest.New(t)
	img := g.Add(glancetest.Image{ID: uuid.NewString(), DiskFormat: "qcow2", Data: guestImage(t)})
	base, err := c.Ensure(ctx(t), request(g, img.ID))
	if err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	info := qemuImgInfo(t, base)
	src := qemuImgInfo(t, filepath.Join(testenv.GuestDir(t), "guest.qcow2"))
	if info.Format != "raw" || info.VirtualSize != src.VirtualSize {
		t.Fatalf("base is %s of %d bytes, want raw of %d", info.Format, info.VirtualSize, src.VirtualSize)
	}
	// The bytes are the guest's disk: the same as qemu-img's own conversion.
	ref := filepath.Join(t.TempDir(), "ref.raw")
	command(t, "qemu-img", "convert", "-f", "qcow2", "-O", "raw", filepath.Join(testenv.GuestDir(t), "guest.qcow2"), ref)
	a, _ := os.ReadFile(base)
	b, _ := os.ReadFile(ref)
	if !bytes.Equal(a, b) {
		t.Fatal("cached raw base differs from qemu-img's conversion of the image")
	}
	if ents, _ := os.ReadDir(c.BaseDir()); len(ents) != 1 {
		t.Fatalf("base directory holds %d entries, want the base only", len(ents))
	}
	if st, _ := os.Stat(base); st.Mode().Perm() != 0o644 {
		t.Fatalf("base mode %v, want 0644 like nova's", st.Mode().Perm())
	}
}

func TestLocalQcow2KeptWithoutForceRaw(t *testing.T) {
	dir := t.TempDir()
	c := newLocal(t, dir, func(o *imagecache.Options) { o.ForceRawImages = false })
	g := glancetest.New(t)
	img := g.Add(glancetest.Image{ID: uuid.NewString(), DiskFormat: "qcow2", Data: guestImage(t)})
	base, err := c.Ensure(ctx(t), request(g, img.ID))
	if err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	if info := qemuImgInfo(t, base); info.Format != "qcow2" {
		t.Fatalf("base is %s, want qcow2 kept as downloaded", info.Format)
	}
	disk, err := c.CreateOverlay(ctx(t), base, filepath.Join(dir, uuid.NewString()), 0)
	if err != nil {
		t.Fatalf("CreateOverlay: %v", err)
	}
	if info := qemuImgInfo(t, disk); info.BackingFilename != base || info.BackingFilenameFormat != "qcow2" {
		t.Fatalf("overlay backed by %q (%s), want %s (qcow2)", info.BackingFilename, info.BackingFilenameFormat, base)
	}
}

func TestLocalRejectsQcow2DeclaredRaw(t *testing.T) {
	dir := t.TempDir()
	c := newLocal(t, dir, nil)
	g := glancetest.New(t)
	// Debian's deep inspection: a qcow2 posing as raw would have QEMU read a guest-controlled
	// header (and its backing file) from what nova hands it as a plain disk.
	img := g.Add(glancetest.Image{ID: uuid.NewString(), DiskFormat: "raw", Data: guestImage(t)})
	_, err := c.Ensure(ctx(t), request(g, img.ID))
	if !errors.Is(err, imagecache.ErrCorrupt) {
		t.Fatalf("Ensure = %v, want ErrCorrupt", err)
	}
	if !strings.Contains(err.Error(), "image content is qcow2 but its disk_format is raw") {
		t.Fatalf("error %q does not say why", err)
	}
	requireEmptyDir(t, c.BaseDir())
}

func TestLocalRejectsQcow2ReachingOutside(t *testing.T) {
	work := t.TempDir()
	backed := filepath.Join(work, "backed.qcow2")
	command(t, "qemu-img", "create", "-f", "qcow2", "-b", filepath.Join(testenv.GuestDir(t), "guest.qcow2"), "-F", "qcow2", backed)
	withData := filepath.Join(work, "datafile.qcow2")
	command(t, "qemu-img", "create", "-f", "qcow2", "-o", "data_file="+filepath.Join(work, "data.raw"), withData, "1M")

	for name, c := range map[string]struct{ file, why string }{
		"backing file": {backed, "backing file"},
		"data-file":    {withData, "data-file"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			cache := newLocal(t, dir, nil)
			g := glancetest.New(t)
			data, err := os.ReadFile(c.file)
			if err != nil {
				t.Fatal(err)
			}
			img := g.Add(glancetest.Image{ID: uuid.NewString(), DiskFormat: "qcow2", Data: data})
			_, err = cache.Ensure(ctx(t), request(g, img.ID))
			if !errors.Is(err, imagecache.ErrCorrupt) || !strings.Contains(err.Error(), c.why) {
				t.Fatalf("Ensure = %v, want ErrCorrupt naming the %s", err, c.why)
			}
			requireEmptyDir(t, cache.BaseDir())
		})
	}
}

func TestLocalOverlayOnRealImage(t *testing.T) {
	dir := t.TempDir()
	c := newLocal(t, dir, nil)
	g := glancetest.New(t)
	img := g.Add(glancetest.Image{ID: uuid.NewString(), DiskFormat: "qcow2", Data: guestImage(t)})
	base, err := c.Ensure(ctx(t), request(g, img.ID))
	if err != nil {
		t.Fatal(err)
	}
	virtual := qemuImgInfo(t, base).VirtualSize

	for _, tc := range []struct {
		root, want int64
	}{{1 << 30, 1 << 30}, {0, virtual}} {
		disk, err := c.CreateOverlay(ctx(t), base, filepath.Join(dir, uuid.NewString()), tc.root)
		if err != nil {
			t.Fatalf("CreateOverlay(%d): %v", tc.root, err)
		}
		info := qemuImgInfo(t, disk)
		if info.Format != "qcow2" || info.VirtualSize != tc.want || info.BackingFilename != base || info.BackingFilenameFormat != "raw" {
			t.Fatalf("overlay for root %d: %+v; want qcow2 of %d backed by %s (raw)", tc.root, info, tc.want, base)
		}
	}
	_, err = c.CreateOverlay(ctx(t), base, filepath.Join(dir, uuid.NewString()), virtual/2)
	var small *imagecache.DiskTooSmallError
	if !errors.As(err, &small) || small.ImageSize != virtual {
		t.Fatalf("CreateOverlay below the virtual size = %v, want DiskTooSmallError with image size %d", err, virtual)
	}
}

func TestLocalConfigDriveIsNovasISO(t *testing.T) {
	dir := filepath.Join(t.TempDir(), uuid.NewString())
	c := newLocal(t, filepath.Dir(dir), nil)
	meta := []byte(`{"uuid": "` + filepath.Base(dir) + `", "name": "vm1"}`)
	out, err := c.BuildConfigDrive(ctx(t), dir, map[string][]byte{
		"openstack/latest/meta_data.json": meta,
		"openstack/latest/user_data":      []byte("#cloud-config\n"),
	})
	if err != nil {
		t.Fatalf("BuildConfigDrive: %v", err)
	}
	d := string(command(t, "isoinfo", "-d", "-i", out))
	for _, want := range []string{"Volume id: config-2", "Publisher id: OpenStack Nova 26.2.2", "Rock Ridge", "Joliet"} {
		if !strings.Contains(d, want) {
			t.Fatalf("isoinfo -d lacks %q:\n%s", want, d)
		}
	}
	if got := command(t, "isoinfo", "-R", "-i", out, "-x", "/openstack/latest/meta_data.json"); !bytes.Equal(got, meta) {
		t.Fatalf("meta_data.json on the drive = %q, want %q", got, meta)
	}
	if info := qemuImgInfo(t, out); info.Format != "raw" {
		t.Fatalf("config drive is %s to qemu, want raw", info.Format)
	}
}

func TestLocalCachesISOImageAsIs(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(t.TempDir(), "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "README"), []byte("installer"), 0o644); err != nil {
		t.Fatal(err)
	}
	iso := filepath.Join(t.TempDir(), "img.iso")
	command(t, "genisoimage", "-quiet", "-o", iso, "-V", "INSTALL", src)
	data, err := os.ReadFile(iso)
	if err != nil {
		t.Fatal(err)
	}
	c := newLocal(t, dir, nil)
	g := glancetest.New(t)
	img := g.Add(glancetest.Image{ID: uuid.NewString(), DiskFormat: "iso", Data: data})
	base, err := c.Ensure(ctx(t), request(g, img.ID))
	if err != nil {
		t.Fatalf("Ensure of an ISO: %v", err)
	}
	if got, _ := os.ReadFile(base); !bytes.Equal(got, data) {
		t.Fatal("an ISO (raw to qemu) must be cached unchanged")
	}
	// The same bytes declared qcow2 are refused.
	bad := g.Add(glancetest.Image{ID: uuid.NewString(), DiskFormat: "qcow2", Data: data})
	if _, err := c.Ensure(ctx(t), request(g, bad.ID)); !errors.Is(err, imagecache.ErrCorrupt) {
		t.Fatalf("ISO declared qcow2: %v, want ErrCorrupt", err)
	}
}

// TestLocalNeverLetsQemuProbe: a text VMDK descriptor served as raw names an extent on the
// host. qemu-img info runs with -f (the format our inspection found), so qemu reads the file as
// raw and never opens the extent: here a FIFO, which would block an open for reading until
// the tool's deadline.
func TestLocalNeverLetsQemuProbe(t *testing.T) {
	work := t.TempDir()
	fifo := filepath.Join(work, "extent.fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	desc := fmt.Sprintf("# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType=\"monolithicFlat\"\n\n"+
		"RW 2048 FLAT \"%s\" 0\n\nddb.virtualHWVersion = \"4\"\n", fifo)
	data := make([]byte, 4096)
	copy(data, desc)
	c := newLocal(t, t.TempDir(), func(o *imagecache.Options) { o.ToolTimeout = 5 * time.Second })
	g := glancetest.New(t)
	img := g.Add(glancetest.Image{ID: uuid.NewString(), DiskFormat: "raw", Data: data})
	base, err := c.Ensure(ctx(t), request(g, img.ID))
	if err != nil {
		t.Fatalf("Ensure of a raw image that reads like a VMDK descriptor: %v (did qemu-img probe it and open its extent?)", err)
	}
	// (The base itself must not be probed either: a probing qemu-img blocks on the FIFO.)
	if got, err := os.ReadFile(base); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("cached base differs from the image: %v", err)
	}
}
