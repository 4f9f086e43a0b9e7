package agent

import (
	"strings"
	"testing"
	"time"

	"github.com/novalet/novalet/rpc/ovo"
	"github.com/novalet/novalet/virt"
)

// stopWithAnHoursPoll builds an instance on an agent whose waits for a power state re-read
// the state only hourly, runs tweak on the built guest, then a clean stop_instance; it returns
// how long the stop took and the cause of the guest's stop event.
func stopWithAnHoursPoll(t *testing.T, shutdownTimeout time.Duration, tweak func(e *opsEnv, id string)) (time.Duration, string) {
	t.Helper()
	e := newOpsEnv(t, func(_ *Deps, o *Options) { o.Compute.ShutdownTimeout = shutdownTimeout })
	e.a.c.powerPoll = time.Hour
	inst := e.newInstance(t)
	id, _ := ovo.Value[string](inst, "uuid")
	e.build(t, inst, nil)
	tweak(e, id)
	events, err := e.hv.Watch(t.Context())
	if err != nil {
		t.Fatal(err)
	}

	stored := e.cond.Instance(id)
	must(t, stored.Set("task_state", "powering-off"))
	stored.ObjResetChanges()
	e.cond.PutInstance(stored)
	start := time.Now()
	if _, err := e.a.stopInstance(t.Context(), request(t, "stop_instance", map[string]any{"instance": stored, "clean_shutdown": true})); err != nil {
		t.Fatalf("stop_instance: %v", err)
	}
	took := time.Since(start)

	s := e.cond.Instance(id)
	vm, _ := ovo.Value[string](s, "vm_state")
	task, _ := ovo.Value[string](s, "task_state")
	power, _ := ovo.Value[int64](s, "power_state")
	if vm != "stopped" || task != "" || power != int64(virt.PowerShutdown) {
		t.Errorf("after stop: vm_state %q task_state %q power_state %d, want stopped None %d", vm, task, power, virt.PowerShutdown)
	}
	for {
		select {
		case ev := <-events:
			if strings.EqualFold(ev.UUID, id) && ev.Transition == virt.TransitionStopped {
				return took, ev.Cause
			}
		default:
			t.Fatal("the guest stopped without a stop event")
		}
	}
}

// A clean stop returns as soon as the guest powers off: the lifecycle event ends the wait,
// not the hourly poll, nor the shutdown timeout (the guest is not destroyed).
func TestStopReturnsWhenTheGuestPowersOff(t *testing.T) {
	const delay = 200 * time.Millisecond
	took, cause := stopWithAnHoursPoll(t, 10*time.Minute, func(e *opsEnv, _ string) { e.hv.ShutdownDelay = delay })
	// Without the event, the wait would last until the button is pressed again (10s).
	if took < delay || took > shutdownRetryInterval/2 {
		t.Errorf("stop took %v for a guest off %v after the button, with an hour's poll", took, delay)
	}
	if cause != "stopped shutdown" {
		t.Errorf("guest stopped by %q, want the clean shutdown", cause)
	}
}

// The shutdown timeout still bounds the wait: a paused guest cannot answer the button, so it
// is destroyed once shutdown_timeout has passed, an hour's poll notwithstanding.
func TestStopDestroysAGuestDeafToTheButtonAtTheTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	took, cause := stopWithAnHoursPoll(t, timeout, func(e *opsEnv, id string) {
		must(t, e.hv.Pause(t.Context(), id))
	})
	if took < timeout || took > 30*time.Second {
		t.Errorf("stop took %v with a %v shutdown timeout", took, timeout)
	}
	if cause != "stopped destroyed" {
		t.Errorf("guest stopped by %q, want destroyed after the timeout", cause)
	}
}
