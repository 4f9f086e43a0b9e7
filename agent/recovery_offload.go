package agent

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/novalet/novalet/rpc"
)

// placementWaitPoll is how often an interrupted offload looks for the Placement client.
var placementWaitPoll = time.Second

// finishInterruptedOffload finishes, in the background, a shelve offload the last stop
// interrupted. The offload gives the instance's allocations back, which needs the Placement
// client; start-up recovery runs before the first resource pass connects it, and Placement
// may be down for a while, so this waits for the client (each resource pass retries the
// connection) within the operation timeout, then offloads under the instance's lock. A stop
// meanwhile (Drain) ends the wait: the next start's recovery takes the instance up again, as
// it is still shelving_offloading.
func (a *Agent) finishInterruptedOffload(rc rpc.Context, inst *instance, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), a.c.opts.OperationTimeout)
	defer cancel()
	for waited := false; a.rt.reportClient() == nil; waited = true {
		if !waited {
			log.Info("the interrupted shelve offload waits for Placement to give the allocations back")
		}
		select {
		case <-ctx.Done():
			log.Error("interrupted shelve offload not finished: no Placement client", "error", ctx.Err())
			return
		case <-a.draining:
			log.Warn("interrupted shelve offload left for the next start: stopping")
			return
		case <-time.After(placementWaitPoll):
		}
	}
	unlock, err := a.c.locks.lock(ctx, inst.uuid())
	if err != nil {
		log.Error("interrupted shelve offload not finished", "error", err)
		return
	}
	defer unlock()
	if err := a.shelveOffload(ctx, rc, inst, false, log); err != nil && !errors.Is(err, errGone) {
		log.Error("interrupted shelve offload not finished", "error", err)
		return
	}
	log.Info("interrupted shelve offload finished")
}
