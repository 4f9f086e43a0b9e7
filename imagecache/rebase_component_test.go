//go:build component

package imagecache_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/uuid"

	"github.com/novalet/novalet/imagecache/cachetest"
	"github.com/novalet/novalet/openstack/glance/glancetest"
)

// TestLocalRebaseKeepsTheGuestData: qemu-img rebase in safe mode, as nova's unshelve runs
// it: the disk made on one base (the shelve snapshot), with a write of its own, reads the
// same after its rebase onto another base (the original image) and after a flatten.
func TestLocalRebaseKeepsTheGuestData(t *testing.T) {
	dir := t.TempDir()
	c := newLocal(t, dir, nil)
	g := glancetest.New(t)
	snap := g.Add(glancetest.Image{ID: uuid.NewString(), Data: cachetest.RawImage(51, 1024)})
	orig := g.Add(glancetest.Image{ID: uuid.NewString(), Data: cachetest.RawImage(52, 1024)})
	snapBase, err := c.Ensure(ctx(t), request(g, snap.ID))
	if err != nil {
		t.Fatal(err)
	}
	origBase, err := c.Ensure(ctx(t), request(g, orig.ID))
	if err != nil {
		t.Fatal(err)
	}
	inst := filepath.Join(dir, uuid.NewString())
	disk, err := c.CreateOverlay(ctx(t), snapBase, inst, 0)
	if err != nil {
		t.Fatal(err)
	}
	command(t, "qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 4096 4096", disk)
	contents := func() []byte {
		out := filepath.Join(t.TempDir(), "flat.raw")
		command(t, "qemu-img", "convert", "-f", "qcow2", "-O", "raw", disk, out)
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	want := contents()
	if !bytes.Equal(want[4096:8192], bytes.Repeat([]byte{0x5a}, 4096)) || !bytes.Equal(want[:4096], snap.Data[:4096]) {
		t.Fatal("the disk does not read as the snapshot plus its write")
	}
	if err := c.RebaseDisk(ctx(t), inst, origBase); err != nil {
		t.Fatal(err)
	}
	if got := contents(); !bytes.Equal(got, want) {
		t.Error("the guest's data changed with the rebase onto the original image")
	}
	if err := c.RebaseDisk(ctx(t), inst, ""); err != nil {
		t.Fatal(err)
	}
	if got := contents(); !bytes.Equal(got, want) {
		t.Error("the guest's data changed with the flatten")
	}
}
