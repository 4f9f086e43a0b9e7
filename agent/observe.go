package agent

import (
	"context"
	"errors"
	"time"

	"github.com/novalet/novalet/metrics"
	"github.com/novalet/novalet/rpc"
)

// observed wraps an RPC handler with the request counter and duration histogram.
func (a *Agent) observed(method string, h rpc.HandlerFunc) rpc.HandlerFunc {
	return func(ctx context.Context, req *rpc.Request) (any, error) {
		start := time.Now()
		result, err := h(ctx, req)
		a.obs.ObserveRPC(method, metrics.ResultOf(err), time.Since(start))
		return result, err
	}
}

// operation starts timing an instance operation (build, delete, stop, ...); the returned func
// records its end.
func (a *Agent) operation(name string) func(error) {
	done := a.obs.StartOperation(name)
	return func(err error) {
		if errors.Is(err, errGone) {
			err = nil // the user deleted the instance: not a failure of the operation
		}
		done(metrics.ResultOf(err))
	}
}

// phase records the duration of one spawn phase since start.
func (a *Agent) phase(p metrics.SpawnPhase, start time.Time) {
	a.obs.ObserveSpawnPhase(p, time.Since(start))
}

// QueueDepth is the number of instance operations waiting behind another on the same instance.
func (a *Agent) QueueDepth() int {
	return a.c.locks.queued()
}

// Inventory is the inventory last reported to Placement, for the metrics.
func (a *Agent) Inventory() map[string]metrics.Inventory {
	out := map[string]metrics.Inventory{}
	for class, inv := range a.rt.lastInventory() {
		out[class] = metrics.Inventory{Total: int64(inv.Total), Reserved: int64(inv.Reserved), AllocationRatio: inv.AllocationRatio}
	}
	return out
}
