// Package glancetest is the Glance test server: an in-memory Glance v2 image API on an
// httptest server serving the calls a compute makes: the record and data GETs of a download,
// and a snapshot's PATCH, PUT of the data, listing and DELETE (write.go), with the image
// record's real shape, request counting, injected failures and a gate to hold downloads
// mid-stream.
package glancetest

import (
	"context"
	"crypto/md5"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// Image is one image record and its data. Add fills the zero fields the way Glance would.
type Image struct {
	ID              string
	Name            string
	Status          string // default "active"
	DiskFormat      string // default "raw"
	ContainerFormat string // default "bare"
	Data            []byte
	Size            *int64 // default len(Data)
	Checksum        string // default md5 of Data
	OSHashAlgo      string // default "sha512"
	OSHashValue     string // default sha512 of Data
	NoHash          bool   // no os_hash_* (an image uploaded before Glance had them)
	NoChecksum      bool   // no checksum either
	ContentMD5      bool   // send a Content-MD5 header with the data
	NoData          bool   // GET /file answers 204
	// CreatedAt defaults to a clock that advances a second per Add, so listings sorted by
	// created_at follow the order of Add.
	CreatedAt time.Time
	// Properties are custom properties, top-level keys of the record as in Glance.
	Properties map[string]any
}

// Server is the test Glance. URL is its endpoint, as the service catalog would give it.
type Server struct {
	URL string

	srv *httptest.Server

	mu        sync.Mutex
	images    map[string]*Image
	served    map[string][]byte // what /file sends; differs from Data after Corrupt
	requests  map[string]int    // "GET /v2/images/<id>/file" -> count
	failures  map[string][]int  // path -> statuses to answer, in order
	hold      chan struct{}     // non-nil: downloads stop half-way until it is closed
	started   int
	aborted   int
	lastToken string
	token     string         // "" accepts any X-Auth-Token
	changed   chan struct{}  // closed and replaced on every download start/abort
	clock     time.Time      // CreatedAt of the next image added without one
	calls     map[string]int // "PATCH /v2/images/<id>" -> count
	uploads   []Upload
}

// New starts a test Glance that stops when the test ends.
func New(t testing.TB) *Server {
	s := &Server{images: map[string]*Image{}, served: map[string][]byte{}, requests: map[string]int{},
		failures: map[string][]int{}, changed: make(chan struct{}), calls: map[string]int{},
		clock: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v2/images/{id}", s.serveImage)
	mux.HandleFunc("GET /v2/images/{id}/file", s.serveFile)
	mux.HandleFunc("GET /v2/images", s.serveList)
	mux.HandleFunc("PATCH /v2/images/{id}", s.servePatch)
	mux.HandleFunc("PUT /v2/images/{id}/file", s.serveUpload)
	mux.HandleFunc("DELETE /v2/images/{id}", s.serveDelete)
	s.srv = httptest.NewServer(mux)
	s.URL = s.srv.URL
	t.Cleanup(func() {
		s.mu.Lock()
		if s.hold != nil {
			close(s.hold)
			s.hold = nil
		}
		s.mu.Unlock()
		s.srv.Close()
	})
	return s
}

// Add stores an image and returns it with Glance's computed fields filled in.
func (s *Server) Add(img Image) Image {
	if img.Status == "" {
		img.Status = "active"
	}
	if img.DiskFormat == "" {
		img.DiskFormat = "raw"
	}
	if img.ContainerFormat == "" {
		img.ContainerFormat = "bare"
	}
	if img.Size == nil {
		n := int64(len(img.Data))
		img.Size = &n
	}
	if img.Checksum == "" && !img.NoChecksum {
		sum := md5.Sum(img.Data)
		img.Checksum = hex.EncodeToString(sum[:])
	}
	if !img.NoHash {
		if img.OSHashAlgo == "" {
			img.OSHashAlgo = "sha512"
		}
		if img.OSHashValue == "" {
			sum := sha512.Sum512(img.Data)
			img.OSHashValue = hex.EncodeToString(sum[:])
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if img.CreatedAt.IsZero() {
		img.CreatedAt = s.clock
		s.clock = s.clock.Add(time.Second)
	}
	cp := img
	s.images[img.ID] = &cp
	s.served[img.ID] = append([]byte(nil), img.Data...)
	return img
}

// RequireToken makes every request without this X-Auth-Token answer 401.
func (s *Server) RequireToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token = token
}

// Corrupt flips a byte of what GET /file sends for the image; the record keeps the hashes
// of the original data.
func (s *Server) Corrupt(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d := s.served[id]; len(d) > 0 {
		d[len(d)/2] ^= 0xff
	}
}

// FailNext makes the next request for path ("/v2/images/<id>" or ".../file") answer status.
func (s *Server) FailNext(path string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures[path] = append(s.failures[path], status)
}

// Hold makes downloads send half their data and wait until release is called (or the client
// goes away). Release is idempotent.
func (s *Server) Hold() (release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := make(chan struct{})
	s.hold = ch
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			if s.hold == ch {
				s.hold = nil
			}
			s.mu.Unlock()
			close(ch)
		})
	}
}

// Requests counts the requests for path, e.g. "/v2/images/<id>/file".
func (s *Server) Requests(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[path]
}

// TotalRequests counts every request served.
func (s *Server) TotalRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.requests {
		n += c
	}
	return n
}

// Downloads counts the GET /v2/images/<id>/file requests for the image, failed ones included.
func (s *Server) Downloads(id string) int { return s.Requests("/v2/images/" + id + "/file") }

// LastToken is the X-Auth-Token of the last request.
func (s *Server) LastToken() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastToken
}

// WaitStarted waits until n downloads have started sending data (n held ones, under Hold).
func (s *Server) WaitStarted(ctx context.Context, n int) error {
	return s.wait(ctx, func() bool { return s.started >= n }, fmt.Sprintf("%d downloads to start", n))
}

// WaitAborted waits until n downloads were cut off by their client.
func (s *Server) WaitAborted(ctx context.Context, n int) error {
	return s.wait(ctx, func() bool { return s.aborted >= n }, fmt.Sprintf("%d downloads to be aborted", n))
}

func (s *Server) wait(ctx context.Context, cond func() bool, what string) error {
	for {
		s.mu.Lock()
		ok, ch := cond(), s.changed
		s.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("glancetest: waiting for %s: %w", what, ctx.Err())
		case <-ch:
		}
	}
}

// signal wakes waiters; s.mu is held.
func (s *Server) signal() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// admit counts the request, checks the token and injected failures; it returns the image or
// false after writing the error answer.
func (s *Server) admit(w http.ResponseWriter, r *http.Request) (*Image, []byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests[r.URL.Path]++
	s.calls[r.Method+" "+r.URL.Path]++
	s.lastToken = r.Header.Get("X-Auth-Token")
	if s.token != "" && s.lastToken != s.token {
		http.Error(w, "401 Unauthorized: This server could not verify that you are authorized", http.StatusUnauthorized)
		return nil, nil, false
	}
	if q := s.failures[r.URL.Path]; len(q) > 0 {
		s.failures[r.URL.Path] = q[1:]
		http.Error(w, fmt.Sprintf("%d %s (injected)", q[0], http.StatusText(q[0])), q[0])
		return nil, nil, false
	}
	img := s.images[r.PathValue("id")]
	if img == nil {
		http.Error(w, "404 Not Found: No image found with ID "+r.PathValue("id"), http.StatusNotFound)
		return nil, nil, false
	}
	return img, s.served[img.ID], true
}

func (s *Server) serveImage(w http.ResponseWriter, r *http.Request) {
	img, _, ok := s.admit(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	rec := img.record()
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(rec)
}

// record is the image as Glance v2 shows it; s.mu is held.
func (img *Image) record() map[string]any {
	at := img.CreatedAt.UTC().Format("2006-01-02T15:04:05Z")
	rec := map[string]any{}
	for k, v := range img.Properties {
		rec[k] = v
	}
	for k, v := range map[string]any{
		"id": img.ID, "name": img.Name, "status": img.Status, "visibility": "public",
		"protected": false, "os_hidden": false, "owner": "0123456789abcdef0123456789abcdef",
		"disk_format": nilIfEmpty(img.DiskFormat), "container_format": nilIfEmpty(img.ContainerFormat),
		"size": img.Size, "virtual_size": nil, "min_disk": 0, "min_ram": 0,
		"checksum": nilIfEmpty(img.Checksum), "os_hash_algo": nilIfEmpty(img.OSHashAlgo),
		"os_hash_value": nilIfEmpty(img.OSHashValue), "created_at": at, "updated_at": at,
		"tags": []string{}, "file": "/v2/images/" + img.ID + "/file", "self": "/v2/images/" + img.ID,
		"schema": "/v2/schemas/image",
	} {
		rec[k] = v
	}
	return rec
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (s *Server) serveFile(w http.ResponseWriter, r *http.Request) {
	img, data, ok := s.admit(w, r)
	if !ok {
		return
	}
	if img.NoData {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	if img.ContentMD5 {
		sum := md5.Sum(img.Data)
		w.Header().Set("Content-MD5", hex.EncodeToString(sum[:]))
	}
	// Chunked, as Glance sends it: no Content-Length.
	w.WriteHeader(http.StatusOK)
	half := len(data) / 2
	_, _ = w.Write(data[:half])
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	s.mu.Lock()
	s.started++
	hold := s.hold
	s.signal()
	s.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-r.Context().Done():
			s.mu.Lock()
			s.aborted++
			s.signal()
			s.mu.Unlock()
			return
		}
	}
	_, _ = w.Write(data[half:])
}
