package imagecache

import (
	"context"
	"sync"
	"time"
)

// flightGroup runs one fetch per key however many callers ask at once. Unlike a plain
// singleflight, the fetch runs on its own context: a caller that gives up only stops waiting,
// and the fetch is cancelled only when every caller has left.
type flightGroup struct {
	mu      sync.Mutex
	flights map[string]*flight
}

type flight struct {
	done    chan struct{}
	path    string
	err     error
	waiters int
	cancel  context.CancelFunc
}

// do returns fn's result for key, starting fn unless a fetch for key is under way (then joined
// is true). fn's context keeps ctx's values but not its cancellation, and ends after timeout.
func (g *flightGroup) do(ctx context.Context, key string, timeout time.Duration,
	fn func(ctx context.Context) (string, error)) (path string, joined bool, err error) {
	g.mu.Lock()
	if g.flights == nil {
		g.flights = make(map[string]*flight)
	}
	f, ok := g.flights[key]
	if !ok {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		f = &flight{done: make(chan struct{}), cancel: cancel}
		g.flights[key] = f
		go func() {
			f.path, f.err = fn(fctx)
			cancel()
			g.mu.Lock()
			if g.flights[key] == f {
				delete(g.flights, key)
			}
			g.mu.Unlock()
			close(f.done)
		}()
	}
	f.waiters++
	g.mu.Unlock()

	select {
	case <-f.done:
		return f.path, ok, f.err
	case <-ctx.Done():
		g.mu.Lock()
		f.waiters--
		if f.waiters == 0 {
			// Nobody wants it any more: stop the transfer, and let the next caller start afresh
			// rather than join a fetch that is being torn down.
			f.cancel()
			if g.flights[key] == f {
				delete(g.flights, key)
			}
		}
		g.mu.Unlock()
		return "", ok, ctx.Err()
	}
}

// active reports whether a fetch for key is under way (its temp files are live).
func (g *flightGroup) active(key string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	_, ok := g.flights[key]
	return ok
}
