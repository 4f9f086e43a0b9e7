package glance

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/novalet/novalet/openstack/glance/glancetest"
)

// queued is the record nova-api creates before it casts snapshot_instance.
func queued(g *glancetest.Server, props map[string]any) string {
	id := uuid.NewString()
	g.Add(glancetest.Image{ID: id, Name: "snap", Status: "queued", NoData: true, NoHash: true, NoChecksum: true,
		Size: new(int64), Properties: props})
	img, _ := g.Get(id)
	img.DiskFormat, img.ContainerFormat = "", ""
	g.Delete(id)
	g.Add(img)
	return id
}

// TestUpdateSendsOnlyTheDifference: glanceclient's update reads the record and patches "add"
// for a missing key, "replace" for a changed one and nothing for an equal one; with nothing
// to change it sends no PATCH at all.
func TestUpdateSendsOnlyTheDifference(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	g := glancetest.New(t)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPatch {
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			bodies = append(bodies, string(b))
			mu.Unlock()
			r.Body = io.NopCloser(bytes.NewReader(b))
		}
		r2, _ := http.NewRequest(r.Method, g.URL+r.URL.String(), r.Body)
		r2.Header = r.Header
		resp, err := http.DefaultClient.Do(r2)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	}))
	t.Cleanup(proxy.Close)
	id := queued(g, map[string]any{"image_type": "snapshot", "owner_id": "old"})
	c := testClient(t, 0)
	req := Request{ImageID: id, Endpoint: proxy.URL, Token: "tok"}
	img, err := c.Update(testCtx(t), req, map[string]string{"image_type": "snapshot", "owner_id": "p1",
		"disk_format": "qcow2", "a/b": "x"})
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"op":"add","path":"/a~1b","value":"x"},{"op":"replace","path":"/disk_format","value":"qcow2"},{"op":"replace","path":"/owner_id","value":"p1"}]`
	if len(bodies) != 1 || bodies[0] != want {
		t.Fatalf("PATCH bodies %q, want one: %s", bodies, want)
	}
	if img.DiskFormat != "qcow2" || img.Properties["owner_id"] != "p1" || img.Properties["a/b"] != "x" || img.Properties["image_type"] != "snapshot" {
		t.Fatalf("record after update: %+v", img)
	}
	if _, err := c.Update(testCtx(t), req, map[string]string{"owner_id": "p1"}); err != nil {
		t.Fatal(err)
	}
	if len(bodies) != 1 {
		t.Fatalf("an update changing nothing sent a PATCH: %q", bodies[1:])
	}
}

// TestUploadStreams: the data goes chunked (never buffered to learn its length), Glance
// computes size and hashes, and a second upload to an image no longer queued is ErrInvalid.
func TestUploadStreams(t *testing.T) {
	g := glancetest.New(t)
	id := queued(g, nil)
	c := testClient(t, 3)
	req := Request{ImageID: id, Endpoint: g.URL, Token: "secret-token"}
	data := bytes.Repeat([]byte("novalet"), 100000)
	if err := c.Upload(testCtx(t), req, io.MultiReader(bytes.NewReader(data[:1000]), bytes.NewReader(data[1000:]))); err != nil {
		t.Fatal(err)
	}
	ups := g.Uploads()
	if len(ups) != 1 || ups[0].ContentLength != -1 || ups[0].Bytes != int64(len(data)) || ups[0].ContentType != "application/octet-stream" {
		t.Fatalf("uploads %+v", ups)
	}
	img, err := c.Image(testCtx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	if img.Status != "active" || img.Size == nil || *img.Size != int64(len(data)) {
		t.Fatalf("image after upload: %+v", img)
	}
	err = c.Upload(testCtx(t), req, bytes.NewReader(data))
	if !errors.Is(err, ErrInvalid) || strings.Contains(err.Error(), "secret-token") {
		t.Fatalf("second upload = %v, want ErrInvalid without the token", err)
	}
	if n := g.Calls(http.MethodPut, "/v2/images/"+id+"/file"); n != 2 {
		t.Fatalf("%d PUTs, want 2 (an upload is never retried)", n)
	}
}

// TestUploadOfDeletedImage: a user deleting the image during the upload is ErrNotFound, the
// case nova's snapshot treats as "image gone" rather than a failure.
func TestUploadOfDeletedImage(t *testing.T) {
	g := glancetest.New(t)
	id := queued(g, nil)
	c := testClient(t, 0)
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- c.Upload(testCtx(t), Request{ImageID: id, Endpoint: g.URL}, pr) }()
	_, _ = pw.Write([]byte("first part"))
	g.Delete(id)
	_ = pw.Close()
	if err := <-done; !errors.Is(err, ErrNotFound) {
		t.Fatalf("upload of a deleted image = %v, want ErrNotFound", err)
	}
}

// TestListFiltersSortsAndPages: the listing behind backup rotation returns every match across
// Glance's pages, newest first, and nothing else.
func TestListFiltersSortsAndPages(t *testing.T) {
	g := glancetest.New(t)
	inst := uuid.NewString()
	var want []string
	for i := 0; i < 5; i++ {
		id := uuid.NewString()
		g.Add(glancetest.Image{ID: id, Properties: map[string]any{"image_type": "backup", "backup_type": "daily", "instance_uuid": inst}})
		want = append([]string{id}, want...)
	}
	g.Add(glancetest.Image{ID: uuid.NewString(), Properties: map[string]any{"image_type": "backup", "backup_type": "weekly", "instance_uuid": inst}})
	g.Add(glancetest.Image{ID: uuid.NewString(), Properties: map[string]any{"image_type": "snapshot", "instance_uuid": inst}})
	c := testClient(t, 0)
	imgs, err := c.List(testCtx(t), Request{Endpoint: g.URL + "/v2"}, ListOptions{
		Properties: map[string]string{"image_type": "backup", "backup_type": "daily", "instance_uuid": inst},
		SortKey:    "created_at", SortDir: "desc"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, img := range imgs {
		got = append(got, img.ID)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("listed %v\nwant     %v", got, want)
	}
	if n := g.Calls(http.MethodGet, "/v2/images"); n != 3 {
		t.Fatalf("%d pages read, want 3 (5 images, %d a page)", n, glancetest.PageSize)
	}
}

// TestDelete: a deleted image is gone; deleting it again is ErrNotFound.
func TestDelete(t *testing.T) {
	g := glancetest.New(t)
	id := queued(g, nil)
	c := testClient(t, 0)
	req := Request{ImageID: id, Endpoint: g.URL}
	if err := c.Delete(testCtx(t), req); err != nil {
		t.Fatal(err)
	}
	if _, ok := g.Get(id); ok {
		t.Fatal("image still there")
	}
	if err := c.Delete(testCtx(t), req); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete = %v, want ErrNotFound", err)
	}
}
