package agent

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/novalet/novalet/imagecache"
	"github.com/novalet/novalet/openstack/glance/glancetest"
	"github.com/novalet/novalet/rpc/ovo"
	"github.com/novalet/novalet/virt"
)

// otherImage adds a second image to Glance, the one a rebuild moves to.
func (e *opsEnv) otherImage(t *testing.T) string {
	t.Helper()
	return e.glance.Add(glancetest.Image{ID: uuid.NewString(), Name: "other", DiskFormat: "qcow2",
		Data: imagecache.FakeQcow2(2<<20, "")}).ID
}

// rebuildCastArgs is rebuild_instance's 6.1 arguments as nova-conductor casts them for a rebuild
// on the same host; extra replaces some.
func rebuildCastArgs(image, origImage string, extra map[string]any) map[string]any {
	args := map[string]any{"image_ref": image, "orig_image_ref": origImage, "new_pass": nil,
		"injected_files": []any{}, "orig_sys_metadata": map[string]any{}, "bdms": nil, "recreate": false,
		"on_shared_storage": false, "preserve_ephemeral": false, "migration": nil, "scheduled_node": "cmp1",
		"limits": nil, "request_spec": nil, "accel_uuids": []any{}, "reimage_boot_volume": false}
	for k, v := range extra {
		args[k] = v
	}
	return args
}

// rebuild is the user's rebuild: nova-api writes the new image_ref and task_state
// rebuilding, then the conductor casts rebuild_instance.
func (e *opsEnv) rebuild(t *testing.T, id, image string, extra map[string]any) error {
	t.Helper()
	stored := e.cond.Instance(id)
	must(t, stored.Set("image_ref", image))
	e.cond.PutInstance(stored)
	return e.cast(t, id, "rebuild_instance", "rebuilding", rebuildCastArgs(image, e.image, extra))
}

// imageCalls lists the image cache's calls from the n-th on, as "Op image-or-path".
func (e *opsEnv) imageCalls(n int) []string {
	var out []string
	for _, c := range e.images.Calls()[n:] {
		out = append(out, strings.TrimSpace(c.Op+" "+c.ImageID))
	}
	return out
}

func (e *opsEnv) countCasts(method string) int {
	n := 0
	for _, m := range e.caster.methods() {
		if m == method {
			n++
		}
	}
	return n
}

// TestRebuildFollowsNova: nova's task states and expected states, the guest remade from the
// new image through the image cache (a new overlay on the new base), the config drive made
// again with the new admin password and the new metadata, the domain naming the new image,
// launched_at renewed, the action event and the scheduler told.
func TestRebuildFollowsNova(t *testing.T) {
	e := newOpsEnv(t, func(_ *Deps, o *Options) { o.Compute.ForceConfigDrive = true })
	inst := e.newInstance(t)
	id, _ := ovo.Value[string](inst, "uuid")
	e.build(t, inst, nil)
	image := e.otherImage(t)
	stored := e.cond.Instance(id)
	// An old launch, so the renewal shows even within the second the build ran in.
	must(t, stored.Set("launched_at", time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)))
	must(t, stored.Set("metadata", map[string]any{"role": "rebuilt"}))
	e.cond.PutInstance(stored)
	saves, calls, updates := len(e.cond.InstanceSaves()), len(e.images.Calls()), e.countCasts("scheduler.update_instance_info")
	time.Sleep(2 * time.Millisecond) // launched_at must move on

	if err := e.rebuild(t, id, image, map[string]any{"new_pass": "NEWPASS-1"}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"rebuilding [rebuilding]",
		"rebuild_block_device_mapping [rebuilding]",
		"rebuild_spawning [rebuild_block_device_mapping]",
		" [rebuild_spawning]",
	}
	if got := e.taskSequence(saves); !slices.Equal(got, want) {
		t.Errorf("task states\n got %q\nwant %q", got, want)
	}
	for _, s := range e.cond.InstanceSaves()[saves:] {
		if s.VMState != "active" {
			t.Errorf("save with vm_state %q during the rebuild", s.VMState)
		}
	}
	last := e.cond.InstanceSaves()[len(e.cond.InstanceSaves())-1]
	if last.PowerState != int64(virt.PowerRunning) {
		t.Errorf("power_state %d after the rebuild", last.PowerState)
	}
	if launch, _ := ovo.Value[time.Time](e.cond.Instance(id), "launched_at"); launch.Year() == 2020 || launch.IsZero() {
		t.Errorf("launched_at %v not renewed (was 2020-01-02)", launch)
	}
	base := filepath.Join(e.images.BaseDir(), imagecache.BaseName(image))
	gotCalls := e.imageCalls(calls)
	if !slices.Equal(gotCalls, []string{"Ensure " + image, "CreateOverlay", "BuildConfigDrive"}) {
		t.Errorf("image cache calls %q", gotCalls)
	}
	if c := e.images.Calls()[calls+1]; c.Path != base {
		t.Errorf("overlay on %s, want the new image's base %s", c.Path, base)
	}
	md, err := e.hv.Metadata(t.Context(), id)
	if err != nil || md.Root == nil || md.Root.UUID != image {
		t.Errorf("domain metadata root %+v %v, want image %s", md.Root, err, image)
	}
	if st, _ := e.hv.State(t.Context(), id); st != virt.PowerRunning {
		t.Errorf("guest %v after the rebuild", st)
	}
	_, files, err := imagecache.ReadFakeConfigDrive(filepath.Join(e.path, id, virt.ConfigDriveFile))
	if err != nil {
		t.Fatal(err)
	}
	var meta map[string]any
	must(t, json.Unmarshal(files["openstack/latest/meta_data.json"], &meta))
	if meta["admin_pass"] != "NEWPASS-1" {
		t.Errorf("config drive admin_pass %v, want the new password", meta["admin_pass"])
	}
	if m, _ := meta["meta"].(map[string]any); m["role"] != "rebuilt" {
		t.Errorf("config drive meta %v, want the instance's new metadata", meta["meta"])
	}
	if ev := e.cond.Events(id); !slices.Contains(ev, "finish compute_rebuild_instance ok") {
		t.Errorf("events %v", ev)
	}
	if n := e.countCasts("scheduler.update_instance_info"); n != updates+1 {
		t.Errorf("%d update_instance_info casts after the rebuild, want %d", n, updates+1)
	}
	if len(e.cond.FaultMessages(id)) != 0 {
		t.Errorf("faults %v", e.cond.FaultMessages(id))
	}
}

// TestRebuildKeepsPortsAndReplugsTaps: the ports stay allocated and bound, the taps are made
// again for the new guest; the spawn waits for network-vif-plugged only for a port Neutron
// reports down (nova's _get_neutron_events), after the info cache was brought up to date.
func TestRebuildKeepsPortsAndReplugsTaps(t *testing.T) {
	e := newOpsEnv(t, vifWait(time.Minute, true))
	taps := &hookedTaps{Fake: e.taps}
	e.a.c.taps = taps
	inst := e.newInstance(t)
	id, _ := ovo.Value[string](inst, "uuid")
	done := e.buildInBackground(t, inst, onNetworks(t, testNetworkID))
	e.waitPaused(t, id)
	port := e.net.portsOf(id)[0]
	e.vifEvent(t, id, port, "completed")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	tapsBefore := e.taps.Taps()

	// The port is up in Neutron although the cache from the build says down: no wait.
	e.net.setUp(port, true)
	if err := e.rebuild(t, id, e.otherImage(t), nil); err != nil {
		t.Fatal(err)
	}
	if vm, task, _ := e.instanceState(t, id); vm != "active" || task != "" {
		t.Fatalf("after the rebuild: %s/%s", vm, task)
	}
	if got := e.net.portsOf(id); !slices.Equal(got, []string{port}) || e.net.bindingHost(port) != "cmp1" {
		t.Errorf("ports %v bound to %q, want %s kept on cmp1", got, e.net.bindingHost(port), port)
	}
	if e.net.allocs != 1 || e.net.deallocs != 0 {
		t.Errorf("%d allocations, %d deallocations: a rebuild keeps the ports", e.net.allocs, e.net.deallocs)
	}
	if taps.plugs != 2 || !slices.Equal(e.taps.Taps(), tapsBefore) {
		t.Errorf("%d plugs, taps %v (were %v): want the tap made again", taps.plugs, e.taps.Taps(), tapsBefore)
	}
	if ic := e.cond.InfoCache(id); !strings.Contains(ic, `"active": true`) && !strings.Contains(ic, `"active":true`) {
		t.Errorf("info cache not healed: %s", ic)
	}

	// Down in Neutron: the spawn starts the guest paused and waits for the event.
	e.net.setUp(port, false)
	stored := e.cond.Instance(id)
	ic, _ := ovo.Value[*ovo.Object](stored, "info_cache")
	must(t, ic.Set("network_info", strings.ReplaceAll(strings.ReplaceAll(e.cond.InfoCache(id), `"active": true`, `"active": false`), `"active":true`, `"active":false`)))
	e.cond.PutInstance(stored)
	errc := make(chan error, 1)
	go func() { errc <- e.rebuild(t, id, e.image, nil) }()
	e.waitPaused(t, id)
	e.vifEvent(t, id, port, "completed")
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if st, _ := e.hv.State(t.Context(), id); st != virt.PowerRunning {
		t.Errorf("guest %v after the second rebuild", st)
	}
}

// TestRebuildOfStoppedServerEndsStopped: nova brings the rebuilt guest back to stopped with its
// own stop_instance (tempest test_rebuild_server_in_stop_state).
func TestRebuildOfStoppedServerEndsStopped(t *testing.T) {
	e := newOpsEnv(t)
	inst := e.newInstance(t)
	id, _ := ovo.Value[string](inst, "uuid")
	e.build(t, inst, nil)
	if err := e.cast(t, id, "stop_instance", "powering-off", map[string]any{"clean_shutdown": true}); err != nil {
		t.Fatal(err)
	}
	saves := len(e.cond.InstanceSaves())
	if err := e.rebuild(t, id, e.otherImage(t), nil); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range e.cond.InstanceSaves()[saves:] {
		got = append(got, s.VMState+"/"+s.TaskState+" "+s.Expected)
	}
	want := []string{
		"stopped/rebuilding [rebuilding]",
		"stopped/rebuild_block_device_mapping [rebuilding]",
		"stopped/rebuild_spawning [rebuild_block_device_mapping]",
		"active/ [rebuild_spawning]",
		"active/powering-off ",
		"stopped/ [powering-off]",
	}
	if !slices.Equal(got, want) {
		t.Errorf("saves\n got %q\nwant %q", got, want)
	}
	if vm, task, _ := e.instanceState(t, id); vm != "stopped" || task != "" {
		t.Errorf("after the rebuild: %s/%s", vm, task)
	}
	if st, _ := e.hv.State(t.Context(), id); st != virt.PowerShutdown {
		t.Errorf("guest %v, want shut off", st)
	}
	ev := e.cond.Events(id)
	if !slices.Contains(ev, "finish compute_stop_instance ok") || !slices.Contains(ev, "finish compute_rebuild_instance ok") {
		t.Errorf("events %v", ev)
	}
}

// TestRebuildFailureErrorsAndLeavesNothing: a spawn that fails leaves the instance in error
// with a fault and nothing of the half-made guest (domain, tap, directory); the ports stay,
// the instance's to release on delete (the end-of-test check deletes it and finds nothing).
func TestRebuildFailureErrorsAndLeavesNothing(t *testing.T) {
	e := newOpsEnv(t)
	inst := e.newInstance(t)
	id, _ := ovo.Value[string](inst, "uuid")
	e.build(t, inst, onNetworks(t, testNetworkID))
	port := e.net.portsOf(id)[0]
	e.hv.InjectError("Start", errors.New("qemu died"))
	if err := e.rebuild(t, id, e.otherImage(t), nil); err == nil {
		t.Fatal("a failed rebuild reported success")
	}
	if vm, task, _ := e.instanceState(t, id); vm != "error" || task != "" {
		t.Errorf("after a failed rebuild: %s/%s, want error/None", vm, task)
	}
	if f := e.cond.FaultMessages(id); len(f) != 1 || !strings.Contains(f[0], "qemu died") {
		t.Errorf("faults %v", f)
	}
	if ev := e.cond.Events(id); !slices.ContainsFunc(ev, func(s string) bool {
		return strings.HasPrefix(s, "finish compute_rebuild_instance") && !strings.HasSuffix(s, " ok")
	}) {
		t.Errorf("events %v, want compute_rebuild_instance failed", ev)
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
	if got := e.net.portsOf(id); !slices.Equal(got, []string{port}) {
		t.Errorf("ports %v, want %s kept", got, port)
	}

	// From error, a rebuild that works brings the instance back.
	if err := e.rebuild(t, id, e.image, nil); err != nil {
		t.Fatal(err)
	}
	if vm, _, _ := e.instanceState(t, id); vm != "active" {
		t.Errorf("rebuild from error: %s", vm)
	}
}

// TestRebuildRefusals: preserve_ephemeral is refused as nova's libvirt path refuses it (after
// the rebuilding save, inside the error-out block: error state, a fault, the guest untouched);
// an image Glance does not have leaves the instance as it was, with a fault; an evacuation
// (recreate) is refused like the other unimplemented casts.
func TestRebuildRefusals(t *testing.T) {
	e := newOpsEnv(t)
	inst := e.newInstance(t)
	id, _ := ovo.Value[string](inst, "uuid")
	e.build(t, inst, nil)

	if err := e.rebuild(t, id, uuid.NewString(), nil); err == nil || !strings.Contains(err.Error(), "could not be found") {
		t.Errorf("rebuild to a missing image: %v", err)
	}
	if vm, task, _ := e.instanceState(t, id); vm != "active" || task != "" {
		t.Errorf("after a missing image: %s/%s, want active/None", vm, task)
	}

	if err := e.rebuild(t, id, e.image, map[string]any{"recreate": true}); err == nil || !strings.Contains(err.Error(), "evacuate") {
		t.Errorf("evacuate: %v", err)
	}
	if vm, task, _ := e.instanceState(t, id); vm != "active" || task != "" {
		t.Errorf("after a refused evacuate: %s/%s, want active/None", vm, task)
	}

	saves := len(e.cond.InstanceSaves())
	err := e.rebuild(t, id, e.image, map[string]any{"preserve_ephemeral": true})
	if err == nil || !strings.Contains(err.Error(), "PreserveEphemeralNotSupported") {
		t.Errorf("preserve_ephemeral: %v", err)
	}
	if vm, task, _ := e.instanceState(t, id); vm != "error" || task != "" {
		t.Errorf("after preserve_ephemeral: %s/%s, want error/None", vm, task)
	}
	if got := e.taskSequence(saves); len(got) == 0 || got[0] != "rebuilding [rebuilding]" {
		t.Errorf("task states %q", got)
	}
	if f := e.cond.FaultMessages(id); !slices.ContainsFunc(f, func(s string) bool { return strings.Contains(s, "preserving ephemeral partitions") }) {
		t.Errorf("faults %v", f)
	}
	if st, _ := e.hv.State(t.Context(), id); st != virt.PowerRunning {
		t.Errorf("guest %v, want left running", st)
	}
}

// TestRecoveryOfAnInterruptedRebuild: nova's _init_instance sets an active or stopped
// instance found in any rebuild task state to error with no task state.
func TestRecoveryOfAnInterruptedRebuild(t *testing.T) {
	e := newOpsEnv(t)
	var ids []string
	for _, c := range []struct{ vm, task string }{{"active", "rebuilding"}, {"active", "rebuild_block_device_mapping"},
		{"stopped", "rebuild_spawning"}} {
		inst := e.newInstance(t)
		id, _ := ovo.Value[string](inst, "uuid")
		e.build(t, inst, nil)
		stored := e.cond.Instance(id)
		must(t, set(stored, map[string]any{"vm_state": c.vm, "task_state": c.task}))
		e.cond.PutInstance(stored)
		ids = append(ids, id)
	}
	if err := e.a.recoverInstances(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if vm, task, _ := e.instanceState(t, id); vm != "error" || task != "" {
			t.Errorf("%s after recovery: %s/%s, want error/None", id, vm, task)
		}
	}
}
