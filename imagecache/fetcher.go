package imagecache

import (
	"context"
	"errors"

	"github.com/novalet/novalet/openstack/glance"
)

// Fetcher is how the cache reads an image from Glance: its record, then its data.
// *glance.Client is the real one. Errors in glance's classes (glance.ErrNotFound, ...) are put
// in the cache's own classes; any other error counts as ErrUnavailable.
type Fetcher interface {
	// Image returns the image record.
	Image(ctx context.Context, req glance.Request) (*glance.Image, error)
	// Data opens the image's data; the cache closes its Body.
	Data(ctx context.Context, req glance.Request) (*glance.Data, error)
}

// glanceRequest is the fetcher's view of a cache request.
func glanceRequest(req Request) glance.Request {
	return glance.Request{ImageID: req.ImageID, Endpoint: req.Endpoint, Token: req.Token,
		ServiceToken: req.ServiceToken, GlobalRequestID: req.GlobalRequestID}
}

// glanceClasses maps the fetcher's error classes onto the cache's.
var glanceClasses = []struct{ from, to error }{
	{glance.ErrNotFound, ErrNotFound},
	{glance.ErrNotAuthorized, ErrNotAuthorized},
	{glance.ErrInvalid, ErrInvalid},
	{glance.ErrUnavailable, ErrUnavailable},
}

// fromGlance puts a fetcher's error in the cache's class, keeping its message and chain.
func fromGlance(err error) error {
	if err == nil {
		return nil
	}
	for _, m := range glanceClasses {
		if errors.Is(err, m.from) {
			return reclassed(m.to, err)
		}
	}
	return classedErr(ErrUnavailable, err, "fetching from Glance")
}

// checkImage applies what nova requires of an image record before fetching it.
func checkImage(img *glance.Image, raw bool) error {
	if img.Status != "active" {
		return classed(ErrInvalid, "image status is %q, not active", img.Status)
	}
	// A kernel or ramdisk (raw) may have any container and disk format, as nova's
	// fetch_raw_image.
	if !raw && img.ContainerFormat != "bare" {
		return classed(ErrInvalid, "container_format %q is not supported (only bare)", img.ContainerFormat)
	}
	if _, ok := qemuFormatOf[img.DiskFormat]; !raw && !ok {
		return classed(ErrInvalid, "disk_format %q is not supported", img.DiskFormat)
	}
	if img.Size != nil && *img.Size < 0 {
		return classed(ErrInvalid, "image size %d is negative", *img.Size)
	}
	return nil
}

// defaultFetcher is a Glance client with nova's defaults.
func defaultFetcher() (Fetcher, error) {
	c, err := glance.NewClient(glance.DefaultClientOptions())
	if err != nil {
		return nil, err
	}
	return c, nil
}
