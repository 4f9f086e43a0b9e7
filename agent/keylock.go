package agent

import (
	"context"
	"sync"
)

// keyLock serialises work per key (an instance uuid), nova's @utils.synchronized(instance.uuid):
// a stop that arrives during a build waits for the build. Waiting respects ctx.
type keyLock struct {
	mu    sync.Mutex
	locks map[string]*keyEntry
}

type keyEntry struct {
	ch   chan struct{} // holds one token while the key is taken
	refs int
}

func newKeyLock() *keyLock { return &keyLock{locks: map[string]*keyEntry{}} }

// lock takes key, or fails with ctx's error. The returned func releases it.
func (k *keyLock) lock(ctx context.Context, key string) (func(), error) {
	k.mu.Lock()
	e := k.locks[key]
	if e == nil {
		e = &keyEntry{ch: make(chan struct{}, 1)}
		k.locks[key] = e
	}
	e.refs++
	k.mu.Unlock()

	select {
	case e.ch <- struct{}{}:
		return func() { <-e.ch; k.drop(key, e) }, nil
	case <-ctx.Done():
		k.drop(key, e)
		return nil, ctx.Err()
	}
}

func (k *keyLock) drop(key string, e *keyEntry) {
	k.mu.Lock()
	e.refs--
	if e.refs == 0 {
		delete(k.locks, key)
	}
	k.mu.Unlock()
}

// waiting is the number of callers holding a key or waiting for one.
func (k *keyLock) waiting() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	n := 0
	for _, e := range k.locks {
		n += e.refs
	}
	return n
}

// queued is the number of callers waiting behind a holder of the same key (the queue depth).
func (k *keyLock) queued() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	n := 0
	for _, e := range k.locks {
		n += max(e.refs-1, 0)
	}
	return n
}
