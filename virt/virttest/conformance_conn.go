package virttest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/novalet/novalet/virt"
)

// Outage takes the hypervisor's daemon away and brings it back: for *virt.Conn a private
// libvirtd stopped and started again, for Fake Disconnect and Reconnect.
type Outage struct {
	Break   func(t *testing.T)
	Restore func(t *testing.T)
}

// stateTimeout bounds the wait for the connection to report a loss or its return: the
// reconnection backs off up to 8 s between attempts, and a libvirtd that has just started may
// take a while to answer.
const stateTimeout = 120 * time.Second

// RunConnection checks virt.ConnectionSource through one outage of the hypervisor h (which
// lists ListedPrefix domains): the loss is reported with nova's reason, calls made meanwhile
// fail with virt.ErrDisconnected (of class virt.ErrUnavailable) instead of waiting, the return
// is reported, and domains and lifecycle subscriptions made before the outage carry on over
// the new connection.
func RunConnection(t *testing.T, h virt.Hypervisor, o Outage, newDomainXML func(t *testing.T, name, uuid string) string) {
	src, ok := h.(virt.ConnectionSource)
	if !ok {
		t.Fatalf("%T is not a virt.ConnectionSource", h)
	}
	s := suite{newDomainXML: newDomainXML}
	if err := src.Connected(); err != nil {
		t.Fatalf("Connected before the outage = %v", err)
	}
	states, err := src.WatchConnection(ctx(t))
	if err != nil {
		t.Fatalf("watch connection: %v", err)
	}
	first := awaitState(t, states, true, "at subscription")
	w := watch(t, ctx(t), eventSource(t, h))
	d := s.newDomain(t, h, ListedPrefix)
	d.must("define", h.Define(ctx(t), d.xml))

	o.Break(t)
	down := awaitState(t, states, false, "after the outage began")
	if !strings.HasPrefix(down.Reason, "Connection to libvirt lost") || down.Losses != first.Losses+1 || down.Since.IsZero() {
		t.Errorf("state after the loss = %+v, want reason \"Connection to libvirt lost...\", losses %d and a time", down, first.Losses+1)
	}
	if err := src.Connected(); !errors.Is(err, virt.ErrDisconnected) || !errors.Is(err, virt.ErrUnavailable) {
		t.Errorf("Connected during the outage = %v, want ErrDisconnected (and ErrUnavailable)", err)
	}
	// A generous deadline: the calls must fail because there is no connection, not because
	// they waited for one.
	long, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	_, err = h.List(long)
	d.expect("list during the outage", err, virt.ErrDisconnected)
	if errors.Is(err, virt.ErrTimeout) {
		t.Errorf("list during the outage waited for its deadline: %v", err)
	}
	d.expect("start during the outage", h.Start(long, d.uuid, false), virt.ErrDisconnected)

	o.Restore(t)
	up := awaitState(t, states, true, "after the outage ended")
	if up.Losses != down.Losses {
		t.Errorf("state after the return = %+v, want losses %d", up, down.Losses)
	}
	if err := src.Connected(); err != nil {
		t.Errorf("Connected after the return = %v", err)
	}
	if _, ok := d.listed(); !ok {
		t.Errorf("%s is not listed after the return", d.name)
	}
	d.must("start after the return", h.Start(ctx(t), d.uuid, false))
	w.await(d, virt.TransitionStarted, "start on the new connection")
	d.must("destroy", h.Destroy(ctx(t), d.uuid))
	w.await(d, virt.TransitionStopped, "destroy on the new connection")
}

// awaitState reads states until one with Up == up arrives.
func awaitState(t *testing.T, states <-chan virt.ConnState, up bool, when string) virt.ConnState {
	t.Helper()
	timeout := time.After(stateTimeout)
	for {
		select {
		case st, ok := <-states:
			if !ok {
				t.Fatalf("connection subscription closed waiting for up=%v %s", up, when)
			}
			if st.Up == up {
				return st
			}
		case <-timeout:
			t.Fatalf("no connection state up=%v within %s %s", up, stateTimeout, when)
		}
	}
}
