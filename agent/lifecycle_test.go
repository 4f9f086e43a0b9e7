package agent

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/novalet/novalet/rpc/ovo"
	"github.com/novalet/novalet/virt"
)

// withLifecycleEvents turns the event handler on with a short delay for stopped events, and
// the periodic sync off, so only events can sync.
func withLifecycleEvents(delay time.Duration) func(*Deps, *Options) {
	return func(_ *Deps, o *Options) {
		o.Compute.HandleLifecycleEvents, o.Compute.LifecycleEventDelay, o.Compute.SyncPowerStateInterval = true, delay, 0
	}
}

// runLifecycleLoop runs the event handler until the test ends.
func (e *opsEnv) runLifecycleLoop(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.a.lifecycleLoop(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func (e *opsEnv) stopCasts(id string) int {
	e.caster.mu.Lock()
	defer e.caster.mu.Unlock()
	n := 0
	for _, c := range e.caster.casts {
		if c.Method == "stop_instance" {
			if inst, ok := c.Args["instance"].(*ovo.Object); ok {
				if u, _ := ovo.Value[string](inst, "uuid"); u == id {
					n++
				}
			}
		}
	}
	return n
}

// TestLifecycleEventSyncsAtOnce: a guest powered off behind nova's back is synced from its
// "stopped" event (power_state saved, the stop API called, as the periodic sync would), with
// the periodic sync off; a stop followed by a start within the delay (a reboot) is dropped;
// a pause behind nova's back is recorded at once.
func TestLifecycleEventSyncsAtOnce(t *testing.T) {
	e := newOpsEnv(t, withLifecycleEvents(200*time.Millisecond))
	off, rebooted, paused := e.running(t), e.running(t), e.running(t)
	e.runLifecycleLoop(t)
	time.Sleep(50 * time.Millisecond) // the subscription is in place

	must(t, e.hv.Destroy(t.Context(), off))
	must(t, e.hv.Destroy(t.Context(), rebooted))
	must(t, e.hv.Start(t.Context(), rebooted, false))
	must(t, e.hv.Pause(t.Context(), paused))

	waitFor(t, func() bool { return e.stopCasts(off) == 1 })
	if p, _ := ovo.Value[int64](e.cond.Instance(off), "power_state"); p != int64(virt.PowerShutdown) {
		t.Errorf("power_state %d after the stopped event, want %d", p, virt.PowerShutdown)
	}
	if task, _ := ovo.Value[string](e.cond.Instance(off), "task_state"); task != "powering-off" {
		t.Errorf("task_state %q after the stopped event, want powering-off (the stop API)", task)
	}
	waitFor(t, func() bool {
		p, _ := ovo.Value[int64](e.cond.Instance(paused), "power_state")
		return p == int64(virt.PowerPaused)
	})
	time.Sleep(400 * time.Millisecond) // past the delay of the rebooted guest's stopped event
	if n := e.stopCasts(rebooted); n != 0 {
		t.Errorf("%d stop casts for a guest stopped and started within the delay", n)
	}
	if p, _ := ovo.Value[int64](e.cond.Instance(rebooted), "power_state"); p != int64(virt.PowerRunning) {
		t.Errorf("rebooted guest's power_state %d, want running", p)
	}
	if !slices.Contains(e.caster.methods(), "compute.stop_instance") && e.stopCasts(off) == 0 {
		t.Errorf("casts %v", e.caster.methods())
	}
}

// TestLifecycleEventLeavesOperationsAlone: an event during an operation (the instance has a
// task state) changes nothing; the operation owns the instance.
func TestLifecycleEventLeavesOperationsAlone(t *testing.T) {
	e := newOpsEnv(t, withLifecycleEvents(50*time.Millisecond))
	id := e.running(t)
	stored := e.cond.Instance(id)
	must(t, stored.Set("task_state", "powering-off"))
	stored.ObjResetChanges()
	e.cond.PutInstance(stored)
	e.runLifecycleLoop(t)
	time.Sleep(50 * time.Millisecond)
	n := len(e.cond.InstanceSaves())
	must(t, e.hv.Destroy(t.Context(), id))
	time.Sleep(300 * time.Millisecond)
	if saves := e.cond.InstanceSaves()[n:]; len(saves) != 0 {
		t.Errorf("saves during an operation: %+v", saves)
	}
	if e.stopCasts(id) != 0 {
		t.Error("the stop API was called during an operation")
	}
	stored = e.cond.Instance(id)
	must(t, stored.Set("task_state", nil))
	stored.ObjResetChanges()
	e.cond.PutInstance(stored)
}

// TestPeriodicPowerSync: nova's _sync_power_states, the safety net under the events: a guest
// off behind nova's back gets its power state saved and the stop API called; a running one
// the database thinks stopped is stopped too; a healthy one is left alone.
func TestPeriodicPowerSync(t *testing.T) {
	e := newOpsEnv(t)
	off, wrong, fine := e.running(t), e.running(t), e.running(t)
	must(t, e.hv.Destroy(t.Context(), off))
	stored := e.cond.Instance(wrong)
	must(t, set(stored, map[string]any{"vm_state": "stopped", "power_state": int64(virt.PowerShutdown)}))
	stored.ObjResetChanges()
	e.cond.PutInstance(stored)
	if err := e.a.syncPowerStates(t.Context()); err != nil {
		t.Fatal(err)
	}
	if e.stopCasts(off) != 1 || e.stopCasts(wrong) != 1 || e.stopCasts(fine) != 0 {
		t.Errorf("stop casts: off %d, wrong %d, fine %d; want 1 1 0", e.stopCasts(off), e.stopCasts(wrong), e.stopCasts(fine))
	}
	if p, _ := ovo.Value[int64](e.cond.Instance(off), "power_state"); p != int64(virt.PowerShutdown) {
		t.Errorf("power_state %d of the guest off, want %d", p, virt.PowerShutdown)
	}
	if p, _ := ovo.Value[int64](e.cond.Instance(wrong), "power_state"); p != int64(virt.PowerRunning) {
		t.Errorf("power_state %d of the running guest, want %d", p, virt.PowerRunning)
	}
}
