package imagecache

import (
	"context"
	"errors"
	"io"
	"math"
	"os"
	"time"

	"github.com/novalet/novalet/openstack/glance"
)

// recordingWriter remembers the local write error so a failed copy can be told apart from a
// broken transfer.
type recordingWriter struct {
	f   *os.File
	err error
}

func (w *recordingWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	if err != nil {
		w.err = err
	}
	return n, err
}

// errIdle ends a download that received nothing for the idle timeout.
var errIdle = errors.New("no data received")

// idleReader cancels its download when a Read takes longer than idle; each byte received
// starts the wait again.
type idleReader struct {
	r     io.Reader
	idle  time.Duration
	timer *time.Timer
}

func (r *idleReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.timer.Reset(r.idle)
	}
	return n, err
}

// download streams the image's data from the fetcher into f, verifying size and digest while
// it goes, and syncs f. It returns the number of bytes written. A stream that stalls for idle
// (> 0) is cut.
func download(ctx context.Context, fetcher Fetcher, req glance.Request, img *glance.Image, f *os.File, idle time.Duration) (int64, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	data, err := fetcher.Data(ctx, req)
	if err != nil {
		return 0, fromGlance(err)
	}
	defer func() { _ = data.Body.Close() }()

	v, err := newVerifier(img, data.ContentMD5)
	if err != nil {
		return 0, err
	}
	// One byte more than promised is enough to know the stream is wrong; without the bound a
	// broken or hostile server could fill the disk.
	limit := int64(math.MaxInt64)
	if img.Size != nil {
		limit = *img.Size + 1
	}
	w := &recordingWriter{f: f}
	var dst io.Writer = w
	if v != nil {
		dst = io.MultiWriter(w, v)
	}
	var body io.Reader = data.Body
	if idle > 0 {
		timer := time.AfterFunc(idle, func() { cancel(errIdle) })
		defer timer.Stop()
		body = &idleReader{r: data.Body, idle: idle, timer: timer}
	}
	buf := make([]byte, 1<<20)
	n, err := io.CopyBuffer(dst, io.LimitReader(body, limit), buf)
	switch {
	case w.err != nil:
		return n, fsErr(w.err, "writing %s", f.Name())
	case err != nil && errors.Is(context.Cause(ctx), errIdle):
		return n, classedErr(ErrUnavailable, errIdle, "image data stalled after %d bytes: nothing for %s", n, idle)
	case err != nil && ctx.Err() != nil:
		return n, classedErr(ErrUnavailable, ctx.Err(), "image data after %d bytes", n)
	case err != nil:
		return n, classedErr(ErrUnavailable, err, "reading image data after %d bytes", n)
	}
	if img.Size != nil && n != *img.Size {
		return n, classed(ErrCorrupt, "received %d bytes, Glance says the image has %d", n, *img.Size)
	}
	if v != nil {
		if err := v.check(); err != nil {
			return n, err
		}
	}
	if err := f.Sync(); err != nil {
		return n, fsErr(err, "syncing %s", f.Name())
	}
	return n, nil
}
