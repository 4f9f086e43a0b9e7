package glance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Data is an image's data being received. The caller reads Body to the end or not, and closes it.
type Data struct {
	Body io.ReadCloser
	// ContentMD5 is the Content-MD5 response header ("" when absent), the last resort of
	// glanceclient's checksum verification.
	ContentMD5 string
}

// Request names one image and whom Glance serves it to.
type Request struct {
	ImageID string
	// Endpoint is Glance's base URL (see Endpoint), e.g. "http://controller:9292"; a trailing
	// "/v2" is not doubled.
	Endpoint string
	// Token is the user's token, sent as X-Auth-Token. It is never logged nor put in errors.
	Token string
	// ServiceToken, when set, is sent as X-Service-Token ([service_user] send_service_user_token).
	ServiceToken string
	// GlobalRequestID is sent as X-OpenStack-Request-ID so Glance's logs match the request.
	GlobalRequestID string
}

// ClientOptions configure a Client. DefaultClientOptions holds nova's defaults.
type ClientOptions struct {
	// HTTPClient carries TLS settings; nil means http.DefaultClient. Deadlines come from the
	// context and MetadataTimeout, not from the client.
	HTTPClient *http.Client
	// Retries is [glance] num_retries: connection errors and 503 are retried this many times.
	Retries int
	// RetryDelay is the pause between those retries (nova: 1 s).
	RetryDelay time.Duration
	// MetadataTimeout bounds one GET /v2/images/<id>, retries included.
	MetadataTimeout time.Duration
	// UserAgent is sent as User-Agent; "" means "novalet".
	UserAgent string
}

// DefaultClientOptions returns nova 26.2.2's defaults and novalet's bound on a record GET.
func DefaultClientOptions() ClientOptions {
	return ClientOptions{Retries: 3, RetryDelay: time.Second, MetadataTimeout: 60 * time.Second}
}

// Client makes the calls nova's glance.API makes to download an image, with nova's retry
// rule: connection errors and 503 are retried Retries times, nothing else is. It is safe for
// concurrent use.
type Client struct {
	opts ClientOptions
}

// NewClient returns a client; the options must make sense (no negative retries or delay, a
// positive metadata timeout).
func NewClient(o ClientOptions) (*Client, error) {
	var errs []error
	if o.Retries < 0 {
		errs = append(errs, errors.New("glance.num_retries must not be negative"))
	}
	if o.RetryDelay < 0 {
		errs = append(errs, errors.New("retry delay must not be negative"))
	}
	if o.MetadataTimeout <= 0 {
		errs = append(errs, errors.New("metadata timeout must be positive"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("glance: client options: %w", err)
	}
	if o.HTTPClient == nil {
		o.HTTPClient = http.DefaultClient
	}
	if o.UserAgent == "" {
		o.UserAgent = "novalet"
	}
	return &Client{opts: o}, nil
}

// imageURL is <endpoint>/v2/images/<id><suffix>; an endpoint that already ends in /v2 (some
// catalogs register it so) is not doubled.
func imageURL(req Request, suffix string) string {
	base := strings.TrimRight(req.Endpoint, "/")
	base = strings.TrimSuffix(base, "/v2")
	return base + "/v2/images/" + req.ImageID + suffix
}

// Image reads GET /v2/images/<id>, bounded by MetadataTimeout.
func (c *Client) Image(ctx context.Context, req Request) (*Image, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.MetadataTimeout)
	defer cancel()
	url := imageURL(req, "")
	resp, err := c.get(ctx, req, url, "application/json")
	if err != nil {
		return nil, err
	}
	defer drain(resp)
	var img Image
	// An image record is a few KiB; the bound keeps a broken server from feeding us forever.
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(&img); err != nil {
		return nil, classedErr(ErrUnavailable, err, "GET %s: bad image record", url)
	}
	if img.ID != "" && img.ID != req.ImageID {
		return nil, classed(ErrUnavailable, "GET %s: Glance returned image %q", url, img.ID)
	}
	return &img, nil
}

// Data opens GET /v2/images/<id>/file. Its deadline is ctx's: a download takes as long as the
// image is big, so the caller bounds it.
func (c *Client) Data(ctx context.Context, req Request) (*Data, error) {
	url := imageURL(req, "/file")
	resp, err := c.get(ctx, req, url, "application/octet-stream")
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusNoContent {
		drain(resp)
		// nova: ImageUnacceptable "Image has no associated data".
		return nil, classed(ErrInvalid, "image has no associated data")
	}
	return &Data{Body: resp.Body, ContentMD5: resp.Header.Get("Content-MD5")}, nil
}

// get performs one GET with retries; on success the caller owns the response body.
func (c *Client) get(ctx context.Context, req Request, url, accept string) (*http.Response, error) {
	return c.do(ctx, req, http.MethodGet, url, nil, "", accept)
}

// do performs one request with nova's retry rule (connection errors and 503, Retries times);
// body is resent whole on a retry, so streams never come through here. On success the caller
// owns the response body.
func (c *Client) do(ctx context.Context, req Request, method, url string, body []byte, contentType, accept string) (*http.Response, error) {
	var lastErr error
	for attempt := 0; attempt <= c.opts.Retries; attempt++ {
		if attempt > 0 {
			t := time.NewTimer(c.opts.RetryDelay)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, classedErr(ErrUnavailable, ctx.Err(), "%s %s: giving up after %v", method, url, lastErr)
			case <-t.C:
			}
		}
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		hreq, err := c.newRequest(ctx, req, method, url, rd, contentType, accept)
		if err != nil {
			return nil, err
		}
		resp, err := c.opts.HTTPClient.Do(hreq)
		if err != nil {
			if ctx.Err() != nil {
				return nil, classedErr(ErrUnavailable, ctx.Err(), "%s %s", method, url)
			}
			lastErr = classedErr(ErrUnavailable, err, "%s %s", method, url)
			continue
		}
		if resp.StatusCode == http.StatusServiceUnavailable {
			lastErr = statusErr(resp, method, url)
			drain(resp)
			continue
		}
		if resp.StatusCode/100 != 2 {
			err := statusErr(resp, method, url)
			drain(resp)
			return nil, err
		}
		return resp, nil
	}
	return nil, lastErr
}

// newRequest builds a request with the headers every call carries. The token goes in a
// header only, never in the URL or an error.
func (c *Client) newRequest(ctx context.Context, req Request, method, url string, body io.Reader, contentType, accept string) (*http.Request, error) {
	hreq, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return nil, classedErr(ErrInvalid, err, "glance endpoint %q", req.Endpoint)
	}
	if accept != "" {
		hreq.Header.Set("Accept", accept)
	}
	if contentType != "" {
		hreq.Header.Set("Content-Type", contentType)
	}
	hreq.Header.Set("User-Agent", c.opts.UserAgent)
	if req.Token != "" {
		hreq.Header.Set("X-Auth-Token", req.Token)
	}
	if req.ServiceToken != "" {
		hreq.Header.Set("X-Service-Token", req.ServiceToken)
	}
	if req.GlobalRequestID != "" {
		hreq.Header.Set("X-OpenStack-Request-ID", req.GlobalRequestID)
	}
	return hreq, nil
}

// drain reads a little of what is left so the connection can be reused, then closes.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
}
