package virtfake

import (
	"context"
	"time"

	"github.com/novalet/novalet/virt"
)

var _ virt.ConnectionSource = (*Fake)(nil)

// Disconnect makes the fake behave as *virt.Conn does when libvirtd goes away: the loss is
// published with reason (nova's words, e.g. "Connection to libvirt lost: 1") and every call
// fails at once with virt.ErrDisconnected until Reconnect. Domains keep running meanwhile, as
// QEMU does without libvirtd.
func (f *Fake) Disconnect(reason string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if st := f.conn.Current(); st.Up {
		f.conn.Publish(virt.ConnState{Reason: reason, Since: time.Now(), Losses: st.Losses + 1})
	}
}

// Reconnect ends a Disconnect: calls work again, lifecycle subscriptions made before carry
// on, and the return is published.
func (f *Fake) Reconnect() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if st := f.conn.Current(); !st.Up {
		f.conn.Publish(virt.ConnState{Up: true, Since: time.Now(), Losses: st.Losses})
	}
}

// Connected implements virt.ConnectionSource.
func (f *Fake) Connected() error {
	if st := f.conn.Current(); !st.Up {
		return &disconnected{reason: st.Reason}
	}
	return nil
}

// WatchConnection implements virt.ConnectionSource.
func (f *Fake) WatchConnection(ctx context.Context) (<-chan virt.ConnState, error) {
	return f.conn.Watch(ctx)
}

type disconnected struct{ reason string }

func (e *disconnected) Error() string {
	return "virtfake: " + virt.ErrDisconnected.Error() + ": " + e.reason
}
func (e *disconnected) Unwrap() error { return virt.ErrDisconnected }
