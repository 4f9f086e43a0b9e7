package cachetest

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/novalet/novalet/imagecache"
	"github.com/novalet/novalet/openstack/glance/glancetest"
)

func testEnsureCaches(t *testing.T, e *env) {
	img := e.addRaw(1, 256)
	path, err := e.cache.Ensure(testCtx(t), e.req(img.ID))
	if err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	sum := sha1.Sum([]byte(img.ID))
	if want := filepath.Join(e.baseDir(), hex.EncodeToString(sum[:])); path != want {
		t.Fatalf("path = %s, want %s", path, want)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, img.Data) {
		t.Fatalf("base file differs from the image (%d bytes, want %d)", len(got), len(img.Data))
	}
	if names := e.baseEntries(t); len(names) != 1 {
		t.Fatalf("base directory holds %v, want only the base file (no temp files)", names)
	}
	if tok := e.glance.LastToken(); tok != "user-token" {
		t.Fatalf("Glance saw X-Auth-Token %q, want the user's token", tok)
	}
}

func testEnsureHit(t *testing.T, e *env) {
	img := e.addRaw(2, 64)
	first, err := e.cache.Ensure(testCtx(t), e.req(img.ID))
	if err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	second, err := e.cache.Ensure(testCtx(t), e.req(img.ID))
	if err != nil || second != first {
		t.Fatalf("second Ensure = %q, %v; want %q", second, err, first)
	}
	if n := e.glance.Downloads(img.ID); n != 1 {
		t.Fatalf("image downloaded %d times, want 1", n)
	}
}

func testEnsureMD5Fallback(t *testing.T, e *env) {
	img := e.glance.Add(glancetest.Image{ID: uuid.NewString(), Data: RawImage(3, 64), NoHash: true})
	if _, err := e.cache.Ensure(testCtx(t), e.req(img.ID)); err != nil {
		t.Fatalf("Ensure of an image with only an MD5 checksum: %v", err)
	}
	bad := e.glance.Add(glancetest.Image{ID: uuid.NewString(), Data: RawImage(4, 64), NoHash: true})
	e.glance.Corrupt(bad.ID)
	_, err := e.cache.Ensure(testCtx(t), e.req(bad.ID))
	if !errors.Is(err, imagecache.ErrCorrupt) {
		t.Fatalf("Ensure with a wrong MD5 = %v, want ErrCorrupt", err)
	}
	if names := e.baseEntries(t); len(names) != 1 {
		t.Fatalf("base directory holds %v, want only the good image", names)
	}
}

func testEnsureHashMismatch(t *testing.T, e *env) {
	img := e.addRaw(5, 128)
	e.glance.Corrupt(img.ID)
	_, err := e.cache.Ensure(testCtx(t), e.req(img.ID))
	if !errors.Is(err, imagecache.ErrCorrupt) {
		t.Fatalf("Ensure = %v, want ErrCorrupt", err)
	}
	e.requireEmptyBase(t)
}

func testEnsureSizeMismatch(t *testing.T, e *env) {
	data := RawImage(6, 64)
	size := int64(len(data) + 512)
	img := e.glance.Add(glancetest.Image{ID: uuid.NewString(), Data: data, Size: &size})
	_, err := e.cache.Ensure(testCtx(t), e.req(img.ID))
	if !errors.Is(err, imagecache.ErrCorrupt) {
		t.Fatalf("Ensure of a short download = %v, want ErrCorrupt", err)
	}
	e.requireEmptyBase(t)
}

func testEnsureNotFound(t *testing.T, e *env) {
	_, err := e.cache.Ensure(testCtx(t), e.req(uuid.NewString()))
	if !errors.Is(err, imagecache.ErrNotFound) {
		t.Fatalf("Ensure of an unknown image = %v, want ErrNotFound", err)
	}
	e.requireEmptyBase(t)
}

func testEnsureGlanceErrors(t *testing.T, e *env) {
	img := e.addRaw(7, 64)
	e.glance.FailNext("/v2/images/"+img.ID, http.StatusInternalServerError)
	_, err := e.cache.Ensure(testCtx(t), e.req(img.ID))
	if !errors.Is(err, imagecache.ErrUnavailable) {
		t.Fatalf("Ensure with Glance answering 500 = %v, want ErrUnavailable", err)
	}
	e.glance.FailNext("/v2/images/"+img.ID+"/file", http.StatusBadGateway)
	_, err = e.cache.Ensure(testCtx(t), e.req(img.ID))
	if !errors.Is(err, imagecache.ErrUnavailable) {
		t.Fatalf("Ensure with the data answering 502 = %v, want ErrUnavailable", err)
	}
	e.requireEmptyBase(t)
	// nova retries 503 ([glance] num_retries); the image then arrives.
	e.glance.FailNext("/v2/images/"+img.ID+"/file", http.StatusServiceUnavailable)
	if _, err := e.cache.Ensure(testCtx(t), e.req(img.ID)); err != nil {
		t.Fatalf("Ensure after one 503: %v", err)
	}
}

func testEnsureNotAuthorized(t *testing.T, e *env) {
	img := e.addRaw(8, 64)
	e.glance.RequireToken("someone-else")
	_, err := e.cache.Ensure(testCtx(t), e.req(img.ID))
	if !errors.Is(err, imagecache.ErrNotAuthorized) {
		t.Fatalf("Ensure with a refused token = %v, want ErrNotAuthorized", err)
	}
	e.requireEmptyBase(t)
}

func testEnsureBadID(t *testing.T, e *env) {
	for _, id := range []string{"", "../../etc/passwd", "not-a-uuid", "0123456789abcdef0123456789abcdef",
		"12345678-1234-1234-1234-1234567890ab/../x", "12345678-1234-1234-1234-12345678/../"} {
		_, err := e.cache.Ensure(testCtx(t), e.req(id))
		if !errors.Is(err, imagecache.ErrInvalid) {
			t.Errorf("Ensure(%q) = %v, want ErrInvalid", id, err)
		}
	}
	if n := e.glance.TotalRequests(); n != 0 {
		t.Fatalf("bad ids reached Glance (%d requests)", n)
	}
	e.requireEmptyBase(t)
}

func testEnsureUnusable(t *testing.T, e *env) {
	cases := map[string]glancetest.Image{
		"queued image":     {Status: "queued"},
		"ovf container":    {ContainerFormat: "ovf"},
		"vmdk disk format": {DiskFormat: "vmdk"},
		"no data":          {NoData: true},
	}
	for name, img := range cases {
		img.ID = uuid.NewString()
		img.Data = RawImage(9, 64)
		e.glance.Add(img)
		if _, err := e.cache.Ensure(testCtx(t), e.req(img.ID)); !errors.Is(err, imagecache.ErrInvalid) {
			t.Errorf("%s: Ensure = %v, want ErrInvalid", name, err)
		}
	}
	e.requireEmptyBase(t)
}

func testEnsureConcurrent(t *testing.T, e *env) {
	img := e.addRaw(10, 512)
	release := e.glance.Hold()
	defer release()
	const callers = 5
	paths := make([]string, callers)
	errs := make([]error, callers)
	var entered, done sync.WaitGroup
	for i := range callers {
		entered.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			entered.Done()
			paths[i], errs[i] = e.cache.Ensure(testCtx(t), e.req(img.ID))
		}()
	}
	ctx := testCtx(t)
	if err := e.glance.WaitStarted(ctx, 1); err != nil {
		t.Fatal(err)
	}
	entered.Wait()
	// Give the callers time to queue behind the held download; the assertion below holds
	// either way (a late caller finds the file), only a broken cache downloads twice.
	time.Sleep(200 * time.Millisecond)
	release()
	done.Wait()
	for i := range callers {
		if errs[i] != nil || paths[i] != paths[0] {
			t.Fatalf("caller %d: %q, %v; want %q", i, paths[i], errs[i], paths[0])
		}
	}
	if n := e.glance.Downloads(img.ID); n != 1 {
		t.Fatalf("%d callers caused %d downloads, want 1", callers, n)
	}
	if n := e.glance.Requests("/v2/images/" + img.ID); n != 1 {
		t.Fatalf("%d callers caused %d image record reads, want 1", callers, n)
	}
}

func testEnsureWaiterLeaves(t *testing.T, e *env) {
	img := e.addRaw(11, 512)
	release := e.glance.Hold()
	defer release()
	ctx := testCtx(t)
	type result struct {
		path string
		err  error
	}
	first := make(chan result, 1)
	go func() {
		p, err := e.cache.Ensure(ctx, e.req(img.ID))
		first <- result{p, err}
	}()
	if err := e.glance.WaitStarted(ctx, 1); err != nil {
		t.Fatal(err)
	}
	// A second caller joins the held download and gives up.
	leaving, cancel := context.WithCancel(ctx)
	second := make(chan error, 1)
	go func() {
		_, err := e.cache.Ensure(leaving, e.req(img.ID))
		second <- err
	}()
	cancel()
	select {
	case err := <-second:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("the caller that left got %v, want context.Canceled", err)
		}
	case <-ctx.Done():
		t.Fatal("a caller whose context ended kept waiting for the download")
	}
	release()
	r := <-first
	if r.err != nil {
		t.Fatalf("the caller that stayed got %v", r.err)
	}
	got, err := os.ReadFile(r.path)
	if err != nil || !bytes.Equal(got, img.Data) {
		t.Fatalf("base file after the download: %v (equal: %v)", err, bytes.Equal(got, img.Data))
	}
	if n := e.glance.Downloads(img.ID); n != 1 {
		t.Fatalf("%d downloads, want 1", n)
	}
}

func testEnsureAllLeave(t *testing.T, e *env) {
	img := e.addRaw(12, 512)
	release := e.glance.Hold()
	defer release()
	ctx := testCtx(t)
	leaving, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		_, err := e.cache.Ensure(leaving, e.req(img.ID))
		errc <- err
	}()
	if err := e.glance.WaitStarted(ctx, 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Ensure = %v, want context.Canceled", err)
	}
	// With nobody waiting the transfer stops, and its temp file goes.
	if err := e.glance.WaitAborted(ctx, 1); err != nil {
		t.Fatal(err)
	}
	e.waitEmptyBase(t)
	release()
	if _, err := e.cache.Ensure(ctx, e.req(img.ID)); err != nil {
		t.Fatalf("Ensure after the abandoned download: %v", err)
	}
	if n := e.glance.Downloads(img.ID); n != 2 {
		t.Fatalf("%d downloads, want 2 (the abandoned one and the new one)", n)
	}
}
