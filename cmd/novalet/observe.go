package main

import (
	"context"
	"time"

	"github.com/novalet/novalet/imagecache"
	"github.com/novalet/novalet/metrics"
)

// imageCacheMetrics tells the metrics what the image cache does.
type imageCacheMetrics struct{ m *metrics.Metrics }

func (o imageCacheMetrics) Lookup(kind string) { o.m.ImageCacheLookup(metrics.Lookup(kind)) }

func (o imageCacheMetrics) Downloaded(n int64, d time.Duration, err error) {
	o.m.ImageDownloaded(n, d, metrics.ResultOf(err))
}

func (o imageCacheMetrics) Evicted(reason string) { o.m.ImageEvicted(metrics.EvictionReason(reason)) }

var _ imagecache.Observer = imageCacheMetrics{}

// imageCacheUsage gives the metrics the image cache's own account of its usage.
type imageCacheUsage struct{ c imagecache.Cache }

func (s imageCacheUsage) ImageCacheUsage(ctx context.Context) (metrics.ImageCacheUsage, error) {
	u, err := s.c.Usage(ctx)
	if err != nil {
		return metrics.ImageCacheUsage{}, err
	}
	return metrics.ImageCacheUsage{SizeBytes: u.SizeBytes, ImagesInUse: u.InUse, ImagesUnused: u.Unused,
		PathFreeBytes: u.FreeBytes}, nil
}

var _ metrics.ImageCacheSource = imageCacheUsage{}

// brokerMetrics is the transport's connection hook: the listening connection is the one
// whose loss stops the node from serving.
func brokerMetrics(m *metrics.Metrics) func(purpose string, up, reconnect bool) {
	return func(purpose string, up, reconnect bool) {
		if purpose == "listen" {
			m.SetBrokerConnected(up)
		}
		if up && reconnect {
			m.BrokerReconnected()
		}
	}
}
