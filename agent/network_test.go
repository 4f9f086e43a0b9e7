package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"libvirt.org/go/libvirtxml"

	"github.com/novalet/novalet/metrics"
	"github.com/novalet/novalet/netmodel"
	"github.com/novalet/novalet/netplug"
	"github.com/novalet/novalet/netplug/netplugtest"
	"github.com/novalet/novalet/rpc/ovo"
	"github.com/novalet/novalet/virt"
	"github.com/novalet/novalet/virt/virttest"
)

// The network path of a build and a delete: ports bound to this host, the info cache, taps
// in the network's bridge, the wait for network-vif-plugged, and what is undone when any of
// it fails. Every test also ends with newOpsEnv's clean-up check (no domain, tap, port or
// instance directory left).

const otherNetworkID = "5b3a7f8e-1111-4222-8333-444455556666"

// vifWait sets [DEFAULT] vif_plugging_timeout and vif_plugging_is_fatal.
func vifWait(timeout time.Duration, fatal bool) func(*Deps, *Options) {
	return func(_ *Deps, o *Options) {
		o.Network.VIFPluggingTimeout, o.Network.VIFPluggingIsFatal = timeout, fatal
	}
}

// onNetworks is requested_networks asking for one new port on each network.
func onNetworks(t *testing.T, networkIDs ...string) map[string]any {
	t.Helper()
	list, _ := ovo.New("NetworkRequestList")
	var objs []*ovo.Object
	for _, id := range networkIDs {
		nr, _ := ovo.New("NetworkRequest")
		must(t, nr.Set("network_id", id))
		objs = append(objs, nr)
	}
	must(t, list.Set("objects", objs))
	return map[string]any{"requested_networks": list}
}

// withRetry adds the scheduler's retry information, so a failed build may be rescheduled.
func withRetry(extra map[string]any) map[string]any {
	extra["filter_properties"] = map[string]any{"retry": map[string]any{"num_attempts": 1}}
	return extra
}

// buildInBackground starts a build and returns what it returned, once it has.
func (e *opsEnv) buildInBackground(t *testing.T, inst *ovo.Object, extra map[string]any) <-chan error {
	t.Helper()
	req := e.buildRequest(t, inst, extra)
	done := make(chan error, 1)
	go func() {
		_, err := e.a.buildAndRunInstance(context.Background(), req)
		done <- err
	}()
	return done
}

// waitPaused waits until the guest is defined and started paused: the build is waiting for
// network-vif-plugged.
func (e *opsEnv) waitPaused(t *testing.T, id string) {
	t.Helper()
	waitFor(t, func() bool {
		st, err := e.hv.State(context.Background(), id)
		return err == nil && st == virt.PowerPaused
	})
}

// vifEvent is what nova-api forwards when Neutron reports a port: external_instance_event
// with one InstanceExternalEvent, through the compute RPC handler.
func (e *opsEnv) vifEvent(t *testing.T, instanceUUID, portID, status string) {
	t.Helper()
	ev, _ := ovo.New("InstanceExternalEvent")
	must(t, set(ev, map[string]any{"instance_uuid": instanceUUID, "name": "network-vif-plugged", "tag": portID, "status": status}))
	handler := e.a.Endpoints()[0].Methods["external_instance_event"]
	if _, err := handler(t.Context(), request(t, "external_instance_event",
		map[string]any{"instances": []any{e.cond.Instance(instanceUUID)}, "events": []any{ev}})); err != nil {
		t.Fatal(err)
	}
}

// terminate is the user's delete: task_state deleting, then the terminate_instance cast.
func (e *opsEnv) terminate(t *testing.T, id string) {
	t.Helper()
	stored := e.cond.Instance(id)
	must(t, stored.Set("task_state", "deleting"))
	e.cond.PutInstance(stored)
	handler := e.a.Endpoints()[0].Methods["terminate_instance"]
	if _, err := handler(t.Context(), request(t, "terminate_instance", map[string]any{"instance": e.cond.Instance(id), "bdms": nil})); err != nil {
		t.Fatal(err)
	}
}

// states reads the instance's vm_state, task_state and whether its host is None.
func (e *opsEnv) instanceState(t *testing.T, id string) (vm, task string, hostSet bool) {
	t.Helper()
	stored := e.cond.Instance(id)
	if stored == nil {
		t.Fatalf("instance %s is gone", id)
	}
	vm, _ = ovo.Value[string](stored, "vm_state")
	task, _ = ovo.Value[string](stored, "task_state")
	h, ok := stored.Get("host")
	return vm, task, ok && h != nil
}

// checkNothingLeftOf asserts the instance has no domain, tap, port or directory on the host.
func (e *opsEnv) checkNothingLeftOf(t *testing.T, id string) {
	t.Helper()
	if d := e.hv.Defined(); len(d) != 0 {
		t.Errorf("domains left: %v", d)
	}
	if taps := e.taps.Taps(); len(taps) != 0 {
		t.Errorf("taps left: %v", taps)
	}
	if ports := e.net.portsOf(id); len(ports) != 0 {
		t.Errorf("ports left: %v", ports)
	}
	if _, err := os.Stat(filepath.Join(e.path, id)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("instance directory left: %v", err)
	}
}

// definingHV records the domain XML the manager defines.
type definingHV struct {
	*virttest.Fake
	mu   sync.Mutex
	defs []string
}

func (h *definingHV) Define(ctx context.Context, xml string) error {
	h.mu.Lock()
	h.defs = append(h.defs, xml)
	h.mu.Unlock()
	return h.Fake.Define(ctx, xml)
}

func (h *definingHV) last(t *testing.T) *libvirtxml.Domain {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.defs) == 0 {
		t.Fatal("no domain defined")
	}
	var d libvirtxml.Domain
	must(t, d.Unmarshal(h.defs[len(h.defs)-1]))
	return &d
}

// hookedTaps runs after when a Plug of the real fake returned, with the number of plugs so far.
type hookedTaps struct {
	*netplugtest.Fake
	mu    sync.Mutex
	plugs int
	after func(n int)
}

func (h *hookedTaps) Plug(ctx context.Context, v netplug.VIF) error {
	err := h.Fake.Plug(ctx, v)
	h.mu.Lock()
	h.plugs++
	n := h.plugs
	h.mu.Unlock()
	if h.after != nil {
		h.after(n)
	}
	return err
}

func TestBuildOnANetworkThenDelete(t *testing.T) {
	// A long fatal timeout: the build goes on because the event came, not because it gave up.
	e := newOpsEnv(t, vifWait(time.Minute, true))
	hv := &definingHV{Fake: e.hv}
	e.a.c.hv = hv
	inst := e.newInstance(t)
	id, _ := ovo.Value[string](inst, "uuid")
	done := e.buildInBackground(t, inst, onNetworks(t, testNetworkID))
	e.waitPaused(t, id)

	// Before Neutron reports the port up: bound to this host, in the info cache, its tap in
	// the network's bridge with the network's MTU, the guest defined on it and paused.
	ports := e.net.portsOf(id)
	if len(ports) != 1 {
		t.Fatalf("ports %v, want one", ports)
	}
	port := ports[0]
	if h := e.net.bindingHost(port); h != "cmp1" {
		t.Errorf("binding:host_id %q, want cmp1", h)
	}
	vifs, err := netmodel.ParseNetworkInfo(e.cond.InfoCache(id))
	if err != nil || len(vifs) != 1 || vifs[0].ID != port || vifs[0].Devname != "tap"+port[:11] {
		t.Fatalf("info cache %+v (%v), want the port %s", vifs, err, port)
	}
	taps, err := e.taps.List(t.Context())
	want := netplug.Tap{Name: "tap" + port[:11], Master: "brq" + testNetworkID[:11], MTU: 1450, Up: true}
	if err != nil || len(taps) != 1 || taps[0] != want {
		t.Fatalf("taps %+v (%v), want %+v", taps, err, want)
	}
	ifcs := hv.last(t).Devices.Interfaces
	if len(ifcs) != 1 || ifcs[0].Target == nil || ifcs[0].Target.Dev != want.Name || ifcs[0].MAC == nil ||
		ifcs[0].MAC.Address != vifs[0].Address || ifcs[0].MTU == nil || ifcs[0].MTU.Size != 1450 {
		t.Fatalf("domain interfaces %+v, want one on %s", ifcs, want.Name)
	}
	select {
	case err := <-done:
		t.Fatalf("build returned (%v) before network-vif-plugged", err)
	default:
	}

	e.vifEvent(t, id, port, "completed")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	vm, task, _ := e.instanceState(t, id)
	if p, _ := ovo.Value[int64](e.cond.Instance(id), "power_state"); vm != "active" || task != "" || p != int64(virt.PowerRunning) {
		t.Errorf("after the event: vm_state %q task_state %q power_state %d, want active None running", vm, task, p)
	}
	if st, err := e.hv.State(t.Context(), id); err != nil || st != virt.PowerRunning {
		t.Errorf("guest %v %v, want running", st, err)
	}

	e.terminate(t, id)
	if e.cond.Instance(id) != nil {
		t.Error("instance not destroyed")
	}
	e.checkNothingLeftOf(t, id)
}

func TestBuildRollsBackWhenATapFailsToPlug(t *testing.T) {
	busy := errors.New("RTNETLINK answers: Device or resource busy")

	t.Run("second tap fails: first removed, ports released, rescheduled", func(t *testing.T) {
		e := newOpsEnv(t)
		taps := &hookedTaps{Fake: e.taps}
		var plugged []string
		taps.after = func(n int) {
			if n == 1 {
				plugged = e.taps.Taps()
				e.taps.FailNextPlug(busy)
			}
		}
		e.a.c.taps = taps
		inst := e.newInstance(t)
		id, _ := ovo.Value[string](inst, "uuid")
		e.build(t, inst, withRetry(onNetworks(t, testNetworkID, otherNetworkID)))

		if len(plugged) != 1 || taps.plugs != 2 {
			t.Fatalf("taps after the first plug %v, %d plugs: want one tap, then a second plug", plugged, taps.plugs)
		}
		if !slices.Contains(e.caster.methods(), "conductor.build_instances") {
			t.Errorf("casts %v: want the build rescheduled", e.caster.methods())
		}
		if vm, task, hostSet := e.instanceState(t, id); vm != "building" || task != "scheduling" || hostSet {
			t.Errorf("vm_state %q task_state %q host set %v, want building/scheduling and no host", vm, task, hostSet)
		}
		if f := e.cond.FaultMessages(id); len(f) != 0 {
			t.Errorf("faults %v on a reschedule", f)
		}
		e.checkNothingLeftOf(t, id)
	})

	t.Run("no retry information: error with nova's fault", func(t *testing.T) {
		e := newOpsEnv(t)
		e.taps.FailNextPlug(busy)
		inst := e.newInstance(t)
		id, _ := ovo.Value[string](inst, "uuid")
		e.build(t, inst, onNetworks(t, testNetworkID))

		if vm, task, hostSet := e.instanceState(t, id); vm != "error" || task != "" || hostSet {
			t.Errorf("vm_state %q task_state %q host set %v, want error, None, no host", vm, task, hostSet)
		}
		// nova's RescheduledException without retry: the fault's message is the reason.
		f := e.cond.FaultMessages(id)
		if len(f) != 1 || !strings.HasPrefix(f[0], "plug port ") || !strings.HasSuffix(f[0], ": "+busy.Error()) {
			t.Errorf("faults %v, want the reason: plug port <port>: %v", f, busy)
		}
		if slices.Contains(e.caster.methods(), "conductor.build_instances") {
			t.Error("rescheduled without retry information")
		}
		e.checkNothingLeftOf(t, id)
	})
}

func TestVIFPluggedTimeout(t *testing.T) {
	t.Run("fatal: the build aborts and leaves nothing", func(t *testing.T) {
		e := newOpsEnv(t, vifWait(50*time.Millisecond, true))
		inst := e.newInstance(t)
		id, _ := ovo.Value[string](inst, "uuid")
		e.build(t, inst, withRetry(onNetworks(t, testNetworkID)))

		if vm, task, hostSet := e.instanceState(t, id); vm != "error" || task != "" || hostSet {
			t.Errorf("vm_state %q task_state %q host set %v, want error, None, no host", vm, task, hostSet)
		}
		f := e.cond.Faults()
		if len(f) != 1 || f[0].Code != 500 ||
			!strings.Contains(f[0].Message, "Build of instance "+id+" aborted: Failed to allocate the network(s), not rescheduling.") ||
			!strings.Contains(f[0].Message, "Virtual Interface creation failed") {
			t.Errorf("faults %+v", f)
		}
		if slices.Contains(e.caster.methods(), "conductor.build_instances") {
			t.Error("a VirtualInterfaceCreateException was rescheduled")
		}
		e.checkNothingLeftOf(t, id)
	})

	t.Run("not fatal: the build goes on after the timeout", func(t *testing.T) {
		e := newOpsEnv(t, vifWait(50*time.Millisecond, false))
		inst := e.newInstance(t)
		id, _ := ovo.Value[string](inst, "uuid")
		e.build(t, inst, onNetworks(t, testNetworkID))

		if vm, task, _ := e.instanceState(t, id); vm != "active" || task != "" {
			t.Errorf("vm_state %q task_state %q, want active None", vm, task)
		}
		if st, err := e.hv.State(t.Context(), id); err != nil || st != virt.PowerRunning {
			t.Errorf("guest %v %v, want running", st, err)
		}
		if len(e.net.portsOf(id)) != 1 || len(e.taps.Taps()) != 1 {
			t.Errorf("ports %v taps %v: the instance keeps its port and tap", e.net.portsOf(id), e.taps.Taps())
		}
		if f := e.cond.FaultMessages(id); len(f) != 0 {
			t.Errorf("faults %v", f)
		}
		e.terminate(t, id)
		e.checkNothingLeftOf(t, id)
	})

	t.Run("Neutron reports the port failed, not fatal: the build goes on", func(t *testing.T) {
		// nova's _neutron_failed_callback only logs unless vif_plugging_is_fatal.
		e := newOpsEnv(t, vifWait(time.Minute, false))
		inst := e.newInstance(t)
		id, _ := ovo.Value[string](inst, "uuid")
		done := e.buildInBackground(t, inst, onNetworks(t, testNetworkID))
		e.waitPaused(t, id)
		e.vifEvent(t, id, e.net.portsOf(id)[0], "failed")
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if vm, task, _ := e.instanceState(t, id); vm != "active" || task != "" {
			t.Errorf("vm_state %q task_state %q, want active None", vm, task)
		}
		if f := e.cond.FaultMessages(id); len(f) != 0 {
			t.Errorf("faults %v", f)
		}
		e.terminate(t, id)
		e.checkNothingLeftOf(t, id)
	})

	t.Run("Neutron reports the port failed, fatal: the build aborts", func(t *testing.T) {
		e := newOpsEnv(t, vifWait(time.Minute, true))
		inst := e.newInstance(t)
		id, _ := ovo.Value[string](inst, "uuid")
		done := e.buildInBackground(t, inst, onNetworks(t, testNetworkID))
		e.waitPaused(t, id)
		e.vifEvent(t, id, e.net.portsOf(id)[0], "failed")
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if vm, _, _ := e.instanceState(t, id); vm != "error" {
			t.Errorf("vm_state %q, want error", vm)
		}
		if f := e.cond.FaultMessages(id); len(f) != 1 || !strings.Contains(f[0], "Neutron reported network-vif-plugged-") {
			t.Errorf("faults %v", f)
		}
		e.checkNothingLeftOf(t, id)
	})
}

// buildPlugged builds an instance on the network, Neutron reporting its port up once the
// guest waits for it.
func (e *opsEnv) buildPlugged(t *testing.T, inst *ovo.Object) {
	t.Helper()
	id, _ := ovo.Value[string](inst, "uuid")
	done := e.buildInBackground(t, inst, onNetworks(t, testNetworkID))
	e.waitPaused(t, id)
	e.vifEvent(t, id, e.net.portsOf(id)[0], "completed")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestTapReaperRemovesOrphansOnly(t *testing.T) {
	e := newOpsEnv(t, vifWait(time.Minute, true))
	inst := e.newInstance(t)
	id, _ := ovo.Value[string](inst, "uuid")
	e.buildPlugged(t, inst)
	mine := netmodel.TapName(e.net.portsOf(id)[0])
	// A tap no instance's info cache names: a delete interrupted between destroy and unplug.
	orphan := netmodel.TapName(uuid.NewString())
	e.taps.AddTap(orphan, netmodel.BridgeName(testNetworkID), 1450)

	counts, err := e.a.TapCounts(t.Context())
	if err != nil || counts != (metrics.TapCounts{Attached: 1, Orphaned: 1}) {
		t.Fatalf("tap counts %+v %v, want one attached, one orphaned", counts, err)
	}
	n, err := e.a.reapTaps(t.Context(), nil)
	if err != nil || n != 1 {
		t.Fatalf("reaped %d (%v), want 1", n, err)
	}
	if taps := e.taps.Taps(); !slices.Equal(taps, []string{mine}) {
		t.Errorf("taps %v, want only the instance's %s", taps, mine)
	}
	// Nothing more to reap.
	if n, err := e.a.reapTaps(t.Context(), nil); err != nil || n != 0 {
		t.Errorf("second pass reaped %d (%v)", n, err)
	}

	// The tap of a build waiting for network-vif-plugged is not an orphan: the build saved the
	// info cache before it plugged.
	building := e.newInstance(t)
	bid, _ := ovo.Value[string](building, "uuid")
	done := e.buildInBackground(t, building, onNetworks(t, testNetworkID))
	e.waitPaused(t, bid)
	if n, err := e.a.reapTaps(t.Context(), nil); err != nil || n != 0 || len(e.taps.Taps()) != 2 {
		t.Errorf("during a build: reaped %d (%v), taps %v", n, err, e.taps.Taps())
	}
	e.vifEvent(t, bid, e.net.portsOf(bid)[0], "completed")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestDeletedDuringBuildOnANetwork: the user deletes while the guest starts; the build must
// not leave its taps or ports behind for the queued delete to miss.
func TestDeletedDuringBuildOnANetwork(t *testing.T) {
	e := newOpsEnv(t)
	inst := e.newInstance(t)
	id, _ := ovo.Value[string](inst, "uuid")
	e.a.c.hv = deletingOnStart{Fake: e.hv, cond: e.cond, id: id}
	e.build(t, inst, onNetworks(t, testNetworkID))
	if _, task, _ := e.instanceState(t, id); task != "deleting" {
		t.Fatalf("task_state %q: the build overwrote the user's delete", task)
	}
	e.checkNothingLeftOf(t, id)
	e.terminate(t, id) // the queued delete finds nothing left to do
	if e.cond.Instance(id) != nil {
		t.Error("instance not destroyed")
	}
}

// TestRecoveryRemovesTapsOfAnInterruptedBuild: novalet stopped while a build waited for
// network-vif-plugged (guest paused, tap plugged, ports bound). Start-up recovery sets the
// instance to error with a fault and removes its guest, tap and directory. Like nova's
// _init_instance, it does not release the ports: they go when the user deletes the instance.
func TestRecoveryRemovesTapsOfAnInterruptedBuild(t *testing.T) {
	e := newOpsEnv(t, vifWait(time.Minute, true))
	inst := e.newInstance(t)
	id, _ := ovo.Value[string](inst, "uuid")
	e.buildPlugged(t, inst)
	ports := e.net.portsOf(id)
	stored := e.cond.Instance(id)
	must(t, set(stored, map[string]any{"vm_state": "building", "task_state": "spawning"}))
	e.cond.PutInstance(stored)
	must(t, e.hv.Pause(t.Context(), id))

	if err := e.a.recoverInstances(t.Context()); err != nil {
		t.Fatal(err)
	}
	if vm, task, _ := e.instanceState(t, id); vm != "error" || task != "" {
		t.Errorf("vm_state %q task_state %q, want error None", vm, task)
	}
	if f := e.cond.FaultMessages(id); len(f) != 1 || !strings.Contains(f[0], "stopped during the build") {
		t.Errorf("faults %v", f)
	}
	if d := e.hv.Defined(); len(d) != 0 {
		t.Errorf("domains left: %v", d)
	}
	if taps := e.taps.Taps(); len(taps) != 0 {
		t.Errorf("taps left: %v", taps)
	}
	if _, err := os.Stat(filepath.Join(e.path, id)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("instance directory left: %v", err)
	}
	if got := e.net.portsOf(id); !slices.Equal(got, ports) {
		t.Errorf("ports %v after recovery, want %v kept until the delete (as nova)", got, ports)
	}
	e.terminate(t, id)
	e.checkNothingLeftOf(t, id)
}

// TestTapsArePluggedBeforeTheImage: the taps exist while the image is still downloading, so
// the linuxbridge agent's detection and network-vif-plugged overlap the disk work (#17).
func TestTapsArePluggedBeforeTheImage(t *testing.T) {
	e := newOpsEnv(t, vifWait(30*time.Second, true))
	inst := e.newInstance(t)
	id, _ := ovo.Value[string](inst, "uuid")
	release := e.glance.Hold()
	defer release()
	done := e.buildInBackground(t, inst, onNetworks(t, testNetworkID))
	must(t, e.glance.WaitStarted(t.Context(), 1))
	ports := e.net.portsOf(id)
	if len(ports) != 1 || !slices.Contains(e.taps.Taps(), netmodel.TapName(ports[0])) {
		t.Fatalf("while the image downloads: ports %v, taps %v; want the port's tap plugged", ports, e.taps.Taps())
	}
	// Neutron reports the port up before the guest even exists: the build does not wait again.
	e.vifEvent(t, id, ports[0], "completed")
	release()
	must(t, <-done)
	if vm, task, _ := e.instanceState(t, id); vm != "active" || task != "" {
		t.Fatalf("vm_state %q task_state %q", vm, task)
	}
}
