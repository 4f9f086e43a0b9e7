package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/novalet/novalet/rpc"
	"github.com/novalet/novalet/rpc/ovo"
	"github.com/novalet/novalet/virt"
)

// The libvirt connection, as nova's libvirt driver handles it (host.py _dispatch_events and
// driver.py _set_host_enabled): when the connection to libvirtd is lost the compute service
// is disabled with the reason "AUTO: Connection to libvirt lost: <reason>" (and the provider
// gets COMPUTE_STATUS_DISABLED), so the scheduler stops sending builds here; when it comes
// back the service is enabled again, but only when it was this automatic disabling that
// disabled it: an operator's disabling stays. novalet then resyncs the power states, since
// lifecycle events of the outage were lost.

// disablePrefix marks an automatic disabling (nova's DISABLE_PREFIX).
const disablePrefix = "AUTO: "

// statusDisabledTrait is the trait nova puts on a disabled compute node's provider.
const statusDisabledTrait = "COMPUTE_STATUS_DISABLED"

// restoreTimeout bounds the work done when the connection changes (conductor and Placement
// calls, the power sync).
const restoreTimeout = 5 * time.Minute

// hypervisorConnected is nil while the hypervisor's connection works (or the hypervisor does
// not report one), and says why not otherwise.
func (a *Agent) hypervisorConnected() error {
	if src, ok := a.c.hv.(virt.ConnectionSource); ok {
		return src.Connected()
	}
	return nil
}

// errHypervisorUnavailable is a build refused while libvirt is away: nova's driver fails the
// spawn with HypervisorUnavailable, and the build is rescheduled.
func (a *Agent) errHypervisorUnavailable(err error) error {
	return fmt.Errorf("%s: %w", "Connection to the hypervisor is broken on host "+a.opts.Host, err)
}

// connectionLoop follows the hypervisor connection's state until ctx ends.
func (a *Agent) connectionLoop(ctx context.Context) {
	src, ok := a.c.hv.(virt.ConnectionSource)
	if !ok {
		return
	}
	states, err := src.WatchConnection(ctx)
	if err != nil {
		a.log.Warn("libvirt connection state unavailable; a lost connection will not disable the service", "error", err)
		return
	}
	up, losses, first := true, uint64(0), true
	for {
		var st virt.ConnState
		select {
		case <-ctx.Done():
			return
		case s, ok := <-states:
			if !ok {
				return
			}
			st = s
		}
		switch {
		case !st.Up && (up || st.Losses > losses):
			a.libvirtLost(ctx, st)
		case st.Up && !first && (!up || st.Losses > losses):
			a.libvirtRestored(ctx, st)
		}
		up, losses, first = st.Up, st.Losses, false
	}
}

// libvirtLost disables the service, as nova's driver does on a connection close event.
func (a *Agent) libvirtLost(ctx context.Context, st virt.ConnState) {
	a.log.Error("connection to libvirt lost: disabling the compute service until it returns", "reason", st.Reason)
	a.obs.SetLibvirtUp(false)
	ctx, cancel := context.WithTimeout(ctx, restoreTimeout)
	defer cancel()
	a.setServiceEnabled(ctx, false, st.Reason)
}

// libvirtRestored enables the service again (if it was disabled automatically) and resyncs
// the power states and resources that the outage left unchecked.
func (a *Agent) libvirtRestored(ctx context.Context, st virt.ConnState) {
	a.log.Info("connection to libvirt restored: enabling the compute service and resyncing power states",
		"down_for", time.Since(st.Since).Round(time.Millisecond).String(), "losses", st.Losses)
	a.obs.SetLibvirtUp(true)
	ctx, cancel := context.WithTimeout(ctx, restoreTimeout)
	defer cancel()
	a.setServiceEnabled(ctx, true, "")
	start := time.Now()
	if err := a.syncPowerStates(ctx); err != nil {
		a.log.Warn("power states not resynced after the libvirt reconnection; the periodic sync retries", "error", err)
	} else {
		a.log.Info("power states resynced after the libvirt reconnection", "took", time.Since(start).Round(time.Millisecond).String())
	}
	a.resourcesChanged()
}

// setServiceEnabled is nova's _set_host_enabled: the Service is read afresh and saved when
// its disabled flag differs, unless enabling would override an operator's disabling (a reason
// without the AUTO: prefix). The provider's COMPUTE_STATUS_DISABLED trait follows. Failures
// are logged, as nova does: the next change or resource pass tries again.
func (a *Agent) setServiceEnabled(ctx context.Context, enabled bool, reason string) {
	changed, err := a.svc.setEnabled(ctx, enabled, reason)
	if err != nil {
		a.log.Warn("cannot update the compute service status", "host", a.opts.Host, "enabled", enabled, "error", err)
		return
	}
	if !changed {
		return
	}
	a.log.Info("compute service status updated", "host", a.opts.Host, "disabled", !enabled, "disabled_reason", a.svc.disabledReason())
	if err := a.setStatusTrait(ctx, !enabled); err != nil {
		a.log.Warn("COMPUTE_STATUS_DISABLED not updated in placement; the next resource pass retries", "error", err)
	}
}

// setStatusTrait adds or removes COMPUTE_STATUS_DISABLED alone (nova's
// update_compute_provider_status), without the driver's traits, which libvirt may not be there
// to answer for.
func (a *Agent) setStatusTrait(ctx context.Context, disabled bool) error {
	pc, id := a.rt.reportClient(), a.NodeUUID()
	if pc == nil || id == "" || pc.Provider(id) == nil {
		return nil // before the first resource pass: it sets the trait from the Service
	}
	var want []string
	if disabled {
		want = []string{statusDisabledTrait}
	}
	return pc.SetTraits(ctx, id, want, func(t string) bool { return t == statusDisabledTrait })
}

// setEnabled reads the Service and saves disabled = !enabled with nova's reason ("AUTO: " +
// reason when disabling, none when enabling); changed is false when nothing was saved (the
// flag already matches, or an operator disabled the service).
func (s *service) setEnabled(ctx context.Context, enabled bool, reason string) (changed bool, err error) {
	rc := rpc.NewAdminContext(time.Now())
	raw, err := s.objs.classAction(ctx, rc, "Service", "get_by_host_and_binary", []any{s.host, ComputeBinary}, nil)
	if err != nil {
		return false, fmt.Errorf("Service.get_by_host_and_binary(%s): %w", s.host, err)
	}
	obj, err := decodeObject(raw)
	if err != nil {
		return false, err
	}
	if obj == nil {
		return false, errors.New("the service is not registered")
	}
	disabled, _ := ovo.Value[bool](obj, "disabled")
	if disabled == !enabled {
		return false, nil
	}
	if was := disabledReason(obj); disabled && !strings.HasPrefix(was, disablePrefix) {
		s.log.Info("not overriding the operator's disabling of the compute service", "disabled_reason", was)
		return false, nil
	}
	fields := map[string]any{"disabled": !enabled, "disabled_reason": nil}
	if !enabled && reason != "" {
		fields["disabled_reason"] = disablePrefix + reason
	}
	if err := set(obj, fields); err != nil {
		return false, err
	}
	if _, err := s.objs.action(ctx, rc, obj, "save", nil, nil); err != nil {
		return false, fmt.Errorf("Service.save(disabled): %w", err)
	}
	s.mu.Lock()
	s.obj = obj
	s.epoch++
	s.mu.Unlock()
	return true, nil
}

// disabledReason is the Service's disabled_reason, "" when null.
func disabledReason(obj *ovo.Object) string {
	r, _ := ovo.Value[string](obj, "disabled_reason")
	return r
}

// disabledReason is the reason the service was last seen disabled for.
func (s *service) disabledReason() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.obj == nil {
		return ""
	}
	return disabledReason(s.obj)
}

// autoDisabled reports whether the service was last seen disabled automatically.
func (s *service) autoDisabled() bool {
	return s.disabled() && strings.HasPrefix(s.disabledReason(), disablePrefix)
}
