package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"

	"github.com/google/uuid"

	"github.com/novalet/novalet/config"
	"github.com/novalet/novalet/imagecache"
	"github.com/novalet/novalet/netplug/netplugtest"
	"github.com/novalet/novalet/openstack/glance/glancetest"
	"github.com/novalet/novalet/openstack/placement"
	"github.com/novalet/novalet/openstack/placement/placementtest"
	"github.com/novalet/novalet/rpc"
	"github.com/novalet/novalet/rpc/ovo"
	"github.com/novalet/novalet/virt"
	"github.com/novalet/novalet/virt/virttest"
)

// cast is one recorded cast.
type cast struct {
	Target rpc.Target
	Method string
	Args   map[string]any
}

type recordingCaster struct {
	mu      sync.Mutex
	casts   []cast
	calls   []cast
	callErr error // what every Call returns
}

func (r *recordingCaster) Call(_ context.Context, t rpc.Target, _ rpc.Context, method string, args map[string]any, _ rpc.CallOptions) (json.RawMessage, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, cast{Target: t, Method: method, Args: args})
	if r.callErr != nil {
		return nil, r.callErr
	}
	return json.RawMessage("null"), nil
}

func (r *recordingCaster) Cast(_ context.Context, t rpc.Target, _ rpc.Context, method string, args map[string]any) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.casts = append(r.casts, cast{Target: t, Method: method, Args: args})
	return nil
}

func (r *recordingCaster) methods() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, c := range r.casts {
		out = append(out, c.Target.Topic+"."+c.Method)
	}
	return out
}

// opsEnv is an agent with instance operations on fakes.
type opsEnv struct {
	a      *Agent
	cond   *fakeConductor
	hv     *virttest.Fake
	images *imagecache.Fake
	caster *recordingCaster
	glance *glancetest.Server
	pl     *placementtest.Server
	net    *fakeNetwork
	taps   *netplugtest.Fake
	image  string
	path   string
	nextID int64
}

// newOpsEnv builds the environment; tweak may change the ports and options after the
// defaults are set.
func newOpsEnv(t *testing.T, tweak ...func(*Deps, *Options)) *opsEnv {
	t.Helper()
	e := &opsEnv{cond: newFakeConductor(), hv: virttest.NewFake(), caster: &recordingCaster{}, glance: glancetest.New(t), path: t.TempDir(),
		net: newFakeNetwork(), taps: netplugtest.NewFake()}
	var err error
	if e.images, err = imagecache.NewFake(e.path); err != nil {
		t.Fatal(err)
	}
	e.image = e.glance.Add(glancetest.Image{ID: uuid.NewString(), DiskFormat: "qcow2", Data: imagecache.FakeQcow2(1<<20, "")}).ID
	var sc *gophercloud.ServiceClient
	e.pl, sc = placementtest.New(t)
	pl := placement.New(sc, discardLogger())
	e.a = testAgent(t, e.cond, t.TempDir(), pl, func(d *Deps, o *Options) {
		d.Hypervisor, d.Images, d.Caster, d.Network, d.Taps = e.hv, e.images, e.caster, e.net, e.taps
		o.Compute = ComputeOptions{InstancesPath: e.path, MaxConcurrentBuilds: 2, TrackInstanceChanges: true,
			ShutdownTimeout: 2 * time.Second, SoftRebootTimeout: 2 * time.Second,
			Glance:  glanceConf(e.glance.URL),
			Console: ConsoleOptions{VNCEnabled: true, NoVNCProxyBaseURL: "http://proxy:6080/vnc_auto.html", ProxyClientAddress: "10.0.0.5", TokenTTL: 600},
			Domain:  DomainDefaults{VirtType: "qemu", VNCListen: "0.0.0.0", NovaVersion: "26.2.2"}}
		for _, f := range tweak {
			f(d, o)
		}
	})
	// Operations tests do not Start the agent: the report client a first pass would connect.
	e.a.rt.report.Store(&reportClientBox{pl})
	t.Cleanup(func() { e.deleteAllAndCheckClean(t) })
	return e
}

// deleteAllAndCheckClean ends every operations test, like KubeVirt's leak-checking libvirt
// mock: the user deletes every instance still on the host (task_state deleting, then the
// terminate_instance cast, as nova-api does), and then nothing may be left behind: no domain,
// no tap, no port, no instance directory (only the image cache's directories stay).
func (e *opsEnv) deleteAllAndCheckClean(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // t.Context() is done by now
	defer cancel()
	if err := e.a.Drain(ctx); err != nil {
		t.Errorf("clean-up: %v", err)
	}
	terminate := e.a.Endpoints()[0].Methods["terminate_instance"]
	for _, id := range e.cond.InstancesOnHost(e.a.Host()) {
		inst := e.cond.Instance(id)
		if vm, _ := ovo.Value[string](inst, "vm_state"); vm == "deleted" {
			continue
		}
		must(t, inst.Set("task_state", "deleting"))
		e.cond.PutInstance(inst)
		if _, err := terminate(ctx, request(t, "terminate_instance", map[string]any{"instance": e.cond.Instance(id), "bdms": nil})); err != nil {
			t.Errorf("clean-up: terminate_instance %s: %v", id, err)
		}
	}
	e.hv.CheckClean(t)
	e.taps.CheckClean(t)
	e.net.CheckClean(t)
	entries, err := os.ReadDir(e.path)
	if err != nil {
		t.Errorf("instances_path: %v", err)
	}
	for _, de := range entries {
		if !slices.Contains([]string{"_base", "locks", "snapshots"}, de.Name()) {
			t.Errorf("left under instances_path: %s", de.Name())
		}
	}
	// nova's snapshots_directory stays, empty: every snapshot removes its work directory.
	if left, _ := os.ReadDir(filepath.Join(e.path, "snapshots")); len(left) > 0 {
		t.Errorf("left in the snapshots directory: %v", left)
	}
}

// newInstance stores a scheduled instance (as nova-api and the conductor leave it).
func (e *opsEnv) newInstance(t *testing.T) *ovo.Object {
	t.Helper()
	flavor, _ := ovo.New("Flavor")
	must(t, set(flavor, map[string]any{"name": "tiny", "vcpus": int64(1), "memory_mb": int64(256), "root_gb": int64(1),
		"ephemeral_gb": int64(0), "swap": int64(0), "flavorid": "t1", "id": int64(1)}))
	inst, _ := ovo.New("Instance")
	e.nextID++
	must(t, set(inst, map[string]any{"uuid": uuid.NewString(), "id": e.nextID, "display_name": "vm1", "hostname": "vm1",
		"vm_state": "building", "task_state": "scheduling", "power_state": int64(0), "flavor": flavor,
		"system_metadata": map[string]any{}, "metadata": map[string]any{}, "project_id": "p1", "user_id": "u1",
		"image_ref": e.image, "config_drive": "", "launch_index": int64(0)}))
	inst.ObjResetChangesRecursive()
	e.cond.PutInstance(inst)
	return inst
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// request builds an RPC request as the dispatcher hands it over.
func request(t *testing.T, method string, args map[string]any) *rpc.Request {
	t.Helper()
	req := &rpc.Request{Method: method, Args: map[string]json.RawMessage{}, Context: rpc.Context{"request_id": "req-1", "auth_token": "tok", "roles": []any{"member"}}}
	for k, v := range args {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		req.Args[k] = b
	}
	return req
}

func (e *opsEnv) build(t *testing.T, inst *ovo.Object, extra map[string]any) {
	t.Helper()
	if _, err := e.a.buildAndRunInstance(t.Context(), e.buildRequest(t, inst, extra)); err != nil {
		t.Fatal(err)
	}
}

// buildRequest is build_and_run_instance's request as the conductor casts it; extra replaces
// arguments (requested_networks is `--nic none` unless replaced).
func (e *opsEnv) buildRequest(t *testing.T, inst *ovo.Object, extra map[string]any) *rpc.Request {
	t.Helper()
	args := map[string]any{"instance": inst, "image": map[string]any{"id": e.image, "properties": map[string]any{}},
		"filter_properties": map[string]any{}, "host_list": []any{}, "requested_networks": nil}
	noNet, _ := ovo.New("NetworkRequestList")
	nr, _ := ovo.New("NetworkRequest")
	must(t, nr.Set("network_id", "none"))
	must(t, noNet.Set("objects", []*ovo.Object{nr}))
	args["requested_networks"] = noNet
	for k, v := range extra {
		args[k] = v
	}
	return request(t, "build_and_run_instance", args)
}

func (e *opsEnv) states() []string {
	var out []string
	for _, s := range e.cond.InstanceSaves() {
		out = append(out, s.VMState+"/"+s.TaskState)
	}
	return out
}

func TestBuildStateSequenceThenDelete(t *testing.T) {
	e := newOpsEnv(t)
	inst := e.newInstance(t)
	id, _ := ovo.Value[string](inst, "uuid")
	e.build(t, inst, nil)

	want := []string{"building/", "building/", "building/networking", "building/block_device_mapping", "building/spawning", "active/"}
	if got := e.states(); !slices.Equal(got, want) {
		t.Fatalf("saves %v, want %v", got, want)
	}
	saves := e.cond.InstanceSaves()
	last := saves[len(saves)-1]
	exp := []string{saves[0].Expected, saves[2].Expected, saves[4].Expected, last.Expected}
	if last.PowerState != 1 || last.Host != "cmp1" {
		t.Errorf("final save %+v", last)
	}
	if !slices.Equal(exp, []string{"[scheduling <nil>]", "[<nil>]", "[block_device_mapping]", "[spawning]"}) {
		t.Errorf("expected_task_state of the checked saves: %v", exp)
	}
	if st, err := e.hv.State(t.Context(), id); err != nil || st != virt.PowerRunning {
		t.Fatalf("domain state %v %v", st, err)
	}
	if !slices.Contains(e.caster.methods(), "scheduler.update_instance_info") {
		t.Errorf("casts %v lack update_instance_info", e.caster.methods())
	}
	if events := e.cond.Events(""); !slices.Equal(events, []string{"start compute__do_build_and_run_instance", "finish compute__do_build_and_run_instance ok"}) {
		t.Errorf("events %v", events)
	}

	stored := e.cond.Instance(id)
	must(t, stored.Set("task_state", "deleting"))
	stored.ObjResetChanges()
	e.cond.PutInstance(stored)
	if _, err := e.a.terminateInstance(t.Context(), request(t, "terminate_instance", map[string]any{"instance": stored, "bdms": nil})); err != nil {
		t.Fatal(err)
	}
	if len(e.hv.Defined()) != 0 {
		t.Errorf("domains left: %v", e.hv.Defined())
	}
	if _, err := os.Stat(filepath.Join(e.path, id)); !os.IsNotExist(err) {
		t.Errorf("instance directory left: %v", err)
	}
	if destroyed := e.cond.Destroyed(); !slices.Equal(destroyed, []string{id}) {
		t.Errorf("destroyed %v", destroyed)
	}
	if !slices.Contains(e.caster.methods(), "scheduler.delete_instance_info") {
		t.Errorf("casts %v lack delete_instance_info", e.caster.methods())
	}
	// A repeated delete of what is already gone converges without a failure.
	if _, err := e.a.terminateInstance(t.Context(), request(t, "terminate_instance", map[string]any{"instance": stored})); err != nil {
		t.Fatalf("second terminate: %v", err)
	}
}

func TestBuildWithBadImageAbortsAndLeavesNothing(t *testing.T) {
	e := newOpsEnv(t)
	inst := e.newInstance(t)
	id, _ := ovo.Value[string](inst, "uuid")
	e.images.FailNext("Ensure", fmt.Errorf("%w: image content is qcow2 but its disk_format is raw", imagecache.ErrCorrupt))
	e.build(t, inst, map[string]any{"filter_properties": map[string]any{"retry": map[string]any{"num_attempts": 1}}})

	stored := e.cond.Instance(id)
	if vm, _ := ovo.Value[string](stored, "vm_state"); vm != "error" {
		t.Errorf("vm_state %q, want error", vm)
	}
	if h, ok := stored.Get("host"); ok && h != nil {
		t.Errorf("host %v, want None", h)
	}
	if faults := e.cond.FaultMessages(""); len(faults) != 1 || !strings.Contains(faults[0], "aborted: Image "+e.image+" is unacceptable") {
		t.Errorf("faults %v", faults)
	}
	if slices.Contains(e.caster.methods(), "conductor.build_instances") {
		t.Error("a bad image was rescheduled")
	}
	if len(e.hv.Defined()) != 0 {
		t.Errorf("domains left: %v", e.hv.Defined())
	}
	if _, err := os.Stat(filepath.Join(e.path, id)); !os.IsNotExist(err) {
		t.Errorf("instance directory left: %v", err)
	}
}

func TestSpawnFailureReschedulesOrErrors(t *testing.T) {
	e := newOpsEnv(t)
	inst := e.newInstance(t)
	id, _ := ovo.Value[string](inst, "uuid")
	e.hv.InjectError("Start", fmt.Errorf("qemu died: %w", virt.ErrUnavailable))
	e.build(t, inst, map[string]any{"filter_properties": map[string]any{"retry": map[string]any{"num_attempts": 1}},
		"host_list": []any{}})
	stored := e.cond.Instance(id)
	if task, _ := ovo.Value[string](stored, "task_state"); task != "scheduling" {
		t.Errorf("task_state %q after a reschedule, want scheduling", task)
	}
	found := false
	for _, c := range e.caster.casts {
		if c.Method == "build_instances" {
			found = c.Target.Topic == "conductor" && c.Target.Namespace == "compute_task" && c.Target.Version == "1.19"
			if _, ok := c.Args["host_lists"]; !ok {
				t.Error("build_instances without host_lists")
			}
		}
	}
	if !found {
		t.Errorf("no build_instances cast to conductor/compute_task 1.19: %v", e.caster.methods())
	}
	if len(e.hv.Defined()) != 0 {
		t.Errorf("domains left after a failed spawn: %v", e.hv.Defined())
	}

	// Without retry information the build ends in error with a fault.
	inst2 := e.newInstance(t)
	id2, _ := ovo.Value[string](inst2, "uuid")
	e.hv.InjectError("Start", errors.New("qemu died"))
	e.build(t, inst2, nil)
	if vm, _ := ovo.Value[string](e.cond.Instance(id2), "vm_state"); vm != "error" || len(e.cond.FaultMessages("")) != 1 {
		t.Errorf("vm_state %q faults %v", vm, e.cond.FaultMessages(""))
	}
}

// deletingOnStart is the hypervisor of a build the user deletes while the guest starts: its
// Start marks the stored instance task_state deleting, as nova-api does.
type deletingOnStart struct {
	*virttest.Fake
	cond *fakeConductor
	id   string
}

func (h deletingOnStart) Start(ctx context.Context, uuid string, paused bool) error {
	stored := h.cond.Instance(h.id)
	_ = stored.Set("task_state", "deleting")
	h.cond.PutInstance(stored)
	return h.Fake.Start(ctx, uuid, paused)
}

func TestDeletedDuringBuildLeavesNoGuest(t *testing.T) {
	e := newOpsEnv(t)
	inst := e.newInstance(t)
	id, _ := ovo.Value[string](inst, "uuid")
	e.a.c.hv = deletingOnStart{Fake: e.hv, cond: e.cond, id: id}
	e.build(t, inst, nil)
	if task, _ := ovo.Value[string](e.cond.Instance(id), "task_state"); task != "deleting" {
		t.Fatalf("task_state %q: the build overwrote the user's delete", task)
	}
	if len(e.hv.Defined()) != 0 {
		t.Errorf("guest of a build deleted meanwhile left: %v", e.hv.Defined())
	}
	if _, err := os.Stat(filepath.Join(e.path, id)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("instance directory of a build deleted meanwhile left: %v", err)
	}
}

func TestPowerOperationsFollowNova(t *testing.T) {
	e := newOpsEnv(t)
	inst := e.newInstance(t)
	id, _ := ovo.Value[string](inst, "uuid")
	e.build(t, inst, nil)
	op := func(method, task string, args map[string]any) {
		t.Helper()
		stored := e.cond.Instance(id)
		must(t, stored.Set("task_state", task))
		stored.ObjResetChanges()
		e.cond.PutInstance(stored)
		if args == nil {
			args = map[string]any{}
		}
		args["instance"] = stored
		if _, err := e.a.Endpoints()[0].Methods[method](t.Context(), request(t, method, args)); err != nil {
			t.Fatalf("%s: %v", method, err)
		}
	}
	check := func(what, vm string, power virt.PowerState) {
		t.Helper()
		s := e.cond.Instance(id)
		v, _ := ovo.Value[string](s, "vm_state")
		task, _ := ovo.Value[string](s, "task_state")
		p, _ := ovo.Value[int64](s, "power_state")
		if v != vm || task != "" || p != int64(power) {
			t.Errorf("after %s: vm_state %q task_state %q power_state %d, want %q None %d", what, v, task, p, vm, power)
		}
	}
	op("stop_instance", "powering-off", map[string]any{"clean_shutdown": true})
	check("stop", "stopped", virt.PowerShutdown)
	op("start_instance", "powering-on", nil)
	check("start", "active", virt.PowerRunning)
	op("reboot_instance", "rebooting", map[string]any{"reboot_type": "SOFT"})
	check("soft reboot", "active", virt.PowerRunning)
	op("reboot_instance", "rebooting_hard", map[string]any{"reboot_type": "HARD"})
	check("hard reboot", "active", virt.PowerRunning)
	op("pause_instance", "pausing", nil)
	check("pause", "paused", virt.PowerPaused)
	op("unpause_instance", "unpausing", nil)
	check("unpause", "active", virt.PowerRunning)
	op("suspend_instance", "suspending", nil)
	check("suspend", "suspended", virt.PowerShutdown)
	op("resume_instance", "resuming", nil)
	check("resume", "active", virt.PowerRunning)

	// A request whose task state was overtaken (the user deleted meanwhile) changes nothing.
	stored := e.cond.Instance(id)
	must(t, stored.Set("task_state", "deleting"))
	e.cond.PutInstance(stored)
	stale := e.cond.Instance(id)
	must(t, stale.Set("task_state", "powering-off"))
	stale.ObjResetChanges()
	if _, err := e.a.stopInstance(t.Context(), request(t, "stop_instance", map[string]any{"instance": stale})); err == nil {
		t.Error("stop with a stale task state succeeded")
	}
	if task, _ := ovo.Value[string](e.cond.Instance(id), "task_state"); task != "deleting" {
		t.Errorf("task_state %q after a refused stop, want deleting left alone", task)
	}
}

func TestConsolesAndUnsupported(t *testing.T) {
	e := newOpsEnv(t)
	inst := e.newInstance(t)
	id, _ := ovo.Value[string](inst, "uuid")
	e.build(t, inst, nil)
	stored := e.cond.Instance(id)
	res, err := e.a.getVNCConsole(t.Context(), request(t, "get_vnc_console", map[string]any{"instance": stored, "console_type": "novnc"}))
	if err != nil {
		t.Fatal(err)
	}
	m := res.(map[string]any)
	if m["host"] != "10.0.0.5" || !strings.HasPrefix(m["access_url"].(string), "http://proxy:6080/vnc_auto.html?path=%3Ftoken%3D") {
		t.Errorf("console %v", m)
	}
	ok, err := e.a.validateConsolePort(t.Context(), request(t, "validate_console_port", map[string]any{"instance": stored, "console_type": "novnc", "port": fmt.Sprint(m["port"])}))
	if err != nil || ok != true {
		t.Errorf("validate_console_port = %v %v", ok, err)
	}
	if _, err := e.a.getVNCConsole(t.Context(), request(t, "get_vnc_console", map[string]any{"instance": stored, "console_type": "spice-html5"})); err == nil ||
		!strings.Contains(err.Error(), "Invalid console type") {
		t.Errorf("spice console: %v", err)
	}
	log := filepath.Join(e.path, id, "console.log")
	must(t, os.WriteFile(log, []byte("one\ntwo\nthree\xff\n"), 0o644))
	out, err := e.a.getConsoleOutput(t.Context(), request(t, "get_console_output", map[string]any{"instance": stored, "tail_length": 2}))
	if err != nil || out != "three\uFFFD\n" {
		t.Errorf("console output %q %v", out, err)
	}

	must(t, stored.Set("task_state", "soft-deleting"))
	stored.ObjResetChanges()
	e.cond.PutInstance(stored)
	methods := e.a.Endpoints()[0].Methods
	if _, err := methods["soft_delete_instance"](t.Context(), request(t, "soft_delete_instance", map[string]any{"instance": stored})); err == nil {
		t.Error("soft delete succeeded")
	}
	if task, _ := ovo.Value[string](e.cond.Instance(id), "task_state"); task != "" {
		t.Errorf("task_state %q left after an unsupported cast", task)
	}
	var re *rpc.RemoteError
	if _, err := methods["get_serial_console"](t.Context(), request(t, "get_serial_console", nil)); !errors.As(err, &re) || re.Class != "NotImplementedError" {
		t.Errorf("get_serial_console: %v", err)
	}
}

func TestRecoveryAfterACrash(t *testing.T) {
	e := newOpsEnv(t)
	// An interrupted build with a half-made guest.
	building := e.newInstance(t)
	bid, _ := ovo.Value[string](building, "uuid")
	e.build(t, building, nil)
	stored := e.cond.Instance(bid)
	must(t, set(stored, map[string]any{"vm_state": "building", "task_state": "spawning", "host": "cmp1"}))
	e.cond.PutInstance(stored)
	// An interrupted delete.
	deleting := e.newInstance(t)
	did, _ := ovo.Value[string](deleting, "uuid")
	e.build(t, deleting, nil)
	stored = e.cond.Instance(did)
	must(t, set(stored, map[string]any{"task_state": "deleting"}))
	e.cond.PutInstance(stored)
	// An orphan: the user deleted it while the host was away (nova-api's local delete marks
	// the row deleted and leaves the guest).
	orphan := e.newInstance(t)
	oid, _ := ovo.Value[string](orphan, "uuid")
	e.build(t, orphan, nil)
	stored = e.cond.Instance(oid)
	must(t, set(stored, map[string]any{"deleted": true, "vm_state": "deleted"}))
	e.cond.PutInstance(stored)
	// A stranger: a guest whose uuid the database does not know at all (a wrong cell or
	// transport_url would make every guest look so): left alone, disks and all.
	stranger := e.newInstance(t)
	sid, _ := ovo.Value[string](stranger, "uuid")
	e.build(t, stranger, nil)
	e.cond.DropInstance(sid)
	// And a healthy one.
	fine := e.newInstance(t)
	fid, _ := ovo.Value[string](fine, "uuid")
	e.build(t, fine, nil)

	obs := &keptObserver{}
	e.a.obs = obs
	if err := e.a.recoverInstances(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := obs.got(); !slices.Equal(got, []string{"instance/unknown_to_cell"}) {
		t.Errorf("kept in doubt %v, want the stranger counted", got)
	}
	if vm, _ := ovo.Value[string](e.cond.Instance(bid), "vm_state"); vm != "error" {
		t.Errorf("interrupted build: vm_state %q", vm)
	}
	if faults := e.cond.FaultMessages(""); !slices.ContainsFunc(faults, func(f string) bool { return strings.Contains(f, "stopped during the build") }) {
		t.Errorf("faults %v", faults)
	}
	if e.cond.Instance(did) != nil {
		t.Error("interrupted delete not finished")
	}
	defined := e.hv.Defined()
	if len(defined) != 2 {
		t.Errorf("domains after recovery %v, want the healthy one and the stranger", defined)
	}
	if _, err := os.Stat(filepath.Join(e.path, sid, "disk")); err != nil {
		t.Errorf("the disk of a guest the database does not know was removed: %v", err)
	}
	// The operator removes the stranger by hand (the leak check at the end wants a clean host).
	must(t, e.a.removeInstanceFromHost(t.Context(), sid, discardLogger()))
	for _, id := range []string{bid, did, oid} {
		if _, err := os.Stat(filepath.Join(e.path, id)); !os.IsNotExist(err) {
			t.Errorf("directory of %s left", id)
		}
	}
	if st, err := e.hv.State(t.Context(), fid); err != nil || st != virt.PowerRunning {
		t.Errorf("healthy instance %v %v", st, err)
	}
}

func TestMaxConcurrentBuilds(t *testing.T) {
	e := newOpsEnv(t)
	e.a.c.builds = make(chan struct{}, 1)
	release := e.glance.Hold()
	var wg sync.WaitGroup
	for range 2 {
		inst := e.newInstance(t)
		wg.Add(1)
		go func() { defer wg.Done(); e.build(t, inst, nil) }()
	}
	// One build holds the only slot, stuck in the download; the other waits for the slot and
	// has not asked the cache for anything yet.
	if err := e.glance.WaitStarted(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	ensures := 0
	for _, c := range e.images.Calls() {
		if c.Op == "Ensure" {
			ensures++
		}
	}
	release()
	wg.Wait()
	if ensures != 1 {
		t.Errorf("%d builds reached the image cache with max_concurrent_builds = 1", ensures)
	}
	if n := len(e.hv.Defined()); n != 2 {
		t.Errorf("%d domains after both builds, want 2", n)
	}
}

func glanceConf(url string) config.Glance { return config.Glance{APIServers: []string{url}} }
