package agent

import (
	"context"
	"encoding/json"
	"time"

	"github.com/novalet/novalet/rpc"
)

// shelvedOffloadLoop is nova's _poll_shelved_instances: with a positive shelved_offload_time,
// instances SHELVED on this host (no task) longer than that are offloaded.
func (a *Agent) shelvedOffloadLoop(ctx context.Context) {
	if a.c.opts.ShelvedOffloadTime <= 0 {
		return
	}
	a.periodic(ctx, "poll_shelved_instances", a.c.opts.ShelvedPollInterval, a.pollShelvedInstances)
}

// pythonISOFormats read datetime.isoformat(), which leaves out the fraction when it is zero.
var pythonISOFormats = []string{"2006-01-02T15:04:05.999999", "2006-01-02T15:04:05"}

func parseShelvedAt(s string) (time.Time, bool) {
	for _, f := range pythonISOFormats {
		if t, err := time.Parse(f, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// pollShelvedInstances offloads each overdue instance as nova's periodic does: task_state
// shelving_offloading (expected None), then shelve_offload_instance with its decorators (an
// action event and a fault on failure), without a clean shutdown. One failure does not stop
// the others.
func (a *Agent) pollShelvedInstances(ctx context.Context) error {
	rc := rpc.NewAdminContext(nowUTC())
	insts, err := a.hostInstances(ctx, rc)
	if err != nil {
		return err
	}
	limit := time.Duration(a.c.opts.ShelvedOffloadTime) * time.Second
	for _, inst := range insts {
		if inst.str("vm_state") != vmShelved || inst.str("task_state") != "" {
			continue
		}
		log := a.log.With("instance_uuid", inst.uuid())
		at, ok := parseShelvedAt(inst.sysmeta()["shelved_at"])
		if !ok {
			log.Warn("shelved instance without a readable shelved_at; not offloading it", "shelved_at", inst.sysmeta()["shelved_at"])
			continue
		}
		if nowUTC().Sub(at) <= limit {
			continue
		}
		if err := a.save(ctx, rc, inst, map[string]any{"task_state": taskShelvingOffloading}, taskNone); err != nil {
			log.Error("periodic task failed to offload instance", "error", err)
			continue
		}
		raw, err := json.Marshal(inst.obj)
		if err != nil {
			return err
		}
		req := &rpc.Request{Method: "shelve_offload_instance", Context: rc,
			Args: map[string]json.RawMessage{"instance": raw, "clean_shutdown": json.RawMessage("false")}}
		if _, err := a.shelveOffloadInstance(ctx, req); err != nil {
			log.Error("periodic task failed to offload instance", "error", err)
		}
	}
	return nil
}
