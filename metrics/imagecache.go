package metrics

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Image downloads take seconds to tens of minutes.
var downloadBuckets = []float64{.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600}

// Lookup is how the image cache answered a request for an image: the "result" label of
// novalet_image_cache_lookups_total.
type Lookup string

// The lookup results.
const (
	LookupHit       Lookup = "hit"       // the base file was there
	LookupMiss      Lookup = "miss"      // this request downloaded it
	LookupCoalesced Lookup = "coalesced" // it joined a download already running for the image
)

// EvictionReason says why a base file left the cache: the "reason" label.
type EvictionReason string

// The eviction reasons.
const (
	EvictUnused EvictionReason = "unused" // unused for longer than the configured minimum age
	EvictSpace  EvictionReason = "space"  // unused, removed early because free space was low
)

type imageMetrics struct {
	lookups       *prometheus.CounterVec
	downloadBytes prometheus.Counter
	uploadBytes   prometheus.Counter
	downloadTime  *prometheus.HistogramVec
	evictions     *prometheus.CounterVec
}

func newImageMetrics() imageMetrics {
	return imageMetrics{
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "novalet_image_cache_lookups_total",
			Help: "Requests for an image to the image cache, by result (hit, miss, coalesced).",
		}, []string{"result"}),
		downloadBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "novalet_image_download_bytes_total",
			Help: "Bytes downloaded from Glance into the image cache.",
		}),
		uploadBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "novalet_image_upload_bytes_total",
			Help: "Bytes of snapshots and backups uploaded to Glance, counted as they are sent.",
		}),
		downloadTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "novalet_image_download_duration_seconds",
			Help:    "Duration of image downloads from Glance, verification and conversion included, by result.",
			Buckets: downloadBuckets,
		}, []string{"result"}),
		evictions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "novalet_image_cache_evictions_total",
			Help: "Base files removed from the image cache, by reason.",
		}, []string{"reason"}),
	}
}

func (i *imageMetrics) register(reg prometheus.Registerer) {
	reg.MustRegister(i.lookups, i.downloadBytes, i.uploadBytes, i.downloadTime, i.evictions)
}

// ImageUploaded counts bytes of a snapshot sent to Glance; an upload in progress reports as
// it goes, so the counter's rate is the upload's progress.
func (m *Metrics) ImageUploaded(bytes int) {
	if m != nil && bytes > 0 {
		m.image.uploadBytes.Add(float64(bytes))
	}
}

// ImageCacheLookup counts one request for an image by how the cache answered it.
func (m *Metrics) ImageCacheLookup(r Lookup) {
	if m == nil {
		return
	}
	switch r {
	case LookupHit, LookupMiss, LookupCoalesced:
		m.image.lookups.WithLabelValues(string(r)).Inc()
	}
}

// ImageDownloaded records one download from Glance: the bytes received (counted whatever the
// result) and how long it took.
func (m *Metrics) ImageDownloaded(bytes int64, d time.Duration, result Result) {
	if m == nil {
		return
	}
	if bytes > 0 {
		m.image.downloadBytes.Add(float64(bytes))
	}
	m.image.downloadTime.WithLabelValues(string(result.valid())).Observe(d.Seconds())
}

// ImageEvicted counts one base file removed from the cache.
func (m *Metrics) ImageEvicted(reason EvictionReason) {
	if m == nil {
		return
	}
	switch reason {
	case EvictUnused, EvictSpace:
		m.image.evictions.WithLabelValues(string(reason)).Inc()
	}
}

// ImageCacheUsage is the image cache's state at one moment.
type ImageCacheUsage struct {
	SizeBytes     int64 // space the base files take on disk
	ImagesInUse   int   // base files backing an instance disk
	ImagesUnused  int   // base files nothing uses (candidates for eviction)
	PathFreeBytes int64 // free space of the file system holding instances_path
}

// ImageCacheSource reports the image cache's state (cmd/novalet adapts the image cache's
// Usage to it). It is called at scrape time with a deadline.
type ImageCacheSource interface {
	ImageCacheUsage(ctx context.Context) (ImageCacheUsage, error)
}

// WatchImageCache adds the image cache's size, image counts and the free space of
// instances_path, read from src at every scrape under the scrape timeout.
func (m *Metrics) WatchImageCache(src ImageCacheSource) error {
	if m == nil {
		return nil
	}
	if src == nil {
		return errNilSource
	}
	return m.reg.Register(newImageCacheCollector(src, m.scrapeTimeout, m.log))
}

type imageCacheCollector struct {
	probe    *probe[ImageCacheUsage]
	log      *slog.Logger
	failures *prometheus.CounterVec
	size     *prometheus.Desc
	images   *prometheus.Desc
	free     *prometheus.Desc
}

func newImageCacheCollector(src ImageCacheSource, timeout time.Duration, log *slog.Logger) *imageCacheCollector {
	return &imageCacheCollector{
		probe:    newProbe(timeout, src.ImageCacheUsage),
		log:      log,
		failures: newFailureCounter("image_cache"),
		size: prometheus.NewDesc("novalet_image_cache_size_bytes",
			"Space the image cache's base files take on disk.", nil, nil),
		images: prometheus.NewDesc("novalet_image_cache_images",
			"Base files in the image cache, in use by an instance disk or not.", []string{"state"}, nil),
		free: prometheus.NewDesc("novalet_instances_path_free_bytes",
			"Free space of the file system holding instances_path.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *imageCacheCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.size
	ch <- c.images
	ch <- c.free
	c.failures.Describe(ch)
}

// Collect implements prometheus.Collector.
func (c *imageCacheCollector) Collect(ch chan<- prometheus.Metric) {
	u, err := c.probe.get()
	if err != nil {
		c.failures.WithLabelValues(failureReason(err)).Inc()
		c.log.Warn("image cache usage missing from this scrape", "error", err)
	} else {
		sendConst(ch, c.size, prometheus.GaugeValue, float64(u.SizeBytes))
		sendConst(ch, c.images, prometheus.GaugeValue, float64(u.ImagesInUse), "in_use")
		sendConst(ch, c.images, prometheus.GaugeValue, float64(u.ImagesUnused), "unused")
		sendConst(ch, c.free, prometheus.GaugeValue, float64(u.PathFreeBytes))
	}
	c.failures.Collect(ch)
}
