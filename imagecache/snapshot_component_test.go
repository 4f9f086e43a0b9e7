//go:build component

package imagecache_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/novalet/novalet/imagecache"
)

// TestLocalExtractFlattens: a snapshot of an overlay is one whole image with no backing
// file, in the format asked, compressed when snapshot_compression says so, and its data is
// the overlay's (qemu-img compare); a failed extraction leaves no file.
func TestLocalExtractFlattens(t *testing.T) {
	inst := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base := filepath.Join(inst, "base.qcow2")
	command(t, "qemu-img", "create", "-q", "-f", "qcow2", base, "64M")
	command(t, "qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 0 1M", base)
	disk := filepath.Join(inst, "disk")
	command(t, "qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", disk)
	command(t, "qemu-io", "-f", "qcow2", "-c", "write -P 0xa5 4M 1M", disk)

	for _, tc := range []struct {
		format   string
		compress bool
	}{{"qcow2", false}, {"qcow2", true}, {"raw", false}} {
		c := newLocal(t, inst, func(o *imagecache.Options) { o.SnapshotCompression = tc.compress })
		dir, remove, err := c.SnapshotDir(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o701 || filepath.Dir(dir) != filepath.Join(inst, "snapshots") {
			t.Fatalf("work directory %s: %v %v; want mode 0701 under instances_path/snapshots", dir, st.Mode(), err)
		}
		out := filepath.Join(dir, "snap")
		if err := c.Extract(ctx, disk, "qcow2", out, tc.format); err != nil {
			t.Fatal(err)
		}
		var info struct {
			Format  string `json:"format"`
			Backing string `json:"backing-filename"`
			Size    int64  `json:"virtual-size"`
		}
		if err := json.Unmarshal(command(t, "qemu-img", "info", "-f", tc.format, "--output=json", out), &info); err != nil {
			t.Fatal(err)
		}
		if info.Format != tc.format || info.Backing != "" || info.Size != 64<<20 {
			t.Errorf("%s (compress %v): %+v; want a whole %s image of 64 MiB", tc.format, tc.compress, info, tc.format)
		}
		command(t, "qemu-img", "compare", "-f", "qcow2", "-F", tc.format, disk, out)
		if tc.compress {
			// A compressed cluster shows in qemu-img check's stats.
			var chk struct {
				Compressed int `json:"compressed-clusters"`
			}
			_ = json.Unmarshal(command(t, "qemu-img", "check", "-f", "qcow2", "--output=json", out), &chk)
			if chk.Compressed == 0 {
				t.Errorf("snapshot_compression: no compressed cluster in %s", out)
			}
		}
		remove()
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("work directory %s not removed: %v", dir, err)
		}
	}

	c := newLocal(t, inst, nil)
	bad := filepath.Join(inst, "bad")
	if err := c.Extract(ctx, filepath.Join(inst, "missing"), "qcow2", bad, "qcow2"); err == nil {
		t.Error("extracting a missing disk succeeded")
	}
	if _, err := os.Stat(bad); !os.IsNotExist(err) {
		t.Errorf("a failed extraction left %s", bad)
	}
	if err := c.Extract(ctx, disk, "qcow2", bad, "vmdk"); err == nil {
		t.Error("extracting to vmdk succeeded; only qcow2 and raw are written")
	}
}
