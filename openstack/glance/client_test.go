package glance

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/novalet/novalet/openstack/glance/glancetest"
)

func testClient(t *testing.T, retries int) *Client {
	t.Helper()
	c, err := NewClient(ClientOptions{Retries: retries, RetryDelay: time.Millisecond, MetadataTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestNewClientChecksOptions(t *testing.T) {
	if _, err := NewClient(DefaultClientOptions()); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	_, err := NewClient(ClientOptions{Retries: -1, RetryDelay: -time.Second})
	for _, want := range []string{"num_retries", "retry delay", "metadata timeout"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("NewClient = %v, want it to name %s", err, want)
		}
	}
}

// TestClientHeaders checks what nova's glanceclient sends: the token, the service token, the
// global request id, the Accept of each call; and that an endpoint ending in /v2 is not doubled.
func TestClientHeaders(t *testing.T) {
	id := uuid.NewString()
	var mu sync.Mutex
	var seen []http.Header
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Clone())
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		if strings.HasSuffix(r.URL.Path, "/file") {
			w.Header().Set("Content-MD5", "0123")
			_, _ = io.WriteString(w, "data")
			return
		}
		_, _ = io.WriteString(w, `{"id": "`+id+`", "status": "active", "disk_format": "raw", "size": 4}`)
	}))
	t.Cleanup(srv.Close)
	c := testClient(t, 0)
	req := Request{ImageID: id, Endpoint: srv.URL + "/v2/", Token: "user-token", ServiceToken: "service-token", GlobalRequestID: "req-global"}
	img, err := c.Image(testCtx(t), req)
	if err != nil || img.ID != id || img.Size == nil || *img.Size != 4 {
		t.Fatalf("Image = %+v, %v", img, err)
	}
	d, err := c.Data(testCtx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(d.Body)
	_ = d.Body.Close()
	if string(body) != "data" || d.ContentMD5 != "0123" {
		t.Fatalf("Data = %q, Content-MD5 %q", body, d.ContentMD5)
	}
	if want := []string{"/v2/images/" + id, "/v2/images/" + id + "/file"}; strings.Join(paths, " ") != strings.Join(want, " ") {
		t.Fatalf("paths %v, want %v", paths, want)
	}
	for i, accept := range []string{"application/json", "application/octet-stream"} {
		h := seen[i]
		for k, v := range map[string]string{"Accept": accept, "X-Auth-Token": "user-token",
			"X-Service-Token": "service-token", "X-Openstack-Request-Id": "req-global", "User-Agent": "novalet"} {
			if got := h.Get(k); got != v {
				t.Errorf("request %d: %s = %q, want %q", i, k, got, v)
			}
		}
	}
}

func TestClientErrorClasses(t *testing.T) {
	g := glancetest.New(t)
	c := testClient(t, 3)
	img := g.Add(glancetest.Image{ID: uuid.NewString(), Data: []byte("0123456789")})
	path := "/v2/images/" + img.ID
	cases := []struct {
		status int
		want   error
	}{
		{http.StatusNotFound, ErrNotFound}, {http.StatusGone, ErrNotFound},
		{http.StatusUnauthorized, ErrNotAuthorized}, {http.StatusForbidden, ErrNotAuthorized},
		{http.StatusBadRequest, ErrInvalid}, {http.StatusInternalServerError, ErrUnavailable},
	}
	for _, tc := range cases {
		before := g.Requests(path)
		g.FailNext(path, tc.status)
		_, err := c.Image(testCtx(t), Request{ImageID: img.ID, Endpoint: g.URL, Token: "secret"})
		if !errors.Is(err, tc.want) {
			t.Errorf("%d: %v, want %v", tc.status, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("%d: the error carries the token: %v", tc.status, err)
		}
		// Only connection errors and 503 are retried.
		if n := g.Requests(path) - before; n != 1 {
			t.Errorf("%d: %d attempts, want 1", tc.status, n)
		}
	}
	if _, err := c.Image(testCtx(t), Request{ImageID: uuid.NewString(), Endpoint: g.URL}); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown image: %v, want ErrNotFound", err)
	}
	empty := g.Add(glancetest.Image{ID: uuid.NewString(), NoData: true})
	if _, err := c.Data(testCtx(t), Request{ImageID: empty.ID, Endpoint: g.URL}); !errors.Is(err, ErrInvalid) ||
		!strings.Contains(err.Error(), "no associated data") {
		t.Errorf("204: %v, want ErrInvalid, no associated data", err)
	}
	if _, err := c.Image(testCtx(t), Request{ImageID: img.ID, Endpoint: "http://bad host:x"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("malformed endpoint: %v, want ErrInvalid", err)
	}
}

func TestClientRetriesLikeNova(t *testing.T) {
	g := glancetest.New(t)
	img := g.Add(glancetest.Image{ID: uuid.NewString(), Data: []byte("0123456789")})
	file := "/v2/images/" + img.ID + "/file"
	c := testClient(t, 2)
	// Two 503s, then the data: within num_retries.
	g.FailNext(file, http.StatusServiceUnavailable)
	g.FailNext(file, http.StatusServiceUnavailable)
	d, err := c.Data(testCtx(t), Request{ImageID: img.ID, Endpoint: g.URL})
	if err != nil {
		t.Fatalf("after two 503s: %v", err)
	}
	_ = d.Body.Close()
	if n := g.Requests(file); n != 3 {
		t.Fatalf("%d attempts, want 3", n)
	}
	// A dead endpoint: 1 + num_retries connection errors, then unavailable.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String()
	_ = l.Close()
	if _, err := c.Image(testCtx(t), Request{ImageID: img.ID, Endpoint: dead}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("dead endpoint: %v, want ErrUnavailable", err)
	}
	// A context that ends while waiting to retry stops the retries.
	ctx, cancel := context.WithCancel(testCtx(t))
	slow, _ := NewClient(ClientOptions{Retries: 5, RetryDelay: time.Hour, MetadataTimeout: time.Minute})
	g.FailNext(file, http.StatusServiceUnavailable)
	time.AfterFunc(20*time.Millisecond, cancel)
	if _, err := slow.Data(ctx, Request{ImageID: img.ID, Endpoint: g.URL}); !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled during the retry pause: %v", err)
	}
}

func TestClientRefusesAnotherImagesRecord(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "bad-json") {
			_, _ = io.WriteString(w, "<html>")
			return
		}
		_, _ = io.WriteString(w, `{"id": "someone-else"}`)
	}))
	t.Cleanup(srv.Close)
	c := testClient(t, 0)
	if _, err := c.Image(testCtx(t), Request{ImageID: uuid.NewString(), Endpoint: srv.URL}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("another image's record: %v, want ErrUnavailable", err)
	}
	if _, err := c.Image(testCtx(t), Request{ImageID: "bad-json", Endpoint: srv.URL}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("not JSON: %v, want ErrUnavailable", err)
	}
}
