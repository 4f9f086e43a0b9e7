package imagecache

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeFileAll writes data to path, making its directory.
func writeFileAll(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestUsageReadsNovasLayout: base files "<sha1>" and legacy "<sha1>_<suffix>" count, temp files
// do not; a base is in use when an instance disk's qcow2 header names it as backing file.
func TestUsageReadsNovasLayout(t *testing.T) {
	c, _ := unitCache(t, nil)
	root := c.opts.InstancesPath
	base := c.BaseDir()
	used := strings.Repeat("a", 40)
	unused := strings.Repeat("b", 40)
	legacy := strings.Repeat("c", 40) + "_10737418240" // nova's old resized copy
	block := make([]byte, 64<<10)
	for i := range block {
		block[i] = byte(i) | 1 // not sparse
	}
	writeFileAll(t, filepath.Join(base, used), block)
	writeFileAll(t, filepath.Join(base, unused), block)
	writeFileAll(t, filepath.Join(base, legacy), block)
	writeFileAll(t, filepath.Join(base, used+".part.123"), block) // a download in progress
	inst := filepath.Join(root, "6a7c1b2e-5f3d-4c8a-9e0f-1a2b3c4d5e6f")
	writeFileAll(t, filepath.Join(inst, "disk"), FakeQcow2(1<<30, filepath.Join(base, used)))
	writeFileAll(t, filepath.Join(inst, "disk.config"), []byte("ISO"))
	writeFileAll(t, filepath.Join(inst, "disk.info"), []byte("{}"))
	writeFileAll(t, filepath.Join(root, "other-instance", "disk"), []byte("raw, short")) // not qcow2
	writeFileAll(t, filepath.Join(root, "third-instance", "disk.local"), FakeQcow2(1<<30, ""))

	u, err := c.Usage(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if u.InUse != 1 || u.Unused != 2 {
		t.Errorf("images in use %d, unused %d; want 1 and 2", u.InUse, u.Unused)
	}
	// Allocation depends on the file system; three 64 KiB files take at least one block each.
	if u.SizeBytes < 3*512 || u.SizeBytes > 2*3*(64<<10) {
		t.Errorf("size %d bytes for three 64 KiB base files", u.SizeBytes)
	}
	if u.FreeBytes <= 0 {
		t.Errorf("free bytes %d, want > 0", u.FreeBytes)
	}
	// Usage only reads: nothing was removed or made.
	if names := baseEntries(t, c); len(names) != 4 {
		t.Errorf("base directory now holds %v", names)
	}
}

func TestUsageOfAFreshOrMissingPath(t *testing.T) {
	// No _base yet: an empty cache, not an error.
	c, _ := unitCache(t, nil)
	u, err := c.Usage(testCtx(t))
	if err != nil || u.SizeBytes != 0 || u.InUse+u.Unused != 0 || u.FreeBytes <= 0 {
		t.Errorf("fresh instances_path: %+v, %v", u, err)
	}
	missing, _ := unitCache(t, nil)
	missing.opts.InstancesPath = filepath.Join(missing.opts.InstancesPath, "missing")
	if _, err := missing.Usage(testCtx(t)); err == nil {
		t.Error("a missing instances_path was not an error")
	}
}

func TestUsageFollowsSubdirectoryName(t *testing.T) {
	c, _ := unitCache(t, func(o *Options) { o.SubdirectoryName = "cache" })
	writeFileAll(t, filepath.Join(c.opts.InstancesPath, "_base", strings.Repeat("a", 40)), []byte("not ours now"))
	writeFileAll(t, filepath.Join(c.opts.InstancesPath, "cache", strings.Repeat("b", 40)), []byte("data"))
	u, err := c.Usage(testCtx(t))
	if err != nil || u.Unused != 1 || u.InUse != 0 {
		t.Errorf("subdirectory_name=cache: %+v, %v", u, err)
	}
}

func TestBaseFingerprint(t *testing.T) {
	h := strings.Repeat("0123456789", 4)
	for name, want := range map[string]bool{
		h: true, h + "_sm": true, h + "_10737418240": true,
		h + "_": false, h + "x": false, h[:39]: false, "ABCDEF" + h[6:]: false,
		strings.Repeat("g", 40): false, "": false, h + ".part.123": false,
	} {
		fp, original := baseFingerprint(name)
		if got := fp != ""; got != want {
			t.Errorf("baseFingerprint(%q) = %q, want a base file: %v", name, fp, want)
		}
		if want && fp != h {
			t.Errorf("baseFingerprint(%q) = %q, want %q", name, fp, h)
		}
		if want && original != (name == h) {
			t.Errorf("baseFingerprint(%q): original %v", name, original)
		}
	}
}
