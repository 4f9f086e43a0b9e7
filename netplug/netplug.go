// Package netplug is the host side of an instance's network ports on a flat (Neutron
// linuxbridge) network: the bridge brq<network id[:11]> and one tap<port id[:11]> per port,
// made before the domain starts so that novalet, not libvirt, owns the tap and its MTU (the
// domain names it with <interface type='ethernet'> and <target dev=... managed='no'/>).
//
// Plugger is the port. Netlink is the real adapter (github.com/vishvananda/netlink, in the host
// or a given network namespace); netplugtest.Fake is the in-memory double; both pass
// netplugtest.Run.
package netplug

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/novalet/novalet/netmodel"
)

// Error classes; callers decide with errors.Is.
var (
	// ErrInvalid: an id that cannot name a device, an MTU out of range.
	ErrInvalid = errors.New("invalid")
	// ErrNotFound: a device that should exist does not.
	ErrNotFound = errors.New("not found")
	// ErrUnavailable: the kernel refused or netlink failed.
	ErrUnavailable = errors.New("unavailable")
)

// VIF is one port to plug.
type VIF struct {
	PortID    string // Neutron port id (a uuid)
	NetworkID string // Neutron network id (a uuid)
	MTU       int    // the network's MTU; 0 keeps the kernel's default (1500)
}

// Tap is one tap device as List reports it.
type Tap struct {
	Name   string // tap<port id[:11]>
	Master string // the bridge it is enslaved to, "" if none
	MTU    int
	Up     bool
	// Carrier: a process holds the tap open (the QEMU of a running guest); the kernel reports
	// carrier (IFF_LOWER_UP) exactly while one does.
	Carrier bool
}

// Plugger plugs and unplugs VIFs. Every method is idempotent and bounded by its context.
type Plugger interface {
	// Plug ensures the network's bridge (made if missing: STP off, forward delay 0, up) and the
	// port's tap (persistent, with the MTU, enslaved to that bridge, up). A tap that exists is
	// fixed in place (MTU, master, up).
	Plug(ctx context.Context, v VIF) error
	// Unplug removes the port's tap; a missing tap is not an error. Bridges are never removed:
	// the linuxbridge agent shares them and removes them itself.
	Unplug(ctx context.Context, portID string) error
	// RemoveTap removes a tap by its device name (one List reported), for the reaper, which
	// knows orphans by name only. A missing tap is not an error.
	RemoveTap(ctx context.Context, name string) error
	// List reports the tap devices named like a port's (tap + 11 characters).
	List(ctx context.Context) ([]Tap, error)
}

// BridgeName is the linuxbridge agent's bridge for a network: brq + the first 11 characters
// (netmodel names devices; this is the same name).
func BridgeName(networkID string) string { return netmodel.BridgeName(networkID) }

// TapName is the linuxbridge agent's tap for a port: tap + the first 11 characters (nova's
// devname, from netmodel).
func TapName(portID string) string { return netmodel.TapName(portID) }

var idPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// tapPattern matches the names List reports.
var tapPattern = regexp.MustCompile(`^tap[0-9a-fA-F]{8}-[0-9a-fA-F]{2}$`)

// IsTapName says whether name looks like a port's tap.
func IsTapName(name string) bool { return tapPattern.MatchString(name) }

// validate checks what would otherwise reach the kernel as a device name or MTU.
func (v VIF) validate() error {
	if !idPattern.MatchString(v.PortID) {
		return fmt.Errorf("%w: port id %q is not a uuid", ErrInvalid, v.PortID)
	}
	if !idPattern.MatchString(v.NetworkID) {
		return fmt.Errorf("%w: network id %q is not a uuid", ErrInvalid, v.NetworkID)
	}
	if v.MTU != 0 && (v.MTU < 68 || v.MTU > 65535) {
		return fmt.Errorf("%w: MTU %d out of range", ErrInvalid, v.MTU)
	}
	return nil
}

// Validate is VIF.validate for adapters outside this package (the fake).
func Validate(v VIF) error { return v.validate() }

// ValidatePortID checks a port id before it names a device.
func ValidatePortID(id string) error {
	if !idPattern.MatchString(id) {
		return fmt.Errorf("%w: port id %q is not a uuid", ErrInvalid, id)
	}
	return nil
}
