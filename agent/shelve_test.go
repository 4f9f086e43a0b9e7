package agent

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/novalet/novalet/rpc/ovo"
	"github.com/novalet/novalet/virt"
)

// shelvedImage is the image nova-api creates for a shelve ("<name>-shelved").
func (e *opsEnv) shelvedImage(t *testing.T, id string) string {
	return e.snapshotImage(t, id, nil)
}

// states of the instance's saves from the n-th on, as "vm_state/task_state [expected]".
func (e *opsEnv) saveSequence(n int) []string {
	var out []string
	for _, s := range e.cond.InstanceSaves()[n:] {
		out = append(out, s.VMState+"/"+s.TaskState+" "+s.Expected)
	}
	return out
}

// TestShelveOffloadThenUnshelve: with shelved_offload_time 0, nova's shelve walks the
// shelving states through the snapshot, then offloads in the same handler: guest, disks and
// allocations gone, host and node cleared, the scheduler told. The conductor's unshelve
// spawns the guest again from the snapshot on this host, deletes the snapshot and the
// shelved keys, and keeps the instance's own image_ref.
func TestShelveOffloadThenUnshelve(t *testing.T) {
	e := newOpsEnv(t)
	id := e.running(t)
	e.pl.Allocate(id, "rp", map[string]int{"VCPU": 1})
	snap := e.shelvedImage(t, id)
	n := len(e.cond.InstanceSaves())
	if err := e.cast(t, id, "shelve_instance", "shelving", map[string]any{"image_id": snap, "clean_shutdown": true}); err != nil {
		t.Fatal(err)
	}
	got := e.saveSequence(n)
	wantSeq := []string{
		"active/shelving_image_pending_upload [shelving]",
		"active/shelving_image_uploading [shelving_image_pending_upload]",
		"active/shelving_image_pending_upload [shelving_image_uploading]",
		"active/shelving_image_uploading [shelving_image_pending_upload]",
		"shelved/shelving_offloading [shelving shelving_image_uploading]",
		"shelved_offloaded/ [shelving shelving_offloading]",
		"shelved_offloaded/ [<nil>]",
	}
	if !slices.Equal(got, wantSeq) {
		t.Errorf("saves\n got %q\nwant %q", got, wantSeq)
	}
	s := e.cond.Instance(id)
	host, _ := ovo.Value[string](s, "host")
	sm := (&instance{obj: s}).sysmeta()
	if host != "" || sm["shelved_image_id"] != snap || sm["shelved_host"] != "cmp1" || sm["shelved_at"] == "" {
		t.Errorf("after shelve: host %q sysmeta %v", host, sm)
	}
	if len(e.hv.Defined()) != 0 || exists(e.path+"/"+id) {
		t.Errorf("offloaded guest left: domains %v, dir %v", e.hv.Defined(), exists(e.path+"/"+id))
	}
	if e.pl.HasAllocations(id) {
		t.Error("allocations of the offloaded instance kept")
	}
	if img, _ := e.glance.Get(snap); img.Status != "active" {
		t.Errorf("shelve image %s, want active", img.Status)
	}
	if !slices.Contains(e.caster.methods(), "scheduler.delete_instance_info") {
		t.Errorf("scheduler not told: %v", e.caster.methods())
	}

	// Unshelve: the conductor scheduled it here and sends the snapshot's image dict.
	stored := e.cond.Instance(id)
	must(t, set(stored, map[string]any{"task_state": "unshelving"}))
	stored.ObjResetChanges()
	e.cond.PutInstance(stored)
	args := map[string]any{"instance": e.cond.Instance(id), "image": map[string]any{"id": snap, "properties": map[string]any{}},
		"filter_properties": map[string]any{}, "node": "cmp1", "request_spec": nil, "accel_uuids": []any{}}
	if _, err := e.a.Endpoints()[0].Methods["unshelve_instance"](t.Context(), request(t, "unshelve_instance", args)); err != nil {
		t.Fatal(err)
	}
	s = e.cond.Instance(id)
	vm, _ := ovo.Value[string](s, "vm_state")
	task, _ := ovo.Value[string](s, "task_state")
	host, _ = ovo.Value[string](s, "host")
	ref, _ := ovo.Value[string](s, "image_ref")
	sm = (&instance{obj: s}).sysmeta()
	if vm != "active" || task != "" || host != "cmp1" || ref != e.image {
		t.Errorf("after unshelve: %s/%q host %q image_ref %s (want the original %s)", vm, task, host, ref, e.image)
	}
	for k := range shelvedKeys {
		if _, ok := sm[k]; ok {
			t.Errorf("sysmeta %s kept after unshelve", k)
		}
	}
	if _, ok := e.glance.Get(snap); ok {
		t.Error("the shelve snapshot was not deleted after unshelve")
	}
	if st, _ := e.hv.State(t.Context(), id); st != virt.PowerRunning {
		t.Errorf("guest %v after unshelve, want running", st)
	}
	var ensured []string
	for _, c := range e.images.Calls() {
		if c.Op == "Ensure" {
			ensured = append(ensured, c.ImageID)
		}
	}
	if len(ensured) == 0 || ensured[len(ensured)-1] != snap {
		t.Errorf("images fetched %v, want the snapshot last", ensured)
	}
	for _, ev := range []string{"finish compute_shelve_instance ok", "finish compute_unshelve_instance ok"} {
		if !slices.Contains(e.cond.Events(id), ev) {
			t.Errorf("no %q in %v", ev, e.cond.Events(id))
		}
	}
}

// TestShelveWithoutOffloadThenStart: with shelved_offload_time -1 the instance stays SHELVED
// on the host, off; the conductor's unshelve of it is a start_instance, which deletes the
// snapshot and the shelved keys (nova's start_instance).
func TestShelveWithoutOffloadThenStart(t *testing.T) {
	e := newOpsEnv(t, func(_ *Deps, o *Options) { o.Compute.ShelvedOffloadTime = -1 })
	id := e.running(t)
	snap := e.shelvedImage(t, id)
	if err := e.cast(t, id, "shelve_instance", "shelving", map[string]any{"image_id": snap, "clean_shutdown": false}); err != nil {
		t.Fatal(err)
	}
	s := e.cond.Instance(id)
	vm, _ := ovo.Value[string](s, "vm_state")
	task, _ := ovo.Value[string](s, "task_state")
	if vm != "shelved" || task != "" {
		t.Errorf("after shelve: %s/%q, want shelved/None", vm, task)
	}
	if st, _ := e.hv.State(t.Context(), id); st != virt.PowerShutdown {
		t.Errorf("shelved guest %v, want shut off and kept", st)
	}
	if err := e.cast(t, id, "start_instance", "powering-on", nil); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.glance.Get(snap); ok {
		t.Error("the shelve snapshot was not deleted by the start")
	}
	sm := (&instance{obj: e.cond.Instance(id)}).sysmeta()
	for k := range shelvedKeys {
		if _, ok := sm[k]; ok {
			t.Errorf("sysmeta %s kept after the start", k)
		}
	}
	if vm, _ := ovo.Value[string](e.cond.Instance(id), "vm_state"); vm != "active" {
		t.Errorf("vm_state %s after the start, want active", vm)
	}
}

// TestUnshelveFailureGivesBack: a failed spawn on unshelve leaves the instance
// SHELVED_OFFLOADED on no host with no allocations, a fault, and nothing on the host.
func TestUnshelveFailureGivesBack(t *testing.T) {
	e := newOpsEnv(t)
	id := e.running(t)
	snap := e.shelvedImage(t, id)
	if err := e.cast(t, id, "shelve_instance", "shelving", map[string]any{"image_id": snap, "clean_shutdown": true}); err != nil {
		t.Fatal(err)
	}
	e.pl.Allocate(id, "rp", map[string]int{"VCPU": 1}) // the scheduler's claim for the unshelve
	e.hv.InjectError("Define", virt.ErrInvalid)
	args := map[string]any{"image": map[string]any{"id": snap}, "filter_properties": map[string]any{}, "node": "cmp1"}
	if err := e.cast(t, id, "unshelve_instance", "unshelving", args); err == nil {
		t.Fatal("unshelve succeeded")
	}
	s := e.cond.Instance(id)
	vm, _ := ovo.Value[string](s, "vm_state")
	task, _ := ovo.Value[string](s, "task_state")
	host, _ := ovo.Value[string](s, "host")
	if vm != "shelved_offloaded" || task != "" || host != "" {
		t.Errorf("after the failed unshelve: %s/%q host %q, want shelved_offloaded/None on no host", vm, task, host)
	}
	if e.pl.HasAllocations(id) {
		t.Error("allocations kept after the failed unshelve")
	}
	if len(e.hv.Defined()) != 0 || exists(e.path+"/"+id) {
		t.Errorf("failed unshelve left: domains %v, dir %v", e.hv.Defined(), exists(e.path+"/"+id))
	}
	if f := e.cond.FaultMessages(id); len(f) == 0 || !strings.Contains(strings.Join(f, " "), "invalid") {
		t.Errorf("faults %q", f)
	}
	if _, ok := e.glance.Get(snap); !ok {
		t.Error("the snapshot was deleted although the unshelve failed")
	}
}

func exists(path string) bool { _, err := os.Stat(path); return err == nil }

// TestShelveAndUnshelveOnANetwork: the offload unplugs the taps and keeps the ports (nova
// 26.2.2 leaves their binding); the unshelve binds them to this host, plugs the taps again and
// waits for Neutron's network-vif-plugged before the guest runs.
func TestShelveAndUnshelveOnANetwork(t *testing.T) {
	e := newOpsEnv(t, vifWait(time.Minute, true), func(_ *Deps, o *Options) { o.Compute.ForceConfigDrive = true })
	inst := e.newInstance(t)
	id, _ := ovo.Value[string](inst, "uuid")
	e.buildPlugged(t, inst)
	port := e.net.portsOf(id)[0]
	snap := e.shelvedImage(t, id)
	if err := e.cast(t, id, "shelve_instance", "shelving", map[string]any{"image_id": snap, "clean_shutdown": true}); err != nil {
		t.Fatal(err)
	}
	if taps, _ := e.taps.List(t.Context()); len(taps) != 0 {
		t.Errorf("taps left after the offload: %v", taps)
	}
	if got := e.net.portsOf(id); len(got) != 1 || got[0] != port {
		t.Fatalf("ports after the offload %v, want %s kept", got, port)
	}
	stored := e.cond.Instance(id)
	must(t, set(stored, map[string]any{"task_state": "unshelving"}))
	stored.ObjResetChanges()
	e.cond.PutInstance(stored)
	args := map[string]any{"instance": e.cond.Instance(id), "image": map[string]any{"id": snap}, "filter_properties": map[string]any{}, "node": "cmp1"}
	done := make(chan error, 1)
	go func() {
		_, err := e.a.Endpoints()[0].Methods["unshelve_instance"](context.Background(), request(t, "unshelve_instance", args))
		done <- err
	}()
	e.waitPaused(t, id)
	if taps, _ := e.taps.List(t.Context()); len(taps) != 1 {
		t.Errorf("taps while the unshelved guest waits: %v, want its one", taps)
	}
	e.vifEvent(t, id, port, "completed")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The build recorded config_drive True, so the unshelved guest gets its drive again (with
	// its network data) although force_config_drive spares launched instances.
	if !exists(e.path + "/" + id + "/disk.config") {
		t.Error("the unshelved guest has no config drive")
	}
	if e.net.bindings != 1 || e.net.bindingHost(port) != "cmp1" {
		t.Errorf("port binding: %d setups, host %q; want one, cmp1", e.net.bindings, e.net.bindingHost(port))
	}
	if st, _ := e.hv.State(t.Context(), id); st != virt.PowerRunning {
		t.Errorf("guest %v after unshelve, want running", st)
	}
}

// TestPeriodicOffloadAfterShelvedOffloadTime: with shelved_offload_time 60, a shelve leaves
// the instance SHELVED on the host; nova's _poll_shelved_instances offloads it once it has been
// shelved longer than that, and leaves a newer one alone.
func TestPeriodicOffloadAfterShelvedOffloadTime(t *testing.T) {
	e := newOpsEnv(t, func(_ *Deps, o *Options) { o.Compute.ShelvedOffloadTime = 60 })
	ids := make([]string, 2)
	for i := range ids {
		inst := e.newInstance(t)
		ids[i], _ = ovo.Value[string](inst, "uuid")
		e.build(t, inst, nil)
		if err := e.cast(t, ids[i], "shelve_instance", "shelving", map[string]any{"image_id": e.shelvedImage(t, ids[i])}); err != nil {
			t.Fatal(err)
		}
		if vm, _ := ovo.Value[string](e.cond.Instance(ids[i]), "vm_state"); vm != "shelved" {
			t.Fatalf("after shelve: %s, want shelved", vm)
		}
	}
	old := e.cond.Instance(ids[0])
	sm, _ := ovo.Value[map[string]any](old, "system_metadata")
	sm["shelved_at"] = nowUTC().Add(-2 * time.Minute).Format("2006-01-02T15:04:05") // isoformat of a whole second
	must(t, old.Set("system_metadata", sm))
	old.ObjResetChanges()
	e.cond.PutInstance(old)
	if err := e.a.pollShelvedInstances(t.Context()); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"shelved_offloaded", "shelved"} {
		vm, _ := ovo.Value[string](e.cond.Instance(ids[i]), "vm_state")
		if vm != want {
			t.Errorf("instance %d: %s after the poll, want %s", i, vm, want)
		}
	}
	if !slices.Contains(e.cond.Events(ids[0]), "finish compute_shelve_offload_instance ok") {
		t.Errorf("events %v", e.cond.Events(ids[0]))
	}
	if len(e.hv.Defined()) != 1 {
		t.Errorf("domains %v, want only the newer shelved one", e.hv.Defined())
	}
}

// TestShelveOfPausedAndStoppedServers: a paused guest is shelved with a hard power off (it
// cannot answer the button), a stopped one as it is; both end offloaded.
func TestShelveOfPausedAndStoppedServers(t *testing.T) {
	e := newOpsEnv(t)
	for _, c := range []struct{ method, task string }{{"pause_instance", "pausing"}, {"stop_instance", "powering-off"}} {
		inst := e.newInstance(t)
		id, _ := ovo.Value[string](inst, "uuid")
		e.build(t, inst, nil)
		if err := e.cast(t, id, c.method, c.task, nil); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := e.cast(t, id, "shelve_instance", "shelving", map[string]any{"image_id": e.shelvedImage(t, id), "clean_shutdown": true}); err != nil {
			t.Fatalf("shelve after %s: %v", c.method, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("shelve after %s took %v: a paused or stopped guest must not wait for the power button", c.method, d)
		}
		if vm, _ := ovo.Value[string](e.cond.Instance(id), "vm_state"); vm != "shelved_offloaded" {
			t.Errorf("after %s and shelve: %s, want shelved_offloaded", c.method, vm)
		}
	}
}

// TestInterruptedShelveIsSettledAtStart: a shelve stopped before its snapshot was recorded
// leaves the instance settled on what the host shows (stopped: the shelve had powered it
// off); one stopped during the offload is offloaded.
func TestInterruptedShelveIsSettledAtStart(t *testing.T) {
	e := newOpsEnv(t)
	uploading := e.newInstance(t)
	uid, _ := ovo.Value[string](uploading, "uuid")
	e.build(t, uploading, nil)
	must(t, e.hv.Destroy(t.Context(), uid)) // the shelve's power-off
	stored := e.cond.Instance(uid)
	must(t, set(stored, map[string]any{"task_state": "shelving_image_uploading"}))
	e.cond.PutInstance(stored)

	offloading := e.newInstance(t)
	oid, _ := ovo.Value[string](offloading, "uuid")
	e.build(t, offloading, nil)
	e.pl.Allocate(oid, "rp", map[string]int{"VCPU": 1})
	must(t, e.hv.Destroy(t.Context(), oid))
	stored = e.cond.Instance(oid)
	must(t, set(stored, map[string]any{"vm_state": "shelved", "task_state": "shelving_offloading",
		"system_metadata": map[string]any{"shelved_image_id": uuid.NewString(), "shelved_host": "cmp1", "shelved_at": "2026-12-05T10:00:00.000000"}}))
	e.cond.PutInstance(stored)

	if err := e.a.recoverInstances(t.Context()); err != nil {
		t.Fatal(err)
	}
	e.a.work.Wait() // the offload finishes in the background
	s := e.cond.Instance(uid)
	vm, _ := ovo.Value[string](s, "vm_state")
	task, _ := ovo.Value[string](s, "task_state")
	if vm != "stopped" || task != "" {
		t.Errorf("interrupted shelve upload: %s/%q, want stopped/None", vm, task)
	}
	s = e.cond.Instance(oid)
	vm, _ = ovo.Value[string](s, "vm_state")
	host, _ := ovo.Value[string](s, "host")
	if vm != "shelved_offloaded" || host != "" || e.pl.HasAllocations(oid) || exists(e.path+"/"+oid) {
		t.Errorf("interrupted offload: %s on %q, allocations %v, dir %v; want offloaded with nothing left",
			vm, host, e.pl.HasAllocations(oid), exists(e.path+"/"+oid))
	}
}
