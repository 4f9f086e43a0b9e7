package imagecache

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// glanceImage is the part of Glance v2's image record the cache acts on.
type glanceImage struct {
	ID              string `json:"id"`
	Status          string `json:"status"`
	DiskFormat      string `json:"disk_format"`
	ContainerFormat string `json:"container_format"`
	Size            *int64 `json:"size"`
	VirtualSize     *int64 `json:"virtual_size"`
	Checksum        string `json:"checksum"`
	OSHashAlgo      string `json:"os_hash_algo"`
	OSHashValue     string `json:"os_hash_value"`
}

// glanceClient makes the two calls nova's glance.API makes for a download, with nova's retry
// rule: connection errors and 503 are retried [glance] num_retries times, nothing else is.
type glanceClient struct {
	req        Request
	retries    int
	retryDelay time.Duration
	metaTO     time.Duration
}

func newGlanceClient(req Request, o *Options) *glanceClient {
	return &glanceClient{req: req, retries: o.GlanceRetries, retryDelay: o.GlanceRetryDelay,
		metaTO: o.GlanceMetadataTimeout}
}

// imageURL is <endpoint>/v2/images/<id><suffix>; an endpoint that already ends in /v2 (some
// catalogs register it so) is not doubled.
func (g *glanceClient) imageURL(suffix string) string {
	base := strings.TrimRight(g.req.Endpoint, "/")
	base = strings.TrimSuffix(base, "/v2")
	return base + "/v2/images/" + g.req.ImageID + suffix
}

func (g *glanceClient) httpClient() *http.Client {
	if g.req.HTTPClient != nil {
		return g.req.HTTPClient
	}
	return http.DefaultClient
}

// get performs one GET with retries; on success the caller owns the response body.
func (g *glanceClient) get(ctx context.Context, url, accept string) (*http.Response, error) {
	var lastErr error
	for attempt := 0; attempt <= g.retries; attempt++ {
		if attempt > 0 {
			t := time.NewTimer(g.retryDelay)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, classedErr(ErrUnavailable, ctx.Err(), "GET %s: giving up after %v", url, lastErr)
			case <-t.C:
			}
		}
		hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return nil, classedErr(ErrInvalid, err, "glance endpoint %q", g.req.Endpoint)
		}
		hreq.Header.Set("Accept", accept)
		hreq.Header.Set("User-Agent", "novalet")
		if g.req.Token != "" {
			hreq.Header.Set("X-Auth-Token", g.req.Token)
		}
		if g.req.ServiceToken != "" {
			hreq.Header.Set("X-Service-Token", g.req.ServiceToken)
		}
		if g.req.GlobalRequestID != "" {
			hreq.Header.Set("X-OpenStack-Request-ID", g.req.GlobalRequestID)
		}
		resp, err := g.httpClient().Do(hreq)
		if err != nil {
			if ctx.Err() != nil {
				return nil, classedErr(ErrUnavailable, ctx.Err(), "GET %s", url)
			}
			lastErr = classedErr(ErrUnavailable, err, "GET %s", url)
			continue
		}
		if resp.StatusCode == http.StatusServiceUnavailable {
			lastErr = statusErr(resp, url)
			drain(resp)
			continue
		}
		if resp.StatusCode/100 != 2 {
			err := statusErr(resp, url)
			drain(resp)
			return nil, err
		}
		return resp, nil
	}
	return nil, lastErr
}

// image reads GET /v2/images/<id>.
func (g *glanceClient) image(ctx context.Context) (*glanceImage, error) {
	ctx, cancel := context.WithTimeout(ctx, g.metaTO)
	defer cancel()
	url := g.imageURL("")
	resp, err := g.get(ctx, url, "application/json")
	if err != nil {
		return nil, err
	}
	defer drain(resp)
	var img glanceImage
	// An image record is a few KiB; the bound keeps a broken server from feeding us forever.
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(&img); err != nil {
		return nil, classedErr(ErrUnavailable, err, "GET %s: bad image record", url)
	}
	if img.ID != "" && img.ID != g.req.ImageID {
		return nil, classed(ErrUnavailable, "GET %s: Glance returned image %q", url, img.ID)
	}
	return &img, nil
}

// data opens GET /v2/images/<id>/file; the caller reads and closes the body.
func (g *glanceClient) data(ctx context.Context) (*http.Response, error) {
	url := g.imageURL("/file")
	resp, err := g.get(ctx, url, "application/octet-stream")
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusNoContent {
		drain(resp)
		// nova: ImageUnacceptable "Image has no associated data".
		return nil, classed(ErrInvalid, "image has no associated data")
	}
	return resp, nil
}

// statusErr classifies a Glance error status as nova's _translate_image_exception does.
func statusErr(resp *http.Response, url string) error {
	// Glance's error bodies are short HTML/JSON; a little of it helps the operator.
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	detail := strings.Join(strings.Fields(string(body)), " ")
	msg := fmt.Sprintf("GET %s: %s", url, resp.Status)
	if detail != "" {
		msg += ": " + detail
	}
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return classed(ErrNotFound, "%s", msg)
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return classed(ErrNotAuthorized, "%s", msg)
	case resp.StatusCode >= 500:
		return classed(ErrUnavailable, "%s", msg)
	case resp.StatusCode >= 400:
		return classed(ErrInvalid, "%s", msg)
	default:
		return classed(ErrUnavailable, "%s: unexpected status", msg)
	}
}

// drain reads a little of what is left so the connection can be reused, then closes.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
}

// checkImage applies what nova requires of an image record before fetching it.
func checkImage(img *glanceImage) error {
	if img.Status != "active" {
		return classed(ErrInvalid, "image status is %q, not active", img.Status)
	}
	if img.ContainerFormat != "bare" {
		return classed(ErrInvalid, "container_format %q is not supported (only bare)", img.ContainerFormat)
	}
	if _, ok := qemuFormatOf[img.DiskFormat]; !ok {
		return classed(ErrInvalid, "disk_format %q is not supported", img.DiskFormat)
	}
	if img.Size != nil && *img.Size < 0 {
		return classed(ErrInvalid, "image size %d is negative", *img.Size)
	}
	return nil
}
