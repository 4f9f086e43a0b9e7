package agent

import (
	"context"
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/novalet/novalet/imagecache"
	"github.com/novalet/novalet/netplug/netplugtest"
	"github.com/novalet/novalet/rpc/ovo"
	"github.com/novalet/novalet/virt"
	"github.com/novalet/novalet/virt/virttest"
)

// Resize and cold migration between two hosts on fakes: two agents (cmp1 at 127.0.0.1 and
// cmp2 at 127.0.0.2) share the conductor, Placement, Glance and Neutron fakes; each has its
// own hypervisor, taps and instances_path, and a fake remote filesystem reaches the other's
// instances_path as ssh would.

// fakeRemote is RemoteFS between test hosts: a remote path is the same path under the other
// host's instances_path (nova's layout: the same instances_path everywhere).
type fakeRemote struct {
	mu       sync.Mutex
	ownRoot  string
	roots    map[string]string // host or address -> its instances_path
	calls    []string
	failCopy error
	onCopy   func(src string) error // when set, runs before each copy; its error fails it
}

func (f *fakeRemote) local(host, path string) (string, error) {
	root, ok := f.roots[host]
	if !ok {
		return "", errors.New("ssh: Could not resolve hostname " + host)
	}
	rel, err := filepath.Rel(f.ownRoot, path)
	if err != nil || strings.HasPrefix(rel, "..") {
		return "", errors.New("fakeRemote: " + path + " is outside instances_path")
	}
	return filepath.Join(root, rel), nil
}

func (f *fakeRemote) record(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, s)
}

func (f *fakeRemote) CreateFile(_ context.Context, host, path string) error {
	f.record("create_file " + host)
	p, err := f.local(host, path)
	if err != nil {
		return err
	}
	return os.WriteFile(p, nil, 0o644)
}

func (f *fakeRemote) RemoveFile(_ context.Context, host, path string) error {
	f.record("remove_file " + host)
	p, err := f.local(host, path)
	if err != nil {
		return err
	}
	return os.Remove(p)
}

func (f *fakeRemote) CreateDir(_ context.Context, host, path string) error {
	f.record("create_dir " + host + " " + filepath.Base(path))
	p, err := f.local(host, path)
	if err != nil {
		return err
	}
	return os.MkdirAll(p, 0o755)
}

func (f *fakeRemote) RemoveDir(_ context.Context, host, path string) error {
	f.record("remove_dir " + host + " " + filepath.Base(path))
	p, err := f.local(host, path)
	if err != nil {
		return err
	}
	return os.RemoveAll(p)
}

func (f *fakeRemote) CopyFile(_ context.Context, src, dst string, compression bool) error {
	resolve := func(arg string) (string, error) {
		if host, path, ok := strings.Cut(arg, ":"); ok {
			return f.local(host, path)
		}
		return arg, nil
	}
	c := "copy " + filepath.Base(src)
	if compression {
		c += " -C"
	}
	f.record(c)
	if f.failCopy != nil && strings.HasSuffix(src, "disk.config") {
		return f.failCopy
	}
	if f.onCopy != nil {
		if err := f.onCopy(src); err != nil {
			return err
		}
	}
	s, err := resolve(src)
	if err != nil {
		return err
	}
	d, err := resolve(dst)
	if err != nil {
		return err
	}
	in, err := os.Open(s)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(d)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}

// newPeerEnv is a second host beside e: its own agent (host cmp2, my_ip 127.0.0.2),
// hypervisor, taps, image cache and instances_path; the conductor, Placement, Glance and
// Neutron are e's. Both get a fakeRemote reaching the other.
func newPeerEnv(t *testing.T, e *opsEnv) (*opsEnv, *fakeRemote, *fakeRemote) {
	t.Helper()
	p := &opsEnv{cond: e.cond, hv: virttest.NewFake(), caster: &recordingCaster{}, glance: e.glance, path: t.TempDir(),
		net: e.net, taps: netplugtest.NewFake(), pl: e.pl, image: e.image}
	var err error
	if p.images, err = imagecache.NewFake(p.path); err != nil {
		t.Fatal(err)
	}
	r1 := &fakeRemote{ownRoot: e.path, roots: map[string]string{"127.0.0.2": p.path, "cmp2": p.path}}
	r2 := &fakeRemote{ownRoot: p.path, roots: map[string]string{"127.0.0.1": e.path, "cmp1": e.path}}
	e.a.c.remote = r1
	pl := e.a.rt.reportClient()
	p.a = testAgent(t, e.cond, t.TempDir(), nil, func(d *Deps, o *Options) {
		d.Hypervisor, d.Images, d.Caster, d.Network, d.Taps, d.Remote = p.hv, p.images, p.caster, p.net, p.taps, r2
		o.Host = "cmp2"
		o.Resources.MyIP = "127.0.0.2"
		o.Compute = e.a.c.opts
		o.Compute.InstancesPath = p.path
	})
	p.a.rt.report.Store(&reportClientBox{pl})
	// The fakes compare paths to instances_path: the copied disk's backing file names the
	// source's _base, as between hosts with one instances_path.
	t.Cleanup(func() { p.deleteAllAndCheckClean(t) })
	return p, r1, r2
}

// hop hands the last cast of method that from sent to the host it names (to), as RabbitMQ
// would.
func hop(t *testing.T, from, to *opsEnv, method string) error {
	t.Helper()
	from.caster.mu.Lock()
	var last *cast
	for i := range from.caster.casts {
		if c := from.caster.casts[i]; c.Method == method {
			last = &c
		}
	}
	from.caster.mu.Unlock()
	if last == nil {
		t.Fatalf("%s sent no %s", from.a.Host(), method)
	}
	if last.Target.Server != to.a.Host() {
		t.Fatalf("%s cast to %q, want %s", method, last.Target.Server, to.a.Host())
	}
	_, err := to.a.Endpoints()[0].Methods[method](t.Context(), request(t, method, last.Args))
	return err
}

// startMove is nova-api and the conductor for a move of id from e to dest with flavor, then
// prep_resize cast to dest.
func (e *opsEnv) startMove(t *testing.T, dest *opsEnv, id string, flavor *ovo.Object) string {
	t.Helper()
	m, _ := ovo.New("Migration")
	migID := uuid.NewString()
	newType, _ := ovo.Value[int64](flavor, "id")
	typ := "resize"
	if newType == 1 {
		typ = "migration"
	}
	must(t, set(m, map[string]any{"id": int64(7), "uuid": migID, "status": "pre-migrating", "migration_type": typ,
		"instance_uuid": id, "old_instance_type_id": int64(1), "new_instance_type_id": newType,
		"source_compute": e.a.Host(), "source_node": e.a.Host(), "dest_compute": nil, "dest_node": nil, "dest_host": nil}))
	e.cond.PutMigration(m)
	e.pl.Allocate(migID, testRP, oldAlloc)
	e.pl.Allocate(id, testRP, newAlloc)
	err := dest.cast(t, id, "prep_resize", taskResizePrep, map[string]any{"flavor": flavor,
		"image": map[string]any{"id": e.image, "properties": map[string]any{}}, "request_spec": nil,
		"filter_properties": map[string]any{}, "node": dest.a.Host(), "clean_shutdown": true,
		"migration": e.cond.Migration(migID), "host_list": []any{}})
	if err != nil {
		t.Fatalf("prep_resize: %v", err)
	}
	return migID
}

func (e *opsEnv) str(id, field string) string {
	s, _ := ovo.Value[string](e.cond.Instance(id), field)
	return s
}

// TestColdMigrationBetweenHostsThenConfirm: cmp1 -> cmp2 in nova's layout: the shared-path
// probe and mkdir over "ssh", <uuid>_resize on the source, disk uncompressed and disk.config
// compressed to the destination, the instance on cmp2 with its ports bound there and its
// guest running, the source guest defined but off; the confirm on cmp1 undefines it and
// removes <uuid>_resize, leaving nothing on cmp1.
func TestColdMigrationBetweenHostsThenConfirm(t *testing.T) {
	e := newOpsEnv(t)
	id := e.newResizable(t)
	p, r1, _ := newPeerEnv(t, e)
	migID := e.startMove(t, p, id, testFlavor(t, 1, 1, 256, 1, "tiny"))
	if m := e.cond.Migration(migID); m == nil {
		t.Fatal("migration lost")
	}
	if err := hop(t, p, e, "resize_instance"); err != nil {
		t.Fatalf("resize_instance: %v", err)
	}
	want := []string{"create_file 127.0.0.2", "create_dir 127.0.0.2 " + id, "copy disk", "copy disk.config -C", "copy disk.info -C"}
	if got := r1.calls; !slices.Equal(got, want) {
		t.Fatalf("remote calls %q, want %q", got, want)
	}
	if !exists(filepath.Join(e.path, id+"_resize", "disk")) || exists(filepath.Join(e.path, id)) {
		t.Fatal("the source did not rename its directory to <uuid>_resize")
	}
	if st, _ := e.hv.State(t.Context(), id); st != virt.PowerShutdown {
		t.Fatalf("source guest %v, want shut off", st)
	}
	if e.str(id, "host") != "cmp2" {
		t.Fatalf("host %q after resize_instance", e.str(id, "host"))
	}
	if err := hop(t, e, p, "finish_resize"); err != nil {
		t.Fatalf("finish_resize: %v", err)
	}
	if vm := e.str(id, "vm_state"); vm != vmResized {
		t.Fatalf("vm_state %q after finish_resize", vm)
	}
	if st, _ := p.hv.State(t.Context(), id); st != virt.PowerRunning {
		t.Fatalf("destination guest %v, want running", st)
	}
	for _, f := range []string{"disk", "disk.config"} {
		if !exists(filepath.Join(p.path, id, f)) {
			t.Fatalf("%s not on the destination", f)
		}
	}
	if got := e.cond.MigrationStatuses(migID); !slices.Equal(got, []string{"pre-migrating", "migrating", "post-migrating", "finished"}) {
		t.Fatalf("migration statuses %q", got)
	}
	if err := e.apiMoveRequest(t, id, migID, "confirm_resize", "", "confirming"); err != nil {
		t.Fatalf("confirm_resize: %v", err)
	}
	if vm := e.str(id, "vm_state"); vm != vmActive {
		t.Fatalf("vm_state %q after confirm", vm)
	}
	if slices.Contains(e.hv.Defined(), id) || exists(filepath.Join(e.path, id+"_resize")) {
		t.Fatal("confirm left the source domain or <uuid>_resize")
	}
	if e.pl.HasAllocations(migID) || !maps.Equal(e.pl.Allocations(id), newAlloc) {
		t.Fatalf("allocations after confirm: migration %v, instance %v", e.pl.Allocations(migID), e.pl.Allocations(id))
	}
}

// TestResizeBetweenHostsThenRevert: cmp1 -> cmp2 with a larger flavor, then revert: the
// destination's guest and files go, the source gets <uuid>_resize back, the old flavor, the
// old host, the migration's allocation back, and its guest running again.
func TestResizeBetweenHostsThenRevert(t *testing.T) {
	e := newOpsEnv(t)
	id := e.newResizable(t)
	p, _, _ := newPeerEnv(t, e)
	migID := e.startMove(t, p, id, testFlavor(t, 2, 2, 512, 2, "small"))
	must(t, hop(t, p, e, "resize_instance"))
	must(t, hop(t, e, p, "finish_resize"))
	if got := p.rootDiskSize(t, id); got != 2<<30 {
		t.Fatalf("destination root disk %d bytes, want 2 GiB", got)
	}
	if v, m := p.domainFlavor(t, id); v != 2 || m != 512*1024 {
		t.Fatalf("destination domain: %d vCPUs, %d KiB", v, m)
	}
	if err := p.apiMoveRequest(t, id, migID, "revert_resize", taskResizeReverting, "reverting"); err != nil {
		t.Fatalf("revert_resize: %v", err)
	}
	if slices.Contains(p.hv.Defined(), id) || exists(filepath.Join(p.path, id)) {
		t.Fatal("revert left the destination's domain or files")
	}
	if err := hop(t, p, e, "finish_revert_resize"); err != nil {
		t.Fatalf("finish_revert_resize: %v", err)
	}
	if vm, host := e.str(id, "vm_state"), e.str(id, "host"); vm != vmActive || host != "cmp1" {
		t.Fatalf("after revert: vm_state %q host %q", vm, host)
	}
	if e.flavorID(id, "flavor") != 1 {
		t.Fatalf("flavor %d after revert", e.flavorID(id, "flavor"))
	}
	if st, _ := e.hv.State(t.Context(), id); st != virt.PowerRunning {
		t.Fatalf("source guest %v after revert, want running", st)
	}
	if exists(filepath.Join(e.path, id+"_resize")) || !exists(filepath.Join(e.path, id, "disk")) {
		t.Fatal("<uuid>_resize not moved back")
	}
	if e.pl.HasAllocations(migID) || !maps.Equal(e.pl.Allocations(id), oldAlloc) {
		t.Fatalf("allocations after revert: migration %v, instance %v", e.pl.Allocations(migID), e.pl.Allocations(id))
	}
}

// TestMigrationCopyFailureRollsBackOnTheSource: a copy that fails leaves the instance's
// directory back in place on the source, nothing on the destination, and the migration in
// error with the allocations back on the instance.
func TestMigrationCopyFailureRollsBackOnTheSource(t *testing.T) {
	e := newOpsEnv(t)
	id := e.newResizable(t)
	p, r1, _ := newPeerEnv(t, e)
	r1.failCopy = errors.New("scp: Connection closed")
	migID := e.startMove(t, p, id, testFlavor(t, 1, 1, 256, 1, "tiny"))
	if err := hop(t, p, e, "resize_instance"); err == nil {
		t.Fatal("resize_instance succeeded with a failing copy")
	}
	if !exists(filepath.Join(e.path, id, "disk")) || exists(filepath.Join(e.path, id+"_resize")) {
		t.Fatal("the source directory was not moved back")
	}
	if exists(filepath.Join(p.path, id)) {
		t.Fatal("the destination directory was left")
	}
	if !slices.Contains(r1.calls, "remove_dir 127.0.0.2 "+id) {
		t.Fatalf("remote calls %q lack the destination's clean-up", r1.calls)
	}
	if st := e.cond.MigrationStatuses(migID); st[len(st)-1] != "error" {
		t.Fatalf("migration statuses %q", st)
	}
	if e.pl.HasAllocations(migID) || !maps.Equal(e.pl.Allocations(id), oldAlloc) {
		t.Fatalf("allocations: migration %v, instance %v", e.pl.Allocations(migID), e.pl.Allocations(id))
	}
}

// TestStoppedNetworkedInstanceMigratesBetweenHosts: a stopped instance with a port moves to
// cmp2 and stays stopped: its port is bound to cmp2, its tap is on cmp2 and no longer on cmp1,
// and the confirm leaves it stopped.
func TestStoppedNetworkedInstanceMigratesBetweenHosts(t *testing.T) {
	e := newOpsEnv(t)
	inst := e.newInstance(t)
	must(t, inst.Set("config_drive", "True"))
	must(t, inst.Set("instance_type_id", int64(1)))
	inst.ObjResetChanges()
	e.cond.PutInstance(inst)
	id, _ := ovo.Value[string](inst, "uuid")
	e.build(t, e.cond.Instance(id), onNetworks(t, testNetworkID))
	e.pl.Allocate(id, testRP, oldAlloc)
	ports := e.net.portsOf(id)
	if len(ports) != 1 || len(e.taps.Taps()) != 1 {
		t.Fatalf("ports %v, taps %v after the build", ports, e.taps.Taps())
	}
	if err := e.cast(t, id, "stop_instance", taskPoweringOff, map[string]any{"clean_shutdown": false}); err != nil {
		t.Fatal(err)
	}
	p, _, _ := newPeerEnv(t, e)
	migID := e.startMove(t, p, id, testFlavor(t, 1, 1, 256, 1, "tiny"))
	must(t, hop(t, p, e, "resize_instance"))
	must(t, hop(t, e, p, "finish_resize"))
	if st, _ := p.hv.State(t.Context(), id); st != virt.PowerShutdown {
		t.Fatalf("a stopped instance's guest is %v on the destination", st)
	}
	e.net.mu.Lock()
	bound := e.net.hosts[ports[0]]
	e.net.mu.Unlock()
	if bound != "cmp2" {
		t.Fatalf("port bound to %q after finish_resize, want cmp2", bound)
	}
	if len(p.taps.Taps()) != 1 || len(e.taps.Taps()) != 0 {
		t.Fatalf("taps: destination %v, source %v", p.taps.Taps(), e.taps.Taps())
	}
	must(t, e.apiMoveRequest(t, id, migID, "confirm_resize", "", "confirming"))
	if vm := e.str(id, "vm_state"); vm != vmStopped {
		t.Fatalf("vm_state %q after confirm, want stopped", vm)
	}
	if slices.Contains(e.hv.Defined(), id) || len(p.taps.Taps()) != 1 {
		t.Fatalf("after confirm: source domain %v, destination taps %v", e.hv.Defined(), p.taps.Taps())
	}
}
