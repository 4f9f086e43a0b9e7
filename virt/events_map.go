package virt

import (
	"strconv"

	"libvirt.org/go/libvirt"
)

// lifecycleTransition maps a libvirt lifecycle event to nova's transition as nova's
// host.py (_event_lifecycle_callback) does; ok is false for the events nova ignores (defined,
// undefined, shutdown — the stop follows —, crashed). Two differences:
//   - suspended/migrated: nova asks the migration job whether it completed; novalet does not
//     migrate, so it is paused, nova's answer for a failed or unknown job;
//   - pmsuspended (the guest suspended itself to RAM or disk) is Suspended, the power state
//     State reports for it, where nova sends nothing and leaves it to the periodic sync.
func lifecycleTransition(event libvirt.DomainEventType, detail int) (Transition, bool) {
	switch event {
	case libvirt.DOMAIN_EVENT_STARTED:
		return TransitionStarted, true
	case libvirt.DOMAIN_EVENT_STOPPED:
		return TransitionStopped, true
	case libvirt.DOMAIN_EVENT_SUSPENDED:
		if libvirt.DomainEventSuspendedDetailType(detail) == libvirt.DOMAIN_EVENT_SUSPENDED_POSTCOPY {
			return TransitionPostcopyStarted, true
		}
		return TransitionPaused, true
	case libvirt.DOMAIN_EVENT_RESUMED:
		return TransitionResumed, true
	case libvirt.DOMAIN_EVENT_PMSUSPENDED:
		return TransitionSuspended, true
	}
	return 0, false
}

// eventNames and detailNames are virsh event's words for libvirt's lifecycle events.
var (
	eventNames = map[libvirt.DomainEventType]string{
		libvirt.DOMAIN_EVENT_DEFINED: "defined", libvirt.DOMAIN_EVENT_UNDEFINED: "undefined",
		libvirt.DOMAIN_EVENT_STARTED: "started", libvirt.DOMAIN_EVENT_SUSPENDED: "suspended",
		libvirt.DOMAIN_EVENT_RESUMED: "resumed", libvirt.DOMAIN_EVENT_STOPPED: "stopped",
		libvirt.DOMAIN_EVENT_SHUTDOWN: "shutdown", libvirt.DOMAIN_EVENT_PMSUSPENDED: "pmsuspended",
		libvirt.DOMAIN_EVENT_CRASHED: "crashed",
	}
	detailNames = map[libvirt.DomainEventType][]string{ // indexed by detail
		libvirt.DOMAIN_EVENT_DEFINED:   {"added", "updated", "renamed", "snapshot"},
		libvirt.DOMAIN_EVENT_UNDEFINED: {"removed", "renamed"},
		libvirt.DOMAIN_EVENT_STARTED:   {"booted", "migrated", "restored", "snapshot", "wakeup", "recreated"},
		libvirt.DOMAIN_EVENT_SUSPENDED: {"paused", "migrated", "I/O error", "watchdog", "restored",
			"snapshot", "API error", "post-copy", "post-copy failed", "guest shutdown"},
		libvirt.DOMAIN_EVENT_RESUMED:     {"unpaused", "migrated", "snapshot", "post-copy", "post-copy failed"},
		libvirt.DOMAIN_EVENT_STOPPED:     {"shutdown", "destroyed", "crashed", "migrated", "saved", "failed", "snapshot", "recreated"},
		libvirt.DOMAIN_EVENT_SHUTDOWN:    {"finished", "guest", "host"},
		libvirt.DOMAIN_EVENT_PMSUSPENDED: {"memory", "disk"},
		libvirt.DOMAIN_EVENT_CRASHED:     {"panicked", "crashloaded"},
	}
)

// lifecycleCause names a libvirt lifecycle event for logs: "stopped destroyed"; numbers stand
// in for what a newer libvirt may add.
func lifecycleCause(event libvirt.DomainEventType, detail int) string {
	ev, ok := eventNames[event]
	if !ok {
		return "event " + strconv.Itoa(int(event)) + " detail " + strconv.Itoa(detail)
	}
	if names := detailNames[event]; detail >= 0 && detail < len(names) {
		return ev + " " + names[detail]
	}
	return ev + " detail " + strconv.Itoa(detail)
}
