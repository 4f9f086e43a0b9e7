// Package cachetest is the conformance suite of the imagecache.Cache port. The same tests run
// against the Fake (unit tier) and against Local with the host's qemu-img and genisoimage
// (component tier), so the double other packages test with behaves like the real cache.
package cachetest

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/novalet/novalet/imagecache"
	"github.com/novalet/novalet/openstack/glance/glancetest"
)

// Config says how to make the cache under test and how to read what it builds.
type Config struct {
	// New returns a cache over instancesPath with imagecache.DefaultOptions otherwise.
	New func(t *testing.T, instancesPath string) imagecache.Cache
	// ReadConfigDrive returns the volume label and the files of a config drive.
	ReadConfigDrive func(t *testing.T, path string) (label string, files map[string][]byte)
}

// Run runs the suite; every subtest gets its own instances directory and fake Glance.
func Run(t *testing.T, cfg Config) {
	tests := []struct {
		name string
		fn   func(*testing.T, *env)
	}{
		{"EnsureCachesUnderSha1OfID", testEnsureCaches},
		{"EnsureSecondCallIsAHit", testEnsureHit},
		{"EnsureMD5Fallback", testEnsureMD5Fallback},
		{"EnsureHashMismatchLeavesNothing", testEnsureHashMismatch},
		{"EnsureSizeMismatchLeavesNothing", testEnsureSizeMismatch},
		{"EnsureNotFound", testEnsureNotFound},
		{"EnsureGlanceErrors", testEnsureGlanceErrors},
		{"EnsureNotAuthorized", testEnsureNotAuthorized},
		{"EnsureBadImageID", testEnsureBadID},
		{"EnsureRefusesUnusableImages", testEnsureUnusable},
		{"EnsureOneDownloadForConcurrentCallers", testEnsureConcurrent},
		{"EnsureWaiterLeavingDoesNotStopOthers", testEnsureWaiterLeaves},
		{"EnsureAllWaitersLeavingStopsDownload", testEnsureAllLeave},
		{"CreateOverlay", testCreateOverlay},
		{"CreateOverlayRefusesBadArguments", testCreateOverlayBad},
		{"GrowDisk", testGrowDisk},
		{"KernelFetchedRawAndCopied", testKernelCopy},
		{"RebaseDisk", testRebaseDisk},
		{"BuildConfigDrive", testBuildConfigDrive},
		{"NamedOverlayAndConfigDrive", testNamedFiles},
		{"PruneKeepsInUseAndYoung", testPrune},
		{"UsageCountsBasesInUseAndUnused", testUsage},
		{"CleanLeftovers", testCleanLeftovers},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := &env{cfg: cfg, instances: t.TempDir(), glance: glancetest.New(t)}
			e.cache = cfg.New(t, e.instances)
			tc.fn(t, e)
		})
	}
}

// env is one subtest's world.
type env struct {
	cfg       Config
	cache     imagecache.Cache
	instances string
	glance    *glancetest.Server
}

func (e *env) baseDir() string { return filepath.Join(e.instances, "_base") }

// req asks for image id from the fake Glance with a user token.
func (e *env) req(id string) imagecache.Request {
	return imagecache.Request{ImageID: id, Endpoint: e.glance.URL, Token: "user-token", GlobalRequestID: "req-" + id}
}

// addRaw stores a raw image of n KiB with content unique to seed and returns it.
func (e *env) addRaw(seed byte, kib int) glancetest.Image {
	return e.glance.Add(glancetest.Image{ID: uuid.NewString(), Name: fmt.Sprintf("raw-%d", seed), Data: RawImage(seed, kib)})
}

// RawImage returns kib KiB of bytes no format signature matches, different for each seed.
func RawImage(seed byte, kib int) []byte {
	b := make([]byte, kib<<10)
	copy(b, fmt.Sprintf("novalet raw test image %d\n", seed))
	for i := 64; i < len(b); i++ {
		b[i] = byte(i*7) ^ seed
	}
	// Offset 0x40 is where VDI's signature would be; keep it plainly not one.
	copy(b[0x40:], "no-vdi-here")
	return b
}

// ctx bounds one call; generous, for a loaded 2-core machine with real qemu-img.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// baseEntries lists the base directory (empty when it does not exist).
func (e *env) baseEntries(t *testing.T) []string {
	t.Helper()
	ents, err := os.ReadDir(e.baseDir())
	if err != nil && !os.IsNotExist(err) {
		t.Fatalf("listing %s: %v", e.baseDir(), err)
	}
	var names []string
	for _, d := range ents {
		names = append(names, d.Name())
	}
	sort.Strings(names)
	return names
}

// requireEmptyBase fails unless nothing at all is in the base directory.
func (e *env) requireEmptyBase(t *testing.T) {
	t.Helper()
	if names := e.baseEntries(t); len(names) != 0 {
		t.Fatalf("base directory should be empty after a failure, holds %v", names)
	}
}

// waitEmptyBase waits (bounded) until the base directory is empty: a cancelled download
// removes its temp file in the background.
func (e *env) waitEmptyBase(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for len(e.baseEntries(t)) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("base directory still holds %v a minute after the download was abandoned", e.baseEntries(t))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// qcow2Header reads a qcow2 file's virtual size and backing file name straight from its
// header, independently of the package under test.
func qcow2Header(t *testing.T, path string) (size uint64, backing string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	if len(raw) < 104 || !bytes.HasPrefix(raw, []byte("QFI\xfb")) {
		t.Fatalf("%s is not qcow2 (starts %q)", path, raw[:min(len(raw), 8)])
	}
	be := binary.BigEndian
	off, n := be.Uint64(raw[8:16]), be.Uint32(raw[16:20])
	if off != 0 {
		if off+uint64(n) > uint64(len(raw)) {
			t.Fatalf("%s: backing file name outside the file", path)
		}
		backing = string(raw[off : off+uint64(n)])
	}
	return be.Uint64(raw[24:32]), backing
}
