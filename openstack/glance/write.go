package glance

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// The calls nova's glance.API makes to write: a snapshot's record and data (update with
// purge_props=False, then upload), the listing behind backup rotation, and delete.

// patchContentType is Glance v2.1's JSON-patch media type, as glanceclient sends it.
const patchContentType = "application/openstack-images-v2.1-json-patch"

// Update sets attributes and custom properties of the image as nova's
// glance.API.update(purge_props=False) does through glanceclient: it reads the record, sends
// one PATCH with "add" for the keys the record lacks and "replace" for those that differ
// (nothing when all are equal), and returns the record Glance answers. Nothing is removed.
func (c *Client) Update(ctx context.Context, req Request, set map[string]string) (*Image, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.MetadataTimeout)
	defer cancel()
	u := imageURL(req, "")
	resp, err := c.get(ctx, req, u, "application/json")
	if err != nil {
		return nil, err
	}
	var rec record
	err = json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(&rec)
	drain(resp)
	if err != nil {
		return nil, classedErr(ErrUnavailable, err, "GET %s: bad image record", u)
	}
	ops, err := rec.diff(set)
	if err != nil {
		return nil, classedErr(ErrUnavailable, err, "GET %s", u)
	}
	if len(ops) == 0 {
		return c.Image(ctx, req)
	}
	body, err := json.Marshal(ops)
	if err != nil {
		return nil, classedErr(ErrInvalid, err, "PATCH %s", u)
	}
	resp, err = c.do(ctx, req, http.MethodPatch, u, body, patchContentType, "application/json")
	if err != nil {
		return nil, err
	}
	defer drain(resp)
	var img Image
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(&img); err != nil {
		return nil, classedErr(ErrUnavailable, err, "PATCH %s: bad image record", u)
	}
	return &img, nil
}

// Upload streams data to PUT /v2/images/<id>/file (chunked, as glanceclient sends a file),
// never holding it in memory. A stream cannot be replayed, so nothing is retried. Its
// deadline is ctx's. Glance answers 409 (ErrInvalid) to an image that is not queued, 404
// (ErrNotFound) to one deleted meanwhile, 413 (ErrInvalid) when a quota is exceeded.
func (c *Client) Upload(ctx context.Context, req Request, data io.Reader) error {
	u := imageURL(req, "/file")
	hreq, err := c.newRequest(ctx, req, http.MethodPut, u, io.NopCloser(data), "application/octet-stream", "")
	if err != nil {
		return err
	}
	hreq.ContentLength = -1
	resp, err := c.opts.HTTPClient.Do(hreq)
	if err != nil {
		if ctx.Err() != nil {
			return classedErr(ErrUnavailable, ctx.Err(), "PUT %s", u)
		}
		return classedErr(ErrUnavailable, err, "PUT %s", u)
	}
	if resp.StatusCode/100 != 2 {
		err := statusErr(resp, http.MethodPut, u)
		drain(resp)
		return err
	}
	drain(resp)
	return nil
}

// Delete is DELETE /v2/images/<id>; an image already gone is ErrNotFound, a protected or
// in-use one ErrInvalid (409, nova's ImageDeleteConflict).
func (c *Client) Delete(ctx context.Context, req Request) error {
	ctx, cancel := context.WithTimeout(ctx, c.opts.MetadataTimeout)
	defer cancel()
	resp, err := c.do(ctx, req, http.MethodDelete, imageURL(req, ""), nil, "", "")
	if err != nil {
		return err
	}
	drain(resp)
	return nil
}

// ListOptions filter and order a listing, as nova's get_all passes them to glanceclient.
type ListOptions struct {
	// Properties filter on custom properties (nova's "property-<name>" filters), e.g.
	// {"image_type": "backup"}.
	Properties map[string]string
	SortKey    string // e.g. "created_at"
	SortDir    string // "asc" or "desc"
}

// List reads GET /v2/images with the filters, following Glance's "next" links to the end as
// glanceclient's paging does. req.ImageID is ignored.
func (c *Client) List(ctx context.Context, req Request, o ListOptions) ([]Image, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.MetadataTimeout)
	defer cancel()
	base := strings.TrimSuffix(strings.TrimRight(req.Endpoint, "/"), "/v2")
	q := url.Values{}
	for k, v := range o.Properties {
		q.Set(k, v)
	}
	if o.SortKey != "" {
		q.Set("sort_key", o.SortKey)
	}
	if o.SortDir != "" {
		q.Set("sort_dir", o.SortDir)
	}
	next := base + "/v2/images?" + q.Encode()
	var out []Image
	for pages := 0; next != ""; pages++ {
		if pages == 1000 {
			return nil, classed(ErrUnavailable, "GET %s/v2/images: more than 1000 pages", base)
		}
		resp, err := c.get(ctx, req, next, "application/json")
		if err != nil {
			return nil, err
		}
		var page struct {
			Images []Image `json:"images"`
			Next   string  `json:"next"`
		}
		err = json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&page)
		drain(resp)
		if err != nil {
			return nil, classedErr(ErrUnavailable, err, "GET %s: bad image list", next)
		}
		out = append(out, page.Images...)
		next = ""
		if page.Next != "" {
			if !strings.HasPrefix(page.Next, "/v2/images") {
				return nil, classed(ErrUnavailable, "GET %s/v2/images: next link %q is not under /v2/images", base, page.Next)
			}
			next = base + page.Next
		}
	}
	return out, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
