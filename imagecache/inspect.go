package imagecache

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
)

// qemuFormatOf maps each Glance disk_format the cache accepts to the format qemu-img must
// report for the same file. It mirrors Debian's 26.2.2 deep inspection: the format nova's own
// inspector detects must equal disk_format, and qemu-img must agree (an ISO is raw to qemu).
// Left out: vhd (qemu-img calls it "vpc", so nova's comparison rejects it), vmdk (needs the
// descriptor checks of vmdk_allowed_types), qed (never safe), ami/aki/ari (qemu-img reports
// raw, which nova's comparison rejects too).
var qemuFormatOf = map[string]string{
	"raw":   "raw",
	"qcow2": "qcow2",
	"iso":   "raw",
	"vhdx":  "vhdx",
	"vdi":   "vdi",
}

// inspectWindow is how much of a file the signatures need: ISO 9660's primary volume
// descriptor sits at 32 KiB.
const inspectWindow = 32<<10 + 2<<10

// inspection is what the first bytes of a file say about it, as nova's format_inspector
// reads them; it never trusts qemu-img's own probing.
type inspection struct {
	format string // raw, qcow2, qed, vhd, vhdx, vmdk, vdi or iso
	qcow2  *qcow2Header
}

// inspectFile detects the file's format from its signatures. More than one match is an error,
// as in nova (a file that is both an ISO and a qcow2 is an attack, not an image).
func inspectFile(path string) (inspection, error) {
	f, err := os.Open(path)
	if err != nil {
		return inspection{}, err
	}
	defer func() { _ = f.Close() }()
	return inspect(f)
}

// inspect is inspectFile on any reader (the fuzz target feeds it bytes).
func inspect(f io.ReaderAt) (inspection, error) {
	buf := make([]byte, inspectWindow)
	n, err := io.ReadFull(io.NewSectionReader(f, 0, inspectWindow), buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return inspection{}, err
	}
	buf = buf[:n]

	var found []string
	// nova's inspectors for these formats need their 512-byte header region complete.
	if n >= 512 {
		switch {
		case bytes.HasPrefix(buf, []byte("QFI\xfb")):
			found = append(found, "qcow2")
		case bytes.HasPrefix(buf, []byte("QED\x00")):
			found = append(found, "qed")
		case bytes.HasPrefix(buf, []byte("conectix")):
			found = append(found, "vhd")
		case bytes.HasPrefix(buf, []byte("KDMV")):
			found = append(found, "vmdk")
		}
		if binary.LittleEndian.Uint32(buf[0x40:0x44]) == 0xbeda107f {
			found = append(found, "vdi")
		}
	}
	if bytes.HasPrefix(buf, []byte("vhdxfile")) {
		found = append(found, "vhdx")
	}
	if n >= inspectWindow {
		sig := string(buf[32<<10+1 : 32<<10+6])
		if sig == "CD001" || sig == "NSR02" || sig == "NSR03" {
			found = append(found, "iso")
		}
	}
	switch len(found) {
	case 0:
		return inspection{format: "raw"}, nil
	case 1:
	default:
		return inspection{}, classed(ErrCorrupt, "multiple formats detected: %s", strings.Join(found, ", "))
	}
	in := inspection{format: found[0]}
	if in.format == "qcow2" {
		h, err := parseQcow2Header(f, buf)
		if err != nil {
			return inspection{}, err
		}
		in.qcow2 = h
	}
	return in, nil
}

// safe is nova's safety_check: no qcow2 that reaches outside itself or uses features nova
// does not know, and no QED at all.
func (in inspection) safe() error {
	switch in.format {
	case "qed":
		return classed(ErrCorrupt, "QED images are not accepted")
	case "qcow2":
		h := in.qcow2
		switch {
		case h.backingOffset != 0:
			return classed(ErrCorrupt, "qcow2 image has a backing file (%q)", h.backingFile)
		case h.hasDataFile():
			return classed(ErrCorrupt, "qcow2 image has an external data-file")
		case h.unknownFeatures() != 0:
			return classed(ErrCorrupt, "qcow2 image uses unknown incompatible features %#x", h.unknownFeatures())
		}
	}
	return nil
}

// qcow2Header holds the fields of a qcow2 header the cache needs (docs/interop/qcow2.txt).
type qcow2Header struct {
	version       uint32
	backingOffset uint64
	backingFile   string
	size          uint64 // virtual size, bytes
	incompatible  uint64 // version 3 incompatible feature bits
}

const (
	qcow2DataFileBit = 1 << 2
	// Bits 0-3 (dirty, corrupt, external data file, compression type) are the ones nova's
	// inspector knows; anything above makes it refuse the image.
	qcow2KnownIncompatible = 1<<4 - 1
	qcow2MaxBackingName    = 1023 // qemu's own limit
)

func (h *qcow2Header) hasDataFile() bool { return h.incompatible&qcow2DataFileBit != 0 }

func (h *qcow2Header) unknownFeatures() uint64 { return h.incompatible &^ qcow2KnownIncompatible }

// parseQcow2Header decodes head (the first bytes of f) and reads the backing file name.
func parseQcow2Header(f io.ReaderAt, head []byte) (*qcow2Header, error) {
	if len(head) < 72 || !bytes.HasPrefix(head, []byte("QFI\xfb")) {
		return nil, classed(ErrCorrupt, "truncated qcow2 header")
	}
	be := binary.BigEndian
	h := &qcow2Header{
		version:       be.Uint32(head[4:8]),
		backingOffset: be.Uint64(head[8:16]),
		size:          be.Uint64(head[24:32]),
	}
	// Version 2 headers end at byte 72; the feature fields exist from version 3 on.
	if h.version >= 3 && len(head) >= 80 {
		h.incompatible = be.Uint64(head[72:80])
	}
	if h.backingOffset != 0 {
		n := be.Uint32(head[16:20])
		if n > qcow2MaxBackingName {
			return nil, classed(ErrCorrupt, "qcow2 backing file name of %d bytes", n)
		}
		name := make([]byte, n)
		if _, err := f.ReadAt(name, int64(h.backingOffset)); err != nil {
			return nil, classedErr(ErrCorrupt, err, "reading qcow2 backing file name")
		}
		h.backingFile = string(name)
	}
	return h, nil
}

// checkDeclaredFormat is Debian's do_image_deep_inspection: the file must be of the format
// Glance declares, and safe.
func checkDeclaredFormat(path, diskFormat string) error {
	in, err := inspectFile(path)
	if err != nil {
		if errors.Is(err, ErrCorrupt) {
			return err
		}
		return fmt.Errorf("inspecting %s: %w", path, err)
	}
	if err := in.safe(); err != nil {
		return err
	}
	if in.format != diskFormat {
		return classed(ErrCorrupt, "image content is %s but its disk_format is %s", in.format, diskFormat)
	}
	return nil
}

// readBackingFile returns the backing file named in a qcow2 file's header, "" when the file is
// not qcow2 or has none. Prune uses it to keep bases that instance disks still reference.
func readBackingFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer func() { _ = f.Close() }()
	head := make([]byte, 512)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return "", err
	}
	if !bytes.HasPrefix(head[:n], []byte("QFI\xfb")) {
		return "", nil
	}
	h, err := parseQcow2Header(f, head[:n])
	if err != nil {
		return "", err
	}
	return h.backingFile, nil
}

// DiskFacts are what nova's _get_instance_disk_info reports of one instance disk file.
type DiskFacts struct {
	Format      string // "qcow2" or "raw"
	VirtualSize int64  // bytes the guest sees
	ActualSize  int64  // bytes allocated on the host (st_blocks)
	BackingFile string // as named in the header, "" without one
}

// ReadDiskFacts reads path's header: a qcow2 file's virtual size and backing file, or a raw
// file whose virtual size is its length.
func ReadDiskFacts(path string) (DiskFacts, error) {
	f, err := os.Open(path)
	if err != nil {
		return DiskFacts{}, err
	}
	defer func() { _ = f.Close() }()
	st, err := f.Stat()
	if err != nil {
		return DiskFacts{}, err
	}
	d := DiskFacts{Format: "raw", VirtualSize: st.Size(), ActualSize: st.Size()}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		d.ActualSize = sys.Blocks * 512
	}
	head := make([]byte, 512)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return d, err
	}
	if !bytes.HasPrefix(head[:n], []byte("QFI\xfb")) {
		return d, nil
	}
	h, err := parseQcow2Header(f, head[:n])
	if err != nil {
		return d, err
	}
	d.Format, d.VirtualSize, d.BackingFile = "qcow2", int64(h.size), h.backingFile
	return d, nil
}
