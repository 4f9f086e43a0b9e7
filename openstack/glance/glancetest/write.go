package glancetest

import (
	"crypto/md5"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// The write side of the test Glance: PATCH of a record (Glance v2.1 JSON patch), PUT of an
// image's data, DELETE, and the listing with property filters, sorting and paging. A queued
// image is one nova-api created for a snapshot: Add it with Status "queued", no Data, and
// empty formats.

// Upload is one PUT /v2/images/<id>/file as the server received it.
type Upload struct {
	ImageID       string
	ContentType   string
	ContentLength int64 // -1 when sent chunked
	Bytes         int64
}

// readOnly are the attributes Glance refuses to patch (403).
var readOnly = map[string]bool{"id": true, "status": true, "size": true, "virtual_size": true,
	"checksum": true, "os_hash_algo": true, "os_hash_value": true, "created_at": true,
	"updated_at": true, "file": true, "self": true, "schema": true}

// PageSize is how many images one listing page holds, small so paging is exercised.
const PageSize = 2

// Get returns a copy of the image as stored.
func (s *Server) Get(id string) (Image, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	img, ok := s.images[id]
	if !ok {
		return Image{}, false
	}
	cp := *img
	cp.Properties = map[string]any{}
	for k, v := range img.Properties {
		cp.Properties[k] = v
	}
	cp.Data = append([]byte(nil), img.Data...)
	return cp, true
}

// Calls counts the requests with this method for path, e.g. ("PATCH", "/v2/images/<id>").
func (s *Server) Calls(method, path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[method+" "+path]
}

// Uploads lists the uploads received, in order.
func (s *Server) Uploads() []Upload {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Upload(nil), s.uploads...)
}

// Delete removes an image as a user's delete would, e.g. while a snapshot uploads.
func (s *Server) Delete(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.images, id)
	delete(s.served, id)
}

func (s *Server) servePatch(w http.ResponseWriter, r *http.Request) {
	img, _, ok := s.admit(w, r)
	if !ok {
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/openstack-images-v2.1-json-patch" {
		http.Error(w, "415 Unsupported Media Type: "+ct, http.StatusUnsupportedMediaType)
		return
	}
	var ops []struct {
		Op    string `json:"op"`
		Path  string `json:"path"`
		Value any    `json:"value"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&ops); err != nil {
		http.Error(w, "400 Bad Request: "+err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.images[img.ID] == nil {
		http.Error(w, "404 Not Found", http.StatusNotFound)
		return
	}
	next := *img
	next.Properties = map[string]any{}
	for k, v := range img.Properties {
		next.Properties[k] = v
	}
	for _, op := range ops {
		key := strings.NewReplacer("~1", "/", "~0", "~").Replace(strings.TrimPrefix(op.Path, "/"))
		if readOnly[key] {
			http.Error(w, fmt.Sprintf("403 Forbidden: Attribute '%s' is read-only.", key), http.StatusForbidden)
			return
		}
		// Schema attributes can always be replaced (glanceclient replaces even null ones).
		present := key == "name" || key == "disk_format" || key == "container_format"
		if _, isProp := img.Properties[key]; isProp {
			present = true
		}
		switch {
		case op.Op == "add":
		case op.Op == "replace" && present:
		case op.Op == "replace":
			http.Error(w, fmt.Sprintf("409 Conflict: Property %s does not exist.", key), http.StatusConflict)
			return
		default:
			http.Error(w, "400 Bad Request: unsupported op "+op.Op, http.StatusBadRequest)
			return
		}
		v, isString := op.Value.(string)
		if !isString {
			http.Error(w, fmt.Sprintf("400 Bad Request: %s must be a string", key), http.StatusBadRequest)
			return
		}
		switch key {
		case "name":
			next.Name = v
		case "disk_format":
			next.DiskFormat = v
		case "container_format":
			next.ContainerFormat = v
		default:
			next.Properties[key] = v
		}
	}
	*s.images[img.ID] = next
	rec := next.record()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(rec)
}

func (s *Server) serveUpload(w http.ResponseWriter, r *http.Request) {
	img, _, ok := s.admit(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	status := img.Status
	if status == "queued" {
		img.Status = "saving"
	}
	s.mu.Unlock()
	if status != "queued" {
		http.Error(w, "409 Conflict: Image status transition from "+status+" to saving is not allowed", http.StatusConflict)
		return
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, 1<<30))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.uploads = append(s.uploads, Upload{ImageID: img.ID, ContentType: r.Header.Get("Content-Type"),
		ContentLength: r.ContentLength, Bytes: int64(len(data))})
	if s.images[img.ID] != img {
		// Deleted while saving: Glance answers 410 Gone for the data of a deleted image.
		http.Error(w, "410 Gone: Image "+img.ID+" could not be found after upload.", http.StatusGone)
		return
	}
	if err != nil {
		img.Status = "queued"
		http.Error(w, "400 Bad Request: "+err.Error(), http.StatusBadRequest)
		return
	}
	img.Data = data
	s.served[img.ID] = append([]byte(nil), data...)
	n := int64(len(data))
	img.Size = &n
	md := md5.Sum(data)
	img.Checksum = hex.EncodeToString(md[:])
	sh := sha512.Sum512(data)
	img.OSHashAlgo, img.OSHashValue = "sha512", hex.EncodeToString(sh[:])
	img.Status, img.NoData, img.NoHash, img.NoChecksum = "active", false, false, false
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) serveDelete(w http.ResponseWriter, r *http.Request) {
	img, _, ok := s.admit(w, r)
	if !ok {
		return
	}
	s.Delete(img.ID)
	w.WriteHeader(http.StatusNoContent)
}

// serveList filters on every query parameter but the paging and sorting ones (as custom
// properties or the name/status fields), sorts by created_at (or name) and pages with
// marker and PageSize.
func (s *Server) serveList(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests[r.URL.Path]++
	s.calls[r.Method+" "+r.URL.Path]++
	s.lastToken = r.Header.Get("X-Auth-Token")
	if s.token != "" && s.lastToken != s.token {
		http.Error(w, "401 Unauthorized", http.StatusUnauthorized)
		return
	}
	q := r.URL.Query()
	var match []*Image
	for _, img := range s.images {
		rec := img.record()
		keep := true
		for k, vs := range q {
			if k == "sort_key" || k == "sort_dir" || k == "marker" || k == "limit" {
				continue
			}
			if fmt.Sprint(rec[k]) != vs[0] {
				keep = false
			}
		}
		if keep {
			match = append(match, img)
		}
	}
	desc := q.Get("sort_dir") != "asc"
	slices.SortFunc(match, func(a, b *Image) int {
		c := a.CreatedAt.Compare(b.CreatedAt)
		if q.Get("sort_key") == "name" {
			c = strings.Compare(a.Name, b.Name)
		}
		if c == 0 {
			c = strings.Compare(a.ID, b.ID)
		}
		if desc {
			return -c
		}
		return c
	})
	start := 0
	if m := q.Get("marker"); m != "" {
		start = slices.IndexFunc(match, func(img *Image) bool { return img.ID == m }) + 1
	}
	end := min(start+PageSize, len(match))
	page := map[string]any{"images": []any{}, "first": "/v2/images", "schema": "/v2/schemas/images"}
	var recs []any
	for _, img := range match[start:end] {
		recs = append(recs, img.record())
	}
	if recs != nil {
		page["images"] = recs
	}
	if end < len(match) {
		nq := r.URL.Query()
		nq.Set("marker", match[end-1].ID)
		nq.Set("limit", strconv.Itoa(PageSize))
		page["next"] = "/v2/images?" + nq.Encode()
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(page)
}
