package virtfake

import (
	"context"
	"strings"
	"time"

	"github.com/novalet/novalet/virt"
)

var _ virt.EventSource = (*Fake)(nil)

// Watch implements virt.EventSource with the same delivery rules as *virt.Conn: events of
// the domains List reports, never waiting for a subscriber that does not read.
func (f *Fake) Watch(ctx context.Context) (<-chan virt.LifecycleEvent, error) {
	return f.events.Watch(ctx)
}

// DroppedEvents implements virt.EventSource.
func (f *Fake) DroppedEvents() uint64 { return f.events.Dropped() }

// emit publishes a transition of d with libvirt's cause for it; called with f.mu held, which
// keeps each subscriber's events in the order of the transitions.
func (f *Fake) emit(d *fakeDomain, tr virt.Transition, cause string) {
	if !strings.HasPrefix(d.name, f.NamePrefix) {
		return
	}
	f.events.Publish(virt.LifecycleEvent{UUID: d.uuid, Name: d.name, Transition: tr, Cause: cause, Time: time.Now()})
}
