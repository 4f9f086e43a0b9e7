package imagecache

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// FuzzInspect: whatever bytes an image holds, the inspection answers without panicking, names
// one format, and a qcow2 it calls safe reaches nothing outside itself.
func FuzzInspect(f *testing.F) {
	qcow2 := make([]byte, 512)
	copy(qcow2, "QFI\xfb")
	binary.BigEndian.PutUint32(qcow2[4:], 3)
	binary.BigEndian.PutUint64(qcow2[24:], 1<<20)
	f.Add(qcow2)
	backed := bytes.Clone(qcow2)
	binary.BigEndian.PutUint64(backed[8:], 400)
	binary.BigEndian.PutUint32(backed[16:], 9)
	copy(backed[400:], "/etc/shadow")
	f.Add(backed)
	f.Add([]byte("# Disk DescriptorFile\nRW 2048 FLAT \"/dev/sda\" 0\n"))
	f.Add(append([]byte("KDMV"), make([]byte, 600)...))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		in, err := inspect(bytes.NewReader(data))
		if err != nil {
			return
		}
		if in.format == "" {
			t.Fatal("an inspection without a format")
		}
		if in.format == "qcow2" && in.safe() == nil && (in.qcow2.backingOffset != 0 || in.qcow2.hasDataFile()) {
			t.Fatalf("a qcow2 reaching outside itself passed the safety check: %+v", in.qcow2)
		}
	})
}
