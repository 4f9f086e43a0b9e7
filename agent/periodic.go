package agent

import (
	"context"
	"time"

	"github.com/novalet/novalet/metrics"
)

// periodic runs task every interval until ctx ends (nova's periodic_task spacing); interval
// <= 0 disables it. Each run is timed into the metrics and a failure is logged, not fatal.
func (a *Agent) periodic(ctx context.Context, name string, interval time.Duration, task func(context.Context) error) {
	if interval <= 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		start := time.Now()
		err := task(ctx)
		a.obs.ObservePeriodicTask(name, metrics.ResultOf(err), time.Since(start))
		if err != nil && ctx.Err() == nil {
			a.log.Error("periodic task failed", "task", name, "error", err)
		}
	}
}
