package virt

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// StatePollInterval is how often WaitForState re-reads the state when no event arrives: the
// safety net for an event lost to a full subscription, a broken connection or a hypervisor
// that sends none.
const StatePollInterval = 2 * time.Second

// WaitForState waits until the domain's power state is one of want and returns it. It
// re-reads State at once when a lifecycle event of the domain arrives (h implementing
// EventSource), so it returns as soon as the transition happened, and every poll (0 means
// StatePollInterval) otherwise. A failing State (ErrNotFound for a domain that went away) ends
// the wait with its error; the end of ctx ends it with an ErrTimeout-class error for a
// deadline, naming the state the domain was last in.
func WaitForState(ctx context.Context, h Hypervisor, uuid string, poll time.Duration, want ...PowerState) (PowerState, error) {
	if poll <= 0 {
		poll = StatePollInterval
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the subscription
	var events <-chan LifecycleEvent
	if src, ok := h.(EventSource); ok {
		// Subscribe before the first read, so no transition falls between the two. A
		// refused subscription leaves the poll.
		if ch, err := src.Watch(wctx); err == nil {
			events = ch
		}
	}
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		st, err := h.State(ctx, uuid)
		if err != nil {
			return st, err
		}
		if slices.Contains(want, st) {
			return st, nil
		}
		for wake := false; !wake; {
			select {
			case e, ok := <-events:
				if !ok { // the source closed: poll only
					events = nil
					continue
				}
				wake = strings.EqualFold(e.UUID, uuid)
			case <-tick.C:
				wake = true
			case <-ctx.Done():
				return st, &opError{
					op:    fmt.Sprintf("wait for domain %s to be %v (it is %s)", uuid, want, st),
					class: classify(ctx.Err()), err: ctx.Err(),
				}
			}
		}
	}
}
