package imagecache

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf16"
)

// disk.info is one line of JSON mapping each disk's absolute path to its driver format, e.g.
// {"/var/lib/nova/instances/<uuid>/disk": "qcow2"}. nova reads it instead of probing a disk's
// format (probing a guest-writable disk is unsafe), so it must be exactly nova's.

type diskInfoEntry struct{ path, format string }

// addDiskInfo records diskPath's format in <instanceDir>/disk.info. An entry that exists is
// kept as is: nova never overwrites one either.
func (c *Local) addDiskInfo(instanceDir, diskPath, format string) error {
	infoPath := filepath.Join(instanceDir, "disk.info")
	unlock := c.locks.lock(infoPath)
	defer unlock()

	entries, err := readDiskInfo(infoPath)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.path == diskPath {
			return nil
		}
	}
	entries = append(entries, diskInfoEntry{diskPath, format})
	tmp, err := tempPath(instanceDir, "disk.info.tmp.")
	if err != nil {
		return err
	}
	if err := os.WriteFile(tmp, []byte(encodeDiskInfo(entries)), 0o644); err != nil {
		_ = os.Remove(tmp)
		return fsErr(err, "writing %s", tmp)
	}
	if err := syncFile(tmp); err != nil {
		_ = os.Remove(tmp)
		return fsErr(err, "syncing %s", tmp)
	}
	if err := publish(tmp, infoPath, c.opts.Owner); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}

// readDiskInfo returns disk.info's entries in file order; a missing or empty file has none.
func readDiskInfo(path string) ([]diskInfoEntry, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fsErr(err, "reading %s", path)
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, nil
	}
	bad := func(err error) error { return classedErr(ErrCorrupt, err, "could not load %s", path) }
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, bad(fmt.Errorf("not a JSON object"))
	}
	var entries []diskInfoEntry
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return nil, bad(err)
		}
		var v string
		if err := dec.Decode(&v); err != nil {
			return nil, bad(err)
		}
		entries = append(entries, diskInfoEntry{k.(string), v})
	}
	if _, err := dec.Token(); err != nil {
		return nil, bad(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, bad(fmt.Errorf("trailing data"))
	}
	return entries, nil
}

// encodeDiskInfo writes what Python's json.dumps(dict) + "\n" writes: ", " and ": "
// separators, insertion order, non-ASCII escaped.
func encodeDiskInfo(entries []diskInfoEntry) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, e := range entries {
		if i > 0 {
			b.WriteString(", ")
		}
		writePyJSONString(&b, e.path)
		b.WriteString(": ")
		writePyJSONString(&b, e.format)
	}
	b.WriteString("}\n")
	return b.String()
}

// writePyJSONString quotes s as Python's json module does with ensure_ascii=True.
func writePyJSONString(b *strings.Builder, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r < 0x20 || (r >= 0x7f && r < 0x10000):
			fmt.Fprintf(b, `\u%04x`, r)
		case r >= 0x10000:
			r1, r2 := utf16.EncodeRune(r)
			fmt.Fprintf(b, `\u%04x\u%04x`, r1, r2)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
}
