package imagecache

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeTemp(t *testing.T, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "img")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// withFeatures sets a qcow2 v3 header's incompatible feature bits.
func withFeatures(img []byte, bits uint64) []byte {
	binary.BigEndian.PutUint64(img[72:80], bits)
	return img
}

func isoImage() []byte {
	b := make([]byte, inspectWindow+2048)
	b[32<<10] = 1
	copy(b[32<<10+1:], "CD001")
	return b
}

func TestInspectDetectsFormats(t *testing.T) {
	at := func(off int, sig string) []byte {
		b := make([]byte, 4096)
		copy(b[off:], sig)
		return b
	}
	vdi := make([]byte, 4096)
	binary.LittleEndian.PutUint32(vdi[0x40:], 0xbeda107f)
	cases := map[string]struct {
		data []byte
		want string
	}{
		"raw":            {[]byte(strings.Repeat("plain data ", 1000)), "raw"},
		"tiny qcow2 sig": {[]byte("QFI\xfb"), "raw"}, // nova needs a whole 512-byte header
		"qcow2":          {FakeQcow2(1<<20, ""), "qcow2"},
		"qed":            {at(0, "QED\x00"), "qed"},
		"vhd":            {at(0, "conectix"), "vhd"},
		"vmdk":           {at(0, "KDMV"), "vmdk"},
		"vdi":            {vdi, "vdi"},
		"vhdx":           {at(0, "vhdxfile"), "vhdx"},
		"iso":            {isoImage(), "iso"},
	}
	for name, c := range cases {
		in, err := inspectFile(writeTemp(t, c.data))
		if err != nil || in.format != c.want {
			t.Errorf("%s: detected %q, %v; want %q", name, in.format, err, c.want)
		}
	}
}

func TestInspectRefusesPolyglot(t *testing.T) {
	b := isoImage()
	copy(b, FakeQcow2(1<<20, ""))
	_, err := inspectFile(writeTemp(t, b))
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "multiple formats detected: qcow2, iso") {
		t.Fatalf("qcow2+iso = %v, want ErrCorrupt naming both", err)
	}
}

func TestCheckDeclaredFormat(t *testing.T) {
	cases := map[string]struct {
		data       []byte
		diskFormat string
		why        string // "" = accepted
	}{
		"raw as raw":           {make([]byte, 4096), "raw", ""},
		"qcow2 as qcow2":       {FakeQcow2(1<<20, ""), "qcow2", ""},
		"iso as iso":           {isoImage(), "iso", ""},
		"qcow2 declared raw":   {FakeQcow2(1<<20, ""), "raw", "image content is qcow2 but its disk_format is raw"},
		"raw declared qcow2":   {make([]byte, 4096), "qcow2", "image content is raw but its disk_format is qcow2"},
		"qcow2 with backing":   {FakeQcow2(1<<20, "/etc/shadow"), "qcow2", `qcow2 image has a backing file ("/etc/shadow")`},
		"qcow2 with data-file": {withFeatures(FakeQcow2(1<<20, ""), qcow2DataFileBit), "qcow2", "external data-file"},
		"qcow2 extended L2":    {withFeatures(FakeQcow2(1<<20, ""), 1<<4), "qcow2", "unknown incompatible features 0x10"},
		"qcow2 dirty is fine":  {withFeatures(FakeQcow2(1<<20, ""), 1), "qcow2", ""},
		"qed":                  {append([]byte("QED\x00"), make([]byte, 600)...), "qed", "QED images are not accepted"},
	}
	for name, c := range cases {
		err := checkDeclaredFormat(writeTemp(t, c.data), c.diskFormat)
		switch {
		case c.why == "" && err != nil:
			t.Errorf("%s: refused: %v", name, err)
		case c.why != "" && (!errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), c.why)):
			t.Errorf("%s: got %v, want ErrCorrupt saying %q", name, err, c.why)
		}
	}
}

func TestReadBackingFile(t *testing.T) {
	if got, err := readBackingFile(writeTemp(t, FakeQcow2(1<<20, "/var/lib/nova/instances/_base/abc"))); err != nil || got != "/var/lib/nova/instances/_base/abc" {
		t.Fatalf("backing = %q, %v", got, err)
	}
	if got, err := readBackingFile(writeTemp(t, []byte("raw disk"))); err != nil || got != "" {
		t.Fatalf("raw file: backing = %q, %v; want none", got, err)
	}
	bad := FakeQcow2(1<<20, "x")
	binary.BigEndian.PutUint64(bad[8:], 1<<40) // name beyond the end of the file
	if _, err := readBackingFile(writeTemp(t, bad)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("broken header: %v, want ErrCorrupt", err)
	}
}
