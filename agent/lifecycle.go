package agent

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/novalet/novalet/rpc"
	"github.com/novalet/novalet/virt"
)

// Lifecycle events: nova's handle_lifecycle_event with the libvirt host's delay rule. A guest
// that changes power state behind nova's back (powered off from inside, paused by an admin
// with virsh) is synced as soon as libvirt says so, not at the next sync_power_state_interval;
// the periodic sync stays as the safety net for events lost. A "stopped" event waits
// LifecycleEventDelay (nova's 15 s) and is dropped if another event of the domain comes
// first, as a reboot sends stopped then started.

// lifecycleLoop subscribes to the hypervisor's events and handles them until ctx ends.
func (a *Agent) lifecycleLoop(ctx context.Context) {
	if !a.c.opts.HandleLifecycleEvents {
		return
	}
	src, ok := a.c.hv.(virt.EventSource)
	if !ok {
		a.log.Info("the hypervisor sends no lifecycle events; the periodic power sync alone applies")
		return
	}
	events, err := src.Watch(ctx)
	if err != nil {
		a.log.Warn("lifecycle events unavailable; the periodic power sync alone applies", "error", err)
		return
	}
	var handlers sync.WaitGroup
	defer handlers.Wait()
	type pendingStop struct {
		timer *time.Timer
		seq   uint64
	}
	pending := map[string]pendingStop{}
	fired := make(chan struct {
		ev  virt.LifecycleEvent
		seq uint64
	})
	var seq uint64
	handle := func(ev virt.LifecycleEvent) {
		handlers.Go(func() { a.handleLifecycleEvent(ctx, ev) })
	}
	for {
		select {
		case <-ctx.Done():
			for _, p := range pending {
				p.timer.Stop()
			}
			return
		case ev, ok := <-events:
			if !ok {
				if ctx.Err() == nil {
					a.log.Warn("lifecycle events ended; the periodic power sync alone applies")
				}
				return
			}
			if p, ok := pending[ev.UUID]; ok {
				p.timer.Stop()
				delete(pending, ev.UUID)
				a.log.Debug("pending stopped event dropped: another event of the domain came first", "instance_uuid", ev.UUID)
			}
			if ev.Transition == virt.TransitionStopped {
				seq++
				s := seq
				pending[ev.UUID] = pendingStop{seq: s, timer: time.AfterFunc(a.c.opts.LifecycleEventDelay, func() {
					select {
					case fired <- struct {
						ev  virt.LifecycleEvent
						seq uint64
					}{ev, s}:
					case <-ctx.Done():
					}
				})}
				continue
			}
			handle(ev)
		case f := <-fired:
			// A timer that fired while it was being replaced delivers a stale event.
			if p, ok := pending[f.ev.UUID]; ok && p.seq == f.seq {
				delete(pending, f.ev.UUID)
				handle(f.ev)
			}
		}
	}
}

// handleLifecycleEvent is nova's handle_lifecycle_event: when the hypervisor still shows the
// power state the event implies, the instance's power state is synced as the periodic sync
// does it (an operation in progress owns the instance and is left alone).
func (a *Agent) handleLifecycleEvent(ctx context.Context, ev virt.LifecycleEvent) {
	log := a.log.With("instance_uuid", ev.UUID)
	log.Info("VM "+ev.Transition.String()+" (Lifecycle Event)", "cause", ev.Cause)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	rc := rpc.NewAdminContext(nowUTC())
	row, err := instanceRow(ctx, a.svc.objs, rc, ev.UUID)
	if errors.Is(err, errGone) {
		log.Debug("event for an instance the database does not know")
		return
	}
	if err != nil {
		log.Warn("instance not read; the event is left to the periodic sync", "error", err)
		return
	}
	inst := &instance{obj: row}
	if inst.str("host") != a.opts.Host {
		return // nova's _sync_instance_power_state: not ours (moved, or being moved)
	}
	st, err := a.powerState(ctx, ev.UUID)
	if err != nil {
		log.Warn("power state not read; the event is left to the periodic sync", "error", err)
		return
	}
	if st != ev.Transition.PowerState() {
		log.Debug("event out of date; the guest has moved on", "vm_power_state", st.String())
		return
	}
	a.syncInstance(ctx, rc, inst)
}
