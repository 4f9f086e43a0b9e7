package virt

import (
	"testing"

	"libvirt.org/go/libvirt"
)

func TestLifecycleTransitionAsNova(t *testing.T) {
	for _, c := range []struct {
		event  libvirt.DomainEventType
		detail int
		want   Transition
		ok     bool
		cause  string
	}{
		{libvirt.DOMAIN_EVENT_STARTED, int(libvirt.DOMAIN_EVENT_STARTED_BOOTED), TransitionStarted, true, "started booted"},
		{libvirt.DOMAIN_EVENT_STARTED, int(libvirt.DOMAIN_EVENT_STARTED_RESTORED), TransitionStarted, true, "started restored"},
		{libvirt.DOMAIN_EVENT_STOPPED, int(libvirt.DOMAIN_EVENT_STOPPED_DESTROYED), TransitionStopped, true, "stopped destroyed"},
		{libvirt.DOMAIN_EVENT_STOPPED, int(libvirt.DOMAIN_EVENT_STOPPED_SAVED), TransitionStopped, true, "stopped saved"},
		{libvirt.DOMAIN_EVENT_SUSPENDED, int(libvirt.DOMAIN_EVENT_SUSPENDED_PAUSED), TransitionPaused, true, "suspended paused"},
		{libvirt.DOMAIN_EVENT_SUSPENDED, int(libvirt.DOMAIN_EVENT_SUSPENDED_IOERROR), TransitionPaused, true, "suspended I/O error"},
		{libvirt.DOMAIN_EVENT_SUSPENDED, int(libvirt.DOMAIN_EVENT_SUSPENDED_MIGRATED), TransitionPaused, true, "suspended migrated"},
		{libvirt.DOMAIN_EVENT_SUSPENDED, int(libvirt.DOMAIN_EVENT_SUSPENDED_POSTCOPY), TransitionPostcopyStarted, true, "suspended post-copy"},
		{libvirt.DOMAIN_EVENT_RESUMED, int(libvirt.DOMAIN_EVENT_RESUMED_UNPAUSED), TransitionResumed, true, "resumed unpaused"},
		{libvirt.DOMAIN_EVENT_PMSUSPENDED, int(libvirt.DOMAIN_EVENT_PMSUSPENDED_MEMORY), TransitionSuspended, true, "pmsuspended memory"},
		// nova sends nothing for these: the stop follows a shutdown, a crash stops or
		// preserves the domain, definitions are no power change.
		{libvirt.DOMAIN_EVENT_SHUTDOWN, int(libvirt.DOMAIN_EVENT_SHUTDOWN_GUEST), 0, false, "shutdown guest"},
		{libvirt.DOMAIN_EVENT_CRASHED, int(libvirt.DOMAIN_EVENT_CRASHED_PANICKED), 0, false, "crashed panicked"},
		{libvirt.DOMAIN_EVENT_DEFINED, int(libvirt.DOMAIN_EVENT_DEFINED_UPDATED), 0, false, "defined updated"},
		{libvirt.DOMAIN_EVENT_UNDEFINED, int(libvirt.DOMAIN_EVENT_UNDEFINED_REMOVED), 0, false, "undefined removed"},
		{99, 3, 0, false, "event 99 detail 3"},
		{libvirt.DOMAIN_EVENT_STOPPED, 42, TransitionStopped, true, "stopped detail 42"},
	} {
		got, ok := lifecycleTransition(c.event, c.detail)
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("lifecycleTransition(%s) = %s, %v; want %s, %v", c.cause, got, ok, c.want, c.ok)
		}
		if cause := lifecycleCause(c.event, c.detail); cause != c.cause {
			t.Errorf("lifecycleCause(%d, %d) = %q, want %q", c.event, c.detail, cause, c.cause)
		}
	}
}
