package imagecache

import (
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/novalet/novalet/openstack/glance/glancetest"
)

// countingObserver records what the cache reports.
type countingObserver struct {
	mu        sync.Mutex
	lookups   map[string]int
	downloads []int64
	failed    int
	evicted   map[string]int
}

func (o *countingObserver) Lookup(kind string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.lookups[kind]++
}

func (o *countingObserver) Downloaded(n int64, _ time.Duration, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.downloads = append(o.downloads, n)
	if err != nil {
		o.failed++
	}
}

func (o *countingObserver) Evicted(reason string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.evicted[reason]++
}

func TestObserverSeesHitsMissesCoalescedDownloadsAndEvictions(t *testing.T) {
	obs := &countingObserver{lookups: map[string]int{}, evicted: map[string]int{}}
	c, _ := unitCache(t, func(o *Options) { o.Observer = obs; o.RemoveUnusedOriginalMinimumAge = 0 })
	g := glancetest.New(t)
	data := rawData(64 << 10)
	img := g.Add(glancetest.Image{ID: uuid.NewString(), Data: data})

	release := g.Hold()
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Ensure(testCtx(t), reqFor(g, img.ID)); err != nil {
				t.Error(err)
			}
		}()
	}
	if err := g.WaitStarted(testCtx(t), 1); err != nil {
		t.Fatal(err)
	}
	// The two others join the held download: wait until they are counted as waiters.
	deadline := time.Now().Add(30 * time.Second)
	for {
		c.flights.mu.Lock()
		f := c.flights.flights[BaseName(img.ID)]
		n := 0
		if f != nil {
			n = f.waiters
		}
		c.flights.mu.Unlock()
		if n == 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	release()
	wg.Wait()
	if _, err := c.Ensure(testCtx(t), reqFor(g, img.ID)); err != nil {
		t.Fatal(err)
	}
	obs.mu.Lock()
	if obs.lookups[LookupMiss] != 1 || obs.lookups[LookupCoalesced] != 2 || obs.lookups[LookupHit] != 1 {
		t.Errorf("lookups %v, want 1 miss, 2 coalesced, 1 hit", obs.lookups)
	}
	if len(obs.downloads) != 1 || obs.downloads[0] != int64(len(data)) || obs.failed != 0 {
		t.Errorf("downloads %v (failed %d), want one of %d bytes", obs.downloads, obs.failed, len(data))
	}
	obs.mu.Unlock()

	if _, err := c.Prune(testCtx(t), map[string]bool{}, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if obs.evicted[EvictUnused] != 1 {
		t.Errorf("evictions %v, want one unused", obs.evicted)
	}
}
