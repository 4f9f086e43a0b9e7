package imagecache

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/google/uuid"

	"github.com/novalet/novalet/openstack/glance/glancetest"
)

// TestFilesBelongToNovasUser: everything the cache writes under instances_path belongs to the
// configured owner (user nova), so Debian's nova-compute, which runs as nova, can take the node
// back: _base, the base file, the instance directory, the disk, disk.info, the config drive and
// the snapshots directory (found by the bench: Debian's nova-compute failed every snapshot in
// a snapshots directory novalet had made as root).
func TestFilesBelongToNovasUser(t *testing.T) {
	owner := &Owner{UID: 65534, GID: 65534} // nobody/nogroup
	if os.Geteuid() != 0 {
		owner = &Owner{UID: os.Getuid(), GID: os.Getgid()} // only root may give files away
	}
	c, _ := unitCache(t, func(o *Options) { o.Owner = owner })
	g := glancetest.New(t)
	img := g.Add(glancetest.Image{ID: uuid.NewString(), Data: rawData(64 << 10)})
	base, err := c.Ensure(testCtx(t), reqFor(g, img.ID))
	must(t, err)
	dir := filepath.Join(c.opts.InstancesPath, uuid.NewString())
	disk, err := c.CreateOverlay(testCtx(t), base, dir, 0)
	must(t, err)
	drive, err := c.BuildConfigDrive(testCtx(t), dir, map[string][]byte{"openstack/latest/meta_data.json": []byte("{}")})
	must(t, err)
	snapDir, remove, err := c.SnapshotDir(testCtx(t))
	must(t, err)
	defer remove()
	for _, p := range []string{c.opts.baseDir(), base, dir, disk, filepath.Join(dir, "disk.info"), drive, filepath.Dir(snapDir)} {
		st, err := os.Lstat(p)
		must(t, err)
		sys := st.Sys().(*syscall.Stat_t)
		if int(sys.Uid) != owner.UID || int(sys.Gid) != owner.GID {
			t.Errorf("%s belongs to %d:%d, want %d:%d", p, sys.Uid, sys.Gid, owner.UID, owner.GID)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
