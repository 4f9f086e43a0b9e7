package agent

import (
	"context"
	"sync"
	"testing"
	"time"
)

func TestKeyLockSerialisesOneKey(t *testing.T) {
	k := newKeyLock()
	var mu sync.Mutex
	inside, maxInside := 0, 0
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			unlock, err := k.lock(context.Background(), "a")
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			inside++
			maxInside = max(maxInside, inside)
			mu.Unlock()
			time.Sleep(time.Millisecond)
			mu.Lock()
			inside--
			mu.Unlock()
			unlock()
		}()
	}
	wg.Wait()
	if maxInside != 1 {
		t.Fatalf("%d holders at once, want 1", maxInside)
	}
	if n := k.waiting(); n != 0 {
		t.Fatalf("%d entries left after all unlocked", n)
	}
}

func TestKeyLockOtherKeysAndCancel(t *testing.T) {
	k := newKeyLock()
	unlockA, err := k.lock(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	unlockB, err := k.lock(context.Background(), "b")
	if err != nil {
		t.Fatalf("another key must not wait: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := k.lock(ctx, "a"); err == nil {
		t.Fatal("a second holder of a taken key got it")
	}
	if n := k.waiting(); n != 2 {
		t.Fatalf("waiting = %d after a cancelled wait, want 2", n)
	}
	if n := k.queued(); n != 0 {
		t.Fatalf("queued = %d with two holders and nobody waiting, want 0", n)
	}
	unlockA()
	unlockB()
	if n := k.waiting(); n != 0 {
		t.Fatalf("waiting = %d, want 0", n)
	}
}
