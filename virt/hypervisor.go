package virt

import (
	"context"
	"fmt"
)

// Hypervisor is the port the agent drives domains through. Domains are addressed by uuid (the
// instance uuid). Every method is bounded by its context and fails with the package's error
// classes: ErrNotFound for an unknown domain, ErrConflict for an operation the domain's state
// forbids, ErrInvalid for a request the hypervisor refuses, ErrTimeout, ErrUnavailable.
//
// virttest.Run is its conformance suite; *Conn (libvirtd) and virttest.Fake pass it.
type Hypervisor interface {
	// Define creates the persistent domain described by xml, or replaces the definition of
	// the domain with the same name and uuid (taking effect at its next start). The xml must
	// name the domain and carry its uuid. A name or uuid already used by another domain is
	// ErrConflict.
	Define(ctx context.Context, xml string) error
	// Start boots a shut-off domain, restoring its managed-save image if it has one, with
	// its vCPUs stopped when paused is true. A running or paused domain is ErrConflict.
	Start(ctx context.Context, uuid string, paused bool) error
	// Resume runs a paused domain's vCPUs. A running or shut-off domain is ErrConflict.
	Resume(ctx context.Context, uuid string) error
	// Pause stops a running domain's vCPUs; it does nothing to a paused domain (libvirt is
	// lenient here, unlike Resume). A shut-off domain is ErrConflict.
	Pause(ctx context.Context, uuid string) error
	// Shutdown presses the ACPI power button and returns without waiting: the guest decides
	// whether and when to power off. A shut-off domain is ErrConflict.
	Shutdown(ctx context.Context, uuid string) error
	// Destroy stops a running or paused domain at once (power cord). A shut-off domain is
	// ErrConflict.
	Destroy(ctx context.Context, uuid string) error
	// Reboot restarts a running or paused domain: soft presses the ACPI power button and
	// boots the domain again once the guest has powered off; hard resets the virtual machine
	// at once. The power state does not change. A shut-off domain is ErrConflict.
	Reboot(ctx context.Context, uuid string, hard bool) error
	// Suspend saves a running or paused domain's memory to its managed-save image and stops
	// it (nova's suspend); Start restores it. State then reports PowerShutdown, as nova's
	// driver does. A shut-off domain is ErrConflict.
	Suspend(ctx context.Context, uuid string) error
	// Undefine removes a shut-off domain's definition with its managed-save image and NVRAM.
	// A running or paused domain is ErrConflict: undefining it would leave it running as a
	// transient domain nobody tracks.
	Undefine(ctx context.Context, uuid string) error

	// State reports the domain's power state in nova's encoding.
	State(ctx context.Context, uuid string) (PowerState, error)
	// List reports the domains whose names mark them as instances, running or not.
	List(ctx context.Context) ([]DomainInfo, error)
	// VNCPort reports the VNC port the running domain listens on (from its live XML). A
	// shut-off domain is ErrConflict; a domain without VNC is ErrNotFound.
	VNCPort(ctx context.Context, uuid string) (int, error)
	// DomainXML returns the domain's persistent definition (what Define set and the next
	// start uses, without the running guest's live details), which Define accepts back as it
	// is: nova's rescue keeps it to restore at unrescue.
	DomainXML(ctx context.Context, uuid string) (string, error)
	// Metadata reads back the <nova:instance> element the domain was defined with; a domain
	// without one is ErrNotFound.
	Metadata(ctx context.Context, uuid string) (InstanceMetadata, error)

	// CopyDisk copies the disk a running or paused domain sees as target ("vda") into dst,
	// as it is at one instant, without stopping the guest (nova's live snapshot): dst becomes
	// a new qcow2 file holding the disk's top image over the same backing file (a shallow
	// copy). The domain stays defined with its disk unchanged, and no job is left on it. A
	// shut-off domain is ErrConflict (its disk file can be read as it is), an unknown target
	// ErrNotFound, an existing dst ErrConflict. On failure dst does not exist.
	CopyDisk(ctx context.Context, uuid, target, dst string) error
	// AbortDiskCopy ends a disk copy a crash left running on target (QEMU keeps mirroring
	// into a file nobody will read); a domain without one, shut off included, is fine.
	AbortDiskCopy(ctx context.Context, uuid, target string) error
}

// DomainInfo is one domain as List reports it.
type DomainInfo struct {
	UUID  string
	Name  string
	State PowerState
}

// PowerState is nova's power_state (nova/compute/power_state.py), what the agent reports for
// an instance.
type PowerState int

// nova's power states; 2 (BLOCKED) and 5 (FAILED) are no longer used.
const (
	PowerNoState   PowerState = 0
	PowerRunning   PowerState = 1
	PowerPaused    PowerState = 3
	PowerShutdown  PowerState = 4 // shut off or shutting down
	PowerCrashed   PowerState = 6
	PowerSuspended PowerState = 7 // guest-initiated suspend to RAM (pmsuspended)
)

// String returns nova's STATE_MAP name ("running", "shutdown", ...).
func (p PowerState) String() string {
	switch p {
	case PowerNoState:
		return "pending"
	case PowerRunning:
		return "running"
	case PowerPaused:
		return "paused"
	case PowerShutdown:
		return "shutdown"
	case PowerCrashed:
		return "crashed"
	case PowerSuspended:
		return "suspended"
	}
	return fmt.Sprintf("power_state(%d)", int(p))
}
