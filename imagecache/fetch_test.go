package imagecache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/novalet/novalet/openstack/glance"
	"github.com/novalet/novalet/openstack/glance/glancetest"
)

// unitCache is Local with the Go stand-ins for qemu-img and genisoimage, logging into buf.
func unitCache(t *testing.T, edit func(*Options)) (*Local, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	o := DefaultOptions()
	o.InstancesPath = t.TempDir()
	o.Fetcher = testFetcher(t, 3)
	o.Logger = slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if edit != nil {
		edit(&o)
	}
	if err := o.validate(); err != nil {
		t.Fatal(err)
	}
	return newLocal(o, fakeTools{}), &buf
}

// testFetcher is a Glance client that retries quickly.
func testFetcher(t *testing.T, retries int) Fetcher {
	t.Helper()
	g, err := glance.NewClient(glance.ClientOptions{Retries: retries, RetryDelay: time.Millisecond, MetadataTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func rawData(n int) []byte {
	b := bytes.Repeat([]byte("unit test image "), n/16+1)
	return b[:n]
}

func reqFor(g *glancetest.Server, id string) Request {
	return Request{ImageID: id, Endpoint: g.URL, Token: "secret-user-token"}
}

func baseEntries(t *testing.T, c *Local) []string {
	t.Helper()
	ents, err := os.ReadDir(c.BaseDir())
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestEnsureOtherHashAlgorithms(t *testing.T) {
	c, _ := unitCache(t, nil)
	g := glancetest.New(t)
	data := rawData(8192)
	sum := sha256.Sum256(data)
	ok := g.Add(glancetest.Image{ID: uuid.NewString(), Data: data, OSHashAlgo: "sha256", OSHashValue: hex.EncodeToString(sum[:])})
	if _, err := c.Ensure(testCtx(t), reqFor(g, ok.ID)); err != nil {
		t.Fatalf("sha256 image: %v", err)
	}
	// glanceclient fails on an algorithm hashlib lacks; so do we, before writing anything.
	odd := g.Add(glancetest.Image{ID: uuid.NewString(), Data: data, OSHashAlgo: "whirlpool", OSHashValue: "00"})
	if _, err := c.Ensure(testCtx(t), reqFor(g, odd.ID)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("unknown os_hash_algo: %v, want ErrInvalid", err)
	}
	if n := len(baseEntries(t, c)); n != 1 {
		t.Fatalf("base directory holds %d entries, want 1", n)
	}
}

func TestEnsureContentMD5Fallback(t *testing.T) {
	c, _ := unitCache(t, nil)
	g := glancetest.New(t)
	img := g.Add(glancetest.Image{ID: uuid.NewString(), Data: rawData(8192), NoHash: true, NoChecksum: true, ContentMD5: true})
	g.Corrupt(img.ID)
	if _, err := c.Ensure(testCtx(t), reqFor(g, img.ID)); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "Content-MD5") {
		t.Fatalf("corrupt data against Content-MD5: %v, want ErrCorrupt", err)
	}
	// Nothing at all to check against: glanceclient accepts the bytes, and so do we.
	plain := g.Add(glancetest.Image{ID: uuid.NewString(), Data: rawData(4096), NoHash: true, NoChecksum: true})
	if _, err := c.Ensure(testCtx(t), reqFor(g, plain.ID)); err != nil {
		t.Fatalf("image without any checksum: %v", err)
	}
}

func TestEnsureUnitFormatChecks(t *testing.T) {
	c, _ := unitCache(t, nil)
	g := glancetest.New(t)
	posing := g.Add(glancetest.Image{ID: uuid.NewString(), DiskFormat: "raw", Data: FakeQcow2(1<<20, "")})
	if _, err := c.Ensure(testCtx(t), reqFor(g, posing.ID)); !errors.Is(err, ErrCorrupt) ||
		!strings.Contains(err.Error(), "image content is qcow2 but its disk_format is raw") {
		t.Fatalf("qcow2 declared raw: %v", err)
	}
	backed := g.Add(glancetest.Image{ID: uuid.NewString(), DiskFormat: "qcow2", Data: FakeQcow2(1<<20, "/etc/passwd")})
	if _, err := c.Ensure(testCtx(t), reqFor(g, backed.ID)); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "backing file") {
		t.Fatalf("qcow2 with a backing file: %v", err)
	}
	if names := baseEntries(t, c); len(names) != 0 {
		t.Fatalf("refused images left %v", names)
	}
	good := g.Add(glancetest.Image{ID: uuid.NewString(), DiskFormat: "qcow2", Data: FakeQcow2(3<<20, "")})
	base, err := c.Ensure(testCtx(t), reqFor(g, good.ID))
	if err != nil {
		t.Fatalf("qcow2: %v", err)
	}
	// force_raw_images: the fake conversion leaves a raw file of the virtual size.
	if st, err := os.Stat(base); err != nil || st.Size() != 3<<20 {
		t.Fatalf("converted base: %v, %v", st, err)
	}
	if names := baseEntries(t, c); len(names) != 1 {
		t.Fatalf("after conversion the base directory holds %v", names)
	}
}

func TestEnsureNoSpaceBeforeDownloading(t *testing.T) {
	c, _ := unitCache(t, nil)
	c.freeSpace = func(string) (int64, error) { return 1000, nil }
	g := glancetest.New(t)
	img := g.Add(glancetest.Image{ID: uuid.NewString(), Data: rawData(4096)})
	_, err := c.Ensure(testCtx(t), reqFor(g, img.ID))
	if !errors.Is(err, ErrNoSpace) {
		t.Fatalf("Ensure on a full disk = %v, want ErrNoSpace", err)
	}
	if n := g.Downloads(img.ID); n != 0 {
		t.Fatalf("downloaded %d times although it cannot fit", n)
	}
	if names := baseEntries(t, c); len(names) != 0 {
		t.Fatalf("left %v", names)
	}
}

func TestErrorClassesOfLocalFailures(t *testing.T) {
	full := &os.PathError{Op: "write", Path: "/x", Err: syscall.ENOSPC}
	if err := fsErr(full, "writing"); !errors.Is(err, ErrNoSpace) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("ENOSPC: %v", err)
	}
	if err := fsErr(&os.PathError{Op: "open", Path: "/x", Err: syscall.EACCES}, "open"); errors.Is(err, ErrNoSpace) {
		t.Fatalf("EACCES classed as no space: %v", err)
	}
	_, err := run(testCtx(t), time.Minute, "/bin/sh", "-c", "echo 'qemu-img: error while writing: No space left on device' >&2; exit 1")
	if !errors.Is(err, ErrNoSpace) {
		t.Fatalf("a tool failing with ENOSPC: %v, want ErrNoSpace", err)
	}
	_, err = run(testCtx(t), 50*time.Millisecond, "/bin/sh", "-c", "exec sleep 30")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a hung tool: %v, want its deadline", err)
	}
}

func TestEnsureRetriesLikeNova(t *testing.T) {
	c, _ := unitCache(t, func(o *Options) { o.Fetcher = testFetcher(t, 2) })
	g := glancetest.New(t)
	img := g.Add(glancetest.Image{ID: uuid.NewString(), Data: rawData(4096)})
	path := "/v2/images/" + img.ID
	for range 3 {
		g.FailNext(path, http.StatusServiceUnavailable)
	}
	if _, err := c.Ensure(testCtx(t), reqFor(g, img.ID)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("three 503s: %v, want ErrUnavailable", err)
	}
	if n := g.Requests(path); n != 3 {
		t.Fatalf("%d attempts, want 1 + num_retries = 3", n)
	}
	// A dead endpoint is retried too, and then reported unavailable.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String()
	_ = l.Close()
	if _, err := c.Ensure(testCtx(t), Request{ImageID: img.ID, Endpoint: dead}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("dead endpoint: %v, want ErrUnavailable", err)
	}
}

func TestEnsureEndpointForms(t *testing.T) {
	c, _ := unitCache(t, nil)
	g := glancetest.New(t)
	for _, ep := range []string{g.URL, g.URL + "/", g.URL + "/v2", g.URL + "/v2/"} {
		img := g.Add(glancetest.Image{ID: uuid.NewString(), Data: rawData(1024)})
		if _, err := c.Ensure(testCtx(t), Request{ImageID: img.ID, Endpoint: ep}); err != nil {
			t.Errorf("endpoint %q: %v", ep, err)
		}
	}
}

func TestTokenIsNeverLogged(t *testing.T) {
	c, logs := unitCache(t, nil)
	g := glancetest.New(t)
	img := g.Add(glancetest.Image{ID: uuid.NewString(), Data: rawData(4096)})
	bad := g.Add(glancetest.Image{ID: uuid.NewString(), Data: rawData(4096)})
	g.Corrupt(bad.ID)
	if _, err := c.Ensure(testCtx(t), reqFor(g, img.ID)); err != nil {
		t.Fatal(err)
	}
	_, err := c.Ensure(testCtx(t), reqFor(g, bad.ID))
	if err == nil || strings.Contains(err.Error(), "secret-user-token") {
		t.Fatalf("error %v carries the token", err)
	}
	if g.LastToken() != "secret-user-token" {
		t.Fatalf("Glance got token %q", g.LastToken())
	}
	if !strings.Contains(logs.String(), img.ID) {
		t.Fatalf("expected the download to be logged, got %q", logs.String())
	}
	if strings.Contains(logs.String(), "secret-user-token") {
		t.Fatal("the user's token appears in the log")
	}
}

func TestOptionsValidate(t *testing.T) {
	o := DefaultOptions()
	if err := o.validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	o.InstancesPath = "relative/path"
	o.SubdirectoryName = "../elsewhere"
	o.DownloadTimeout = 0
	err := o.validate()
	for _, want := range []string{"instances_path", "subdirectory_name", "download timeout"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("validate = %v, want it to name %s", err, want)
		}
	}
}

// stubFetcher fails every call with err.
type stubFetcher struct{ err error }

func (s stubFetcher) Image(context.Context, glance.Request) (*glance.Image, error) { return nil, s.err }
func (s stubFetcher) Data(context.Context, glance.Request) (*glance.Data, error)   { return nil, s.err }

// A fetcher's errors land in the cache's classes with their message unchanged; an error of no
// glance class counts as Glance being unavailable.
func TestFetcherErrorsAreReclassed(t *testing.T) {
	cases := []struct {
		err  error
		want error
	}{
		{fmt.Errorf("%w: GET x: 404", glance.ErrNotFound), ErrNotFound},
		{fmt.Errorf("%w: GET x: 403", glance.ErrNotAuthorized), ErrNotAuthorized},
		{fmt.Errorf("%w: image has no associated data", glance.ErrInvalid), ErrInvalid},
		{fmt.Errorf("%w: GET x: 503", glance.ErrUnavailable), ErrUnavailable},
		{errors.New("something else"), ErrUnavailable},
	}
	for _, tc := range cases {
		c, _ := unitCache(t, func(o *Options) { o.Fetcher = stubFetcher{tc.err} })
		_, err := c.Ensure(testCtx(t), Request{ImageID: uuid.NewString(), Endpoint: "http://glance"})
		if !errors.Is(err, tc.want) || !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.err.Error()) {
			t.Errorf("fetcher error %v: Ensure = %v, want class %v with the cause", tc.err, err, tc.want)
		}
		if names := baseEntries(t, c); len(names) != 0 {
			t.Errorf("fetcher error %v left %v", tc.err, names)
		}
	}
}
