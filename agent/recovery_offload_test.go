package agent

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/novalet/novalet/rpc/ovo"
)

// interruptedOffload builds an instance and leaves it as a kill -9 after the host side of
// its offload leaves it: guest gone, allocations and record not yet.
func (e *opsEnv) interruptedOffload(t *testing.T) string {
	t.Helper()
	inst := e.newInstance(t)
	id, _ := ovo.Value[string](inst, "uuid")
	e.build(t, inst, nil)
	e.pl.Allocate(id, "rp", map[string]int{"VCPU": 1})
	must(t, e.hv.Destroy(t.Context(), id))
	stored := e.cond.Instance(id)
	must(t, set(stored, map[string]any{"vm_state": "shelved", "task_state": "shelving_offloading",
		"system_metadata": map[string]any{"shelved_image_id": uuid.NewString(), "shelved_host": "cmp1", "shelved_at": "2026-12-05T10:00:00.000000"}}))
	e.cond.PutInstance(stored)
	return id
}

// TestInterruptedOffloadWaitsForPlacement: start-up recovery runs before the first resource
// pass connects Placement (and Placement may be down). The interrupted offload, which gives
// the allocations back, waits for the client instead of failing and leaving the instance in
// shelving_offloading for ever (the e2e kill -9 case found it so); once the client is there,
// the offload finishes.
func TestInterruptedOffloadWaitsForPlacement(t *testing.T) {
	saved := placementWaitPoll
	placementWaitPoll = 10 * time.Millisecond
	t.Cleanup(func() { placementWaitPoll = saved })
	e := newOpsEnv(t)
	id := e.interruptedOffload(t)
	client := e.a.rt.report.Load()
	e.a.rt.report.Store(nil) // not connected yet

	must(t, e.a.recoverInstances(t.Context()))
	time.Sleep(100 * time.Millisecond)
	if task, _ := ovo.Value[string](e.cond.Instance(id), "task_state"); task != "shelving_offloading" || !e.pl.HasAllocations(id) {
		t.Fatalf("without Placement: task %q, allocations %v; want the offload waiting", task, e.pl.HasAllocations(id))
	}
	e.a.rt.report.Store(client) // the first resource pass connected
	e.a.work.Wait()
	s := e.cond.Instance(id)
	vm, _ := ovo.Value[string](s, "vm_state")
	task, _ := ovo.Value[string](s, "task_state")
	host, _ := ovo.Value[string](s, "host")
	if vm != "shelved_offloaded" || task != "" || host != "" || e.pl.HasAllocations(id) || exists(e.path+"/"+id) {
		t.Errorf("after Placement came: %s/%q on %q, allocations %v, dir %v; want offloaded with nothing left",
			vm, task, host, e.pl.HasAllocations(id), exists(e.path+"/"+id))
	}
}

// TestInterruptedOffloadWaitEndsAtStop: a stop while the offload waits for Placement ends
// the wait (Drain returns) and leaves the instance for the next start's recovery.
func TestInterruptedOffloadWaitEndsAtStop(t *testing.T) {
	e := newOpsEnv(t)
	id := e.interruptedOffload(t)
	e.a.rt.report.Store(nil)
	must(t, e.a.recoverInstances(t.Context()))
	if err := e.a.Drain(t.Context()); err != nil {
		t.Fatalf("Drain: %v", err)
	}
	if task, _ := ovo.Value[string](e.cond.Instance(id), "task_state"); task != "shelving_offloading" {
		t.Errorf("task %q after the stop, want shelving_offloading for the next start", task)
	}
}
