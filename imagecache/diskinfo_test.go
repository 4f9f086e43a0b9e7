package imagecache

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestDiskInfoIsPythonJSON(t *testing.T) {
	got := encodeDiskInfo([]diskInfoEntry{
		{"/var/lib/nova/instances/u/disk", "qcow2"},
		{"/srv/ïnstances/\"q\"\\/disk.config", "raw"},
		{"/x/\U0001F600", "raw"},
	})
	// json.dumps(dict) as nova writes it.
	want := `{"/var/lib/nova/instances/u/disk": "qcow2", "/srv/\u00efnstances/\"q\"\\/disk.config": "raw", "/x/\ud83d\ude00": "raw"}` + "\n"
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestAddDiskInfoKeepsNovasEntries(t *testing.T) {
	c, _ := unitCache(t, nil)
	dir := filepath.Join(c.opts.InstancesPath, "inst")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	info := filepath.Join(dir, "disk.info")
	// A disk.info nova wrote, with an entry we must neither reorder nor overwrite.
	if err := os.WriteFile(info, []byte(`{"/i/disk": "raw", "/i/disk.eph0": "qcow2"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := c.addDiskInfo(dir, "/i/disk", "qcow2"); err != nil {
		t.Fatal(err)
	}
	if err := c.addDiskInfo(dir, "/i/disk.config", "raw"); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(info)
	want := `{"/i/disk": "raw", "/i/disk.eph0": "qcow2", "/i/disk.config": "raw"}` + "\n"
	if string(got) != want {
		t.Fatalf("disk.info = %s, want %s", got, want)
	}
	if err := os.WriteFile(info, []byte(`{"/i/disk": `), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := c.addDiskInfo(dir, "/i/disk", "qcow2"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("broken disk.info: %v, want ErrCorrupt", err)
	}
}
