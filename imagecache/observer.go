package imagecache

import "time"

// Lookup kinds an Observer is told about.
const (
	LookupHit       = "hit"       // the base file was there
	LookupMiss      = "miss"      // this call started a download
	LookupCoalesced = "coalesced" // this call joined another call's download
)

// Eviction reasons an Observer is told about.
const (
	EvictUnused = "unused" // old enough and unused ([image_cache] ages)
	EvictSpace  = "space"  // unused, removed to get above the free-space watermark
)

// Observer is told what the cache does, for metrics. Its methods must be quick and must not
// block; they may be called from several goroutines at once.
type Observer interface {
	Lookup(kind string)
	Downloaded(bytes int64, d time.Duration, err error)
	Evicted(reason string)
}

type noObserver struct{}

func (noObserver) Lookup(string)                          {}
func (noObserver) Downloaded(int64, time.Duration, error) {}
func (noObserver) Evicted(string)                         {}

func (o *Options) observer() Observer {
	if o.Observer == nil {
		return noObserver{}
	}
	return o.Observer
}
