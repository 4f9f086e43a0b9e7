package virt

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// EventSource delivers domain lifecycle events, so that a caller waiting for a power state
// learns of the change when it happens instead of at its next poll. *Conn and virttest.Fake
// implement it. Events are a hint, not a record: a subscriber that falls behind loses events
// (DroppedEvents counts them), so a consumer re-reads State after an event and keeps a slow
// periodic check as its safety net, as nova's driver does.
type EventSource interface {
	// Watch subscribes to the lifecycle events of the domains List reports (those with the
	// instance name prefix). The channel is closed when ctx ends or the source is closed.
	// Watch never makes the source wait for the subscriber: while its buffer (EventBuffer)
	// is full, further events for it are dropped.
	Watch(ctx context.Context) (<-chan LifecycleEvent, error)
	// DroppedEvents counts the events dropped for subscribers that did not keep up.
	DroppedEvents() uint64
}

// EventBuffer is how many undelivered events a subscriber may hold before events for it are
// dropped.
const EventBuffer = 128

// Transition is nova's lifecycle transition (nova/virt/event.py, EVENT_LIFECYCLE_*), with
// nova's numbering.
type Transition int

// nova's transitions.
const (
	TransitionStarted            Transition = 0
	TransitionStopped            Transition = 1
	TransitionPaused             Transition = 2
	TransitionResumed            Transition = 3
	TransitionSuspended          Transition = 4
	TransitionPostcopyStarted    Transition = 5
	TransitionMigrationCompleted Transition = 6
)

// String returns nova's name for the transition ("Started", "Stopped", ...), what nova logs as
// "VM Started (Lifecycle Event)".
func (t Transition) String() string {
	switch t {
	case TransitionStarted:
		return "Started"
	case TransitionStopped:
		return "Stopped"
	case TransitionPaused:
		return "Paused"
	case TransitionResumed:
		return "Resumed"
	case TransitionSuspended:
		return "Suspended"
	case TransitionPostcopyStarted:
		return "Postcopy started"
	case TransitionMigrationCompleted:
		return "Migration completed"
	}
	return fmt.Sprintf("transition(%d)", int(t))
}

// PowerState is the power state the transition implies, as nova's handle_lifecycle_event
// maps it (a migration's post-copy start and completion leave the source paused).
func (t Transition) PowerState() PowerState {
	switch t {
	case TransitionStarted, TransitionResumed:
		return PowerRunning
	case TransitionStopped:
		return PowerShutdown
	case TransitionPaused, TransitionPostcopyStarted, TransitionMigrationCompleted:
		return PowerPaused
	case TransitionSuspended:
		return PowerSuspended
	}
	return PowerNoState
}

// LifecycleEvent is one power transition of a domain (nova's LifecycleEvent).
type LifecycleEvent struct {
	UUID       string // lower case
	Name       string // the domain's name
	Transition Transition
	// Cause is libvirt's event and detail, for logs: "stopped destroyed", "suspended paused",
	// "started restored".
	Cause string
	// Time is when novalet received the event (nova's delay rule for transient events counts
	// from it).
	Time time.Time
}

// LogValue renders the event for slog.
func (e LifecycleEvent) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("instance_uuid", e.UUID),
		slog.String("domain", e.Name),
		slog.String("transition", e.Transition.String()),
		slog.String("cause", e.Cause),
	)
}
