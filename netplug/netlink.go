package netplug

import (
	"context"
	"errors"
	"fmt"
	"runtime"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// defaultMTU is what a new link gets when the network names none.
const defaultMTU = 1500

// Netlink is the Plugger on the kernel, in one network namespace.
type Netlink struct {
	ns netns.NsHandle // netns.None() = the process's namespace
	h  *netlink.Handle
}

var _ Plugger = (*Netlink)(nil)

// Open returns a Plugger for the namespace at nsPath ("" = the process's own, e.g.
// /run/netns/<name> for a named one).
func Open(nsPath string) (*Netlink, error) {
	ns := netns.None()
	if nsPath != "" {
		var err error
		if ns, err = netns.GetFromPath(nsPath); err != nil {
			return nil, fmt.Errorf("%w: network namespace %s: %w", ErrUnavailable, nsPath, err)
		}
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		if ns.IsOpen() {
			ns.Close()
		}
		return nil, fmt.Errorf("%w: netlink: %w", ErrUnavailable, err)
	}
	return &Netlink{ns: ns, h: h}, nil
}

// Close releases the netlink socket and the namespace handle.
func (n *Netlink) Close() error {
	n.h.Close()
	if n.ns.IsOpen() {
		return n.ns.Close()
	}
	return nil
}

// Plug implements Plugger.
func (n *Netlink) Plug(ctx context.Context, v VIF) error {
	if err := v.validate(); err != nil {
		return err
	}
	mtu := v.MTU
	if mtu == 0 {
		mtu = defaultMTU
	}
	br, err := n.ensureBridge(ctx, BridgeName(v.NetworkID), mtu)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	tap, err := n.ensureTap(TapName(v.PortID))
	if err != nil {
		return err
	}
	steps := []struct {
		what string
		do   func() error
	}{
		{"set MTU", func() error {
			if tap.Attrs().MTU == mtu {
				return nil
			}
			return n.h.LinkSetMTU(tap, mtu)
		}},
		{"enslave to " + br.Attrs().Name, func() error {
			if tap.Attrs().MasterIndex == br.Attrs().Index {
				return nil
			}
			return n.h.LinkSetMasterByIndex(tap, br.Attrs().Index)
		}},
		{"set up", func() error { return n.h.LinkSetUp(tap) }},
	}
	for _, s := range steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.do(); err != nil {
			return fmt.Errorf("%w: %s: %s: %w", ErrUnavailable, tap.Attrs().Name, s.what, err)
		}
	}
	return nil
}

// ensureBridge returns the bridge, creating it when missing. An existing bridge (the
// linuxbridge agent's, or ours) is used as it is.
func (n *Netlink) ensureBridge(ctx context.Context, name string, mtu int) (netlink.Link, error) {
	l, err := n.h.LinkByName(name)
	if err == nil {
		if l.Type() != "bridge" {
			return nil, fmt.Errorf("%w: %s exists and is a %s, not a bridge", ErrInvalid, name, l.Type())
		}
		if l.Attrs().OperState != netlink.OperUp && l.Attrs().Flags&unix.IFF_UP == 0 {
			if err := n.h.LinkSetUp(l); err != nil {
				return nil, fmt.Errorf("%w: %s: set up: %w", ErrUnavailable, name, err)
			}
		}
		return l, nil
	}
	if !isNotFound(err) {
		return nil, fmt.Errorf("%w: %s: %w", ErrUnavailable, name, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := n.addBridge(name, mtu); err != nil && !errors.Is(err, unix.EEXIST) {
		return nil, fmt.Errorf("%w: create bridge %s: %w", ErrUnavailable, name, err)
	}
	if l, err = n.h.LinkByName(name); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrUnavailable, name, err)
	}
	if err := n.h.LinkSetUp(l); err != nil {
		return nil, fmt.Errorf("%w: %s: set up: %w", ErrUnavailable, name, err)
	}
	return l, nil
}

// addBridge creates a bridge the way the linuxbridge agent does (STP off, forward delay 0),
// in one RTM_NEWLINK: the netlink library's Bridge type has no attributes for either.
func (n *Netlink) addBridge(name string, mtu int) error {
	req := nl.NewNetlinkRequest(unix.RTM_NEWLINK, unix.NLM_F_CREATE|unix.NLM_F_EXCL|unix.NLM_F_ACK)
	req.AddData(nl.NewIfInfomsg(unix.AF_UNSPEC))
	req.AddData(nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(name)))
	req.AddData(nl.NewRtAttr(unix.IFLA_MTU, nl.Uint32Attr(uint32(mtu))))
	info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
	info.AddRtAttr(nl.IFLA_INFO_KIND, nl.NonZeroTerminated("bridge"))
	data := info.AddRtAttr(nl.IFLA_INFO_DATA, nil)
	data.AddRtAttr(nl.IFLA_BR_FORWARD_DELAY, nl.Uint32Attr(0))
	data.AddRtAttr(nl.IFLA_BR_STP_STATE, nl.Uint32Attr(0))
	req.AddData(info)
	return n.inNS(func() error {
		_, err := req.Execute(unix.NETLINK_ROUTE, 0)
		return err
	})
}

// ensureTap returns the tap, creating it (persistent, no packet info, vnet header as QEMU
// uses it) when missing.
func (n *Netlink) ensureTap(name string) (netlink.Link, error) {
	l, err := n.h.LinkByName(name)
	if err == nil {
		if _, ok := l.(*netlink.Tuntap); !ok && l.Type() != "tuntap" {
			return nil, fmt.Errorf("%w: %s exists and is a %s, not a tap", ErrInvalid, name, l.Type())
		}
		return l, nil
	}
	if !isNotFound(err) {
		return nil, fmt.Errorf("%w: %s: %w", ErrUnavailable, name, err)
	}
	tap := &netlink.Tuntap{LinkAttrs: netlink.LinkAttrs{Name: name}, Mode: netlink.TUNTAP_MODE_TAP,
		Flags: netlink.TUNTAP_NO_PI | netlink.TUNTAP_VNET_HDR}
	// A tap is made through /dev/net/tun in the calling thread's namespace, not the handle's.
	err = n.inNS(func() error {
		if err := netlink.LinkAdd(tap); err != nil {
			return err
		}
		for _, f := range tap.Fds {
			f.Close()
		}
		return nil
	})
	if err != nil && !errors.Is(err, unix.EBUSY) && !errors.Is(err, unix.EEXIST) {
		return nil, fmt.Errorf("%w: create tap %s: %w", ErrUnavailable, name, err)
	}
	if l, err = n.h.LinkByName(name); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrUnavailable, name, err)
	}
	return l, nil
}

// Unplug implements Plugger.
func (n *Netlink) Unplug(ctx context.Context, portID string) error {
	if err := ValidatePortID(portID); err != nil {
		return err
	}
	return n.RemoveTap(ctx, TapName(portID))
}

// RemoveTap implements Plugger.
func (n *Netlink) RemoveTap(ctx context.Context, name string) error {
	if !IsTapName(name) {
		return fmt.Errorf("%w: %q is not a port's tap name", ErrInvalid, name)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	l, err := n.h.LinkByName(name)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrUnavailable, name, err)
	}
	if err := n.h.LinkDel(l); err != nil && !isNotFound(err) {
		return fmt.Errorf("%w: delete %s: %w", ErrUnavailable, name, err)
	}
	return nil
}

// List implements Plugger.
func (n *Netlink) List(ctx context.Context) ([]Tap, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	links, err := n.h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("%w: list links: %w", ErrUnavailable, err)
	}
	names := map[int]string{}
	for _, l := range links {
		names[l.Attrs().Index] = l.Attrs().Name
	}
	var out []Tap
	for _, l := range links {
		a := l.Attrs()
		if !IsTapName(a.Name) || l.Type() != "tuntap" {
			continue
		}
		out = append(out, Tap{Name: a.Name, Master: names[a.MasterIndex], MTU: a.MTU, Up: a.Flags&unix.IFF_UP != 0,
			Carrier: a.RawFlags&unix.IFF_LOWER_UP != 0})
	}
	return out, nil
}

// inNS runs f on an OS thread inside the adapter's namespace.
func (n *Netlink) inNS(f func() error) error {
	if !n.ns.IsOpen() {
		return f()
	}
	errc := make(chan error, 1)
	go func() {
		// The thread is never unlocked: if switching back failed it must not be reused.
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		if err := netns.Set(n.ns); err != nil {
			errc <- err
			return
		}
		ferr := f()
		if err := netns.Set(orig); err != nil {
			errc <- errors.Join(ferr, err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

func isNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return err != nil && (errors.As(err, &nf) || errors.Is(err, unix.ENODEV))
}
