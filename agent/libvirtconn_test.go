package agent

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/novalet/novalet/metrics"
	"github.com/novalet/novalet/rpc"
	"github.com/novalet/novalet/rpc/ovo"
	"github.com/novalet/novalet/virt"
)

const lostReason = "Connection to libvirt lost: 1"

// serviceStatus is the Service record's disabled flag and reason as the conductor holds them.
func (e *opsEnv) serviceStatus() (bool, string) {
	svc := e.cond.Service(e.a.Host())
	d, _ := ovo.Value[bool](svc, "disabled")
	return d, disabledReason(svc)
}

func (e *opsEnv) providerTraits(t *testing.T) []string {
	t.Helper()
	rp, ok := e.pl.Provider(e.a.NodeUUID())
	if !ok {
		t.Fatalf("no provider %s", e.a.NodeUUID())
	}
	return rp.Traits
}

// operatorDisables is `openstack compute service set --disable --disable-reason why`.
func (e *opsEnv) operatorDisables(t *testing.T, why string) {
	t.Helper()
	svc := e.cond.Service(e.a.Host())
	must(t, set(svc, map[string]any{"disabled": true, "disabled_reason": why}))
	if _, err := e.a.svc.objs.action(t.Context(), rpc.NewAdminContext(time.Now()), svc, "save", nil, nil); err != nil {
		t.Fatal(err)
	}
}

// startedOpsEnv is an operations environment whose agent is started (Service, node and
// provider registered) with the periodic power sync off, and with metrics as its observer.
func startedOpsEnv(t *testing.T) (*opsEnv, *metrics.Metrics) {
	t.Helper()
	m := metrics.New(metrics.Options{Version: "test"})
	e := newOpsEnv(t, func(d *Deps, o *Options) {
		d.Observer = m
		o.Compute.SyncPowerStateInterval = 0
	})
	must(t, e.a.Start(t.Context()))
	m.SetLibvirtUp(true)
	return e, m
}

// TestLibvirtLossDisablesServiceAndReconnectEnablesIt follows nova's libvirt driver through an
// outage: the loss disables the Service with "AUTO: Connection to libvirt lost: 1" and puts
// COMPUTE_STATUS_DISABLED on the provider, a build arriving meanwhile is refused and
// rescheduled without touching the hypervisor, and the return enables the Service, removes the
// trait and resyncs power states (a guest that stopped during the outage is stopped through
// the API, with the periodic sync off).
func TestLibvirtLossDisablesServiceAndReconnectEnablesIt(t *testing.T) {
	e, m := startedOpsEnv(t)
	off := e.running(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.a.connectionLoop(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	must(t, e.hv.Destroy(t.Context(), off)) // no lifecycle events handled: only a resync can notice
	e.hv.Disconnect(lostReason)
	waitFor(t, func() bool { d, r := e.serviceStatus(); return d && r == "AUTO: "+lostReason })
	if traits := e.providerTraits(t); !slices.Contains(traits, statusDisabledTrait) || !slices.Contains(traits, "COMPUTE_NODE") {
		t.Errorf("provider traits during the outage = %v, want COMPUTE_STATUS_DISABLED beside the others", traits)
	}
	if c := m.Health().Checks["libvirt"]; c.OK {
		t.Errorf("/healthz libvirt check during the outage = %+v, want failing", c)
	}

	inst := e.newInstance(t)
	id, _ := ovo.Value[string](inst, "uuid")
	e.build(t, inst, map[string]any{"filter_properties": map[string]any{"retry": map[string]any{"num_attempts": 1}}})
	if !slices.Contains(e.caster.methods(), "conductor.build_instances") {
		t.Errorf("a build during the outage was not rescheduled: casts %v", e.caster.methods())
	}
	if slices.Contains(e.hv.Defined(), virt.InstanceNamePrefix+id) || len(e.hv.Defined()) != 1 {
		t.Errorf("domains after a refused build: %v", e.hv.Defined())
	}
	if h, ok := e.cond.Instance(id).Get("host"); ok && h != nil {
		t.Errorf("the refused build left host %v on the instance", h)
	}
	// Without retry information the build ends in error, with a fault that says why.
	inst2 := e.newInstance(t)
	id2, _ := ovo.Value[string](inst2, "uuid")
	e.build(t, inst2, nil)
	if vm, _ := ovo.Value[string](e.cond.Instance(id2), "vm_state"); vm != "error" {
		t.Errorf("vm_state of a build refused without retry = %q, want error", vm)
	}
	if faults := e.cond.FaultMessages(id2); len(faults) != 1 ||
		!strings.Contains(faults[0], "Connection to the hypervisor is broken on host cmp1") || !strings.Contains(faults[0], lostReason) {
		t.Errorf("faults of a build refused without retry = %q", faults)
	}

	e.hv.Reconnect()
	waitFor(t, func() bool { d, r := e.serviceStatus(); return !d && r == "" })
	waitFor(t, func() bool { return e.stopCasts(off) == 1 })
	if traits := e.providerTraits(t); slices.Contains(traits, statusDisabledTrait) {
		t.Errorf("provider traits after the return = %v, want no COMPUTE_STATUS_DISABLED", traits)
	}
	if c := m.Health().Checks["libvirt"]; !c.OK {
		t.Errorf("/healthz libvirt check after the return = %+v", c)
	}
	if ps, _ := ovo.Value[int64](e.cond.Instance(off), "power_state"); ps != int64(virt.PowerShutdown) {
		t.Errorf("power_state of the guest stopped during the outage = %d, want shutdown", ps)
	}
}

// An operator's disabling is never overridden: not replaced by the automatic reason at the
// loss, and not lifted at the return (nova's _set_host_enabled).
func TestLibvirtReconnectKeepsOperatorDisabling(t *testing.T) {
	e, _ := startedOpsEnv(t)
	e.operatorDisables(t, "maintenance")
	e.a.libvirtLost(t.Context(), virt.ConnState{Reason: lostReason, Since: time.Now(), Losses: 1})
	if d, r := e.serviceStatus(); !d || r != "maintenance" {
		t.Errorf("after the loss: disabled %v, reason %q; want the operator's", d, r)
	}
	e.a.libvirtRestored(t.Context(), virt.ConnState{Up: true, Since: time.Now(), Losses: 1})
	if d, r := e.serviceStatus(); !d || r != "maintenance" {
		t.Errorf("after the return: disabled %v, reason %q; want the operator's", d, r)
	}
}

// A restart while the service is disabled automatically (novalet stopped during an outage)
// enables it at start-up once libvirt answers, as nova's driver does at its first connection.
func TestStartEnablesAutoDisabledService(t *testing.T) {
	e, _ := startedOpsEnv(t)
	e.a.libvirtLost(t.Context(), virt.ConnState{Reason: lostReason, Since: time.Now(), Losses: 1})
	if d, r := e.serviceStatus(); !d || !strings.HasPrefix(r, disablePrefix) {
		t.Fatalf("after the loss: disabled %v, reason %q", d, r)
	}
	if !slices.Contains(e.providerTraits(t), statusDisabledTrait) {
		t.Errorf("traits after the loss = %v", e.providerTraits(t))
	}
	e.a.svc.setDisabled(true) // the registered copy a restart would read
	must(t, e.a.Start(t.Context()))
	if d, r := e.serviceStatus(); d || r != "" {
		t.Errorf("after a start with libvirt up: disabled %v, reason %q; want enabled", d, r)
	}
	if slices.Contains(e.providerTraits(t), statusDisabledTrait) {
		t.Errorf("traits after the start = %v", e.providerTraits(t))
	}
}
