package agent

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
	"libvirt.org/go/libvirtxml"

	"github.com/novalet/novalet/rpc/ovo"
	"github.com/novalet/novalet/virt"
)

const testRP = "0f0e0d0c-0b0a-4000-8000-000000000001"

var (
	oldAlloc = map[string]int{"VCPU": 1, "MEMORY_MB": 256, "DISK_GB": 1}
	newAlloc = map[string]int{"VCPU": 2, "MEMORY_MB": 512, "DISK_GB": 2}
)

func testFlavor(t *testing.T, id, vcpus, mem, root int64, name string) *ovo.Object {
	t.Helper()
	f, _ := ovo.New("Flavor")
	must(t, set(f, map[string]any{"name": name, "vcpus": vcpus, "memory_mb": mem, "root_gb": root,
		"ephemeral_gb": int64(0), "swap": int64(0), "flavorid": name, "id": id}))
	f.ObjResetChanges()
	return f
}

// newResizable builds an instance (tiny: 1 vCPU, 256 MB, 1 GB, a config drive) whose
// allocation the scheduler made against this node.
func (e *opsEnv) newResizable(t *testing.T) string {
	t.Helper()
	inst := e.newInstance(t)
	must(t, inst.Set("config_drive", "True"))
	must(t, inst.Set("instance_type_id", int64(1)))
	inst.ObjResetChanges()
	e.cond.PutInstance(inst)
	id, _ := ovo.Value[string](inst, "uuid")
	e.build(t, e.cond.Instance(id), nil)
	e.pl.Allocate(id, testRP, oldAlloc)
	return id
}

// startResize is nova-api and the conductor: task_state resize_prep, a Migration
// pre-migrating, the old allocation moved to the migration consumer and the new flavor
// claimed for the instance; then prep_resize is cast to this host. It returns the migration.
func (e *opsEnv) startResize(t *testing.T, id string, flavor *ovo.Object) string {
	t.Helper()
	return e.startMove(t, e, id, flavor)
}

// deliver hands the last cast of method to this host's handler, as RabbitMQ would.
func (e *opsEnv) deliver(t *testing.T, method string) error {
	t.Helper()
	e.caster.mu.Lock()
	var last *cast
	for i := range e.caster.casts {
		if c := e.caster.casts[i]; c.Method == method {
			last = &c
		}
	}
	e.caster.mu.Unlock()
	if last == nil {
		t.Fatalf("no %s was cast", method)
	}
	if last.Target.Server != e.a.Host() {
		t.Fatalf("%s cast to %q, want this host", method, last.Target.Server)
	}
	_, err := e.a.Endpoints()[0].Methods[method](t.Context(), request(t, method, last.Args))
	return err
}

// apiMoveRequest is nova-api's confirm or revert: the migration's status and the task state
// it writes, then the cast.
func (e *opsEnv) apiMoveRequest(t *testing.T, id, migID, method, task, status string) error {
	t.Helper()
	m := e.cond.Migration(migID)
	must(t, m.Set("status", status))
	e.cond.PutMigration(m)
	return e.cast(t, id, method, task, map[string]any{"migration": e.cond.Migration(migID), "request_spec": nil})
}

func (e *opsEnv) domainFlavor(t *testing.T, id string) (vcpus uint, memKiB uint) {
	t.Helper()
	raw, err := e.hv.DomainXML(t.Context(), id)
	must(t, err)
	var d libvirtxml.Domain
	must(t, d.Unmarshal(raw))
	return d.VCPU.Value, d.Memory.Value
}

func (e *opsEnv) rootDiskSize(t *testing.T, id string) uint64 {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(e.path, id, "disk"))
	must(t, err)
	return binary.BigEndian.Uint64(raw[24:32])
}

func (e *opsEnv) flavorID(id, field string) int64 {
	f, _ := ovo.Value[*ovo.Object](e.cond.Instance(id), field)
	if f == nil {
		return 0
	}
	n, _ := ovo.Value[int64](f, "id")
	return n
}

// TestResizeThenConfirmFollowsNova: a same-host resize from tiny to small walks nova's task
// states and migration statuses, grows the root disk, redefines the guest with the new flavor
// and keeps <uuid>_resize until the confirm, which removes it, drops the migration's
// allocation and leaves the instance active on the new flavor.
func TestResizeThenConfirmFollowsNova(t *testing.T) {
	e := newOpsEnv(t)
	id := e.newResizable(t)
	n := len(e.cond.InstanceSaves())
	migID := e.startResize(t, id, testFlavor(t, 2, 2, 512, 2, "small"))
	if err := e.deliver(t, "resize_instance"); err != nil {
		t.Fatalf("resize_instance: %v", err)
	}
	if !exists(filepath.Join(e.path, id+"_resize", "disk")) || !exists(filepath.Join(e.path, id, "disk.config")) {
		t.Fatal("the source did not keep <uuid>_resize and copy the disks back")
	}
	if err := e.deliver(t, "finish_resize"); err != nil {
		t.Fatalf("finish_resize: %v", err)
	}
	want := []string{
		"active/resize_prep ",                       // new_flavor, old_vm_state
		"active/resize_prep ",                       // migration_context
		"active/resize_migrating [resize_prep]",     // source
		"active/resize_migrated [resize_migrating]", // old_flavor, host, node
		"active/resize_finish [resize_migrated]",    // the new flavor
		"resized/ [resize_finish]",                  // VERIFY_RESIZE
	}
	if got := e.saveSequence(n); !slices.Equal(got, want) {
		t.Fatalf("saves:\n got %q\nwant %q", got, want)
	}
	if got := e.cond.MigrationStatuses(migID); !slices.Equal(got, []string{"pre-migrating", "migrating", "post-migrating", "finished"}) {
		t.Fatalf("migration statuses %q", got)
	}
	stored := e.cond.Instance(id)
	if v, _ := ovo.Value[int64](stored, "vcpus"); v != 2 || e.flavorID(id, "flavor") != 2 || e.flavorID(id, "old_flavor") != 1 {
		t.Fatalf("after finish: vcpus %d, flavor %d, old_flavor %d", v, e.flavorID(id, "flavor"), e.flavorID(id, "old_flavor"))
	}
	if mc, _ := ovo.Value[*ovo.Object](stored, "migration_context"); mc == nil {
		t.Fatal("no migration_context recorded")
	} else if mid, _ := ovo.Value[int64](mc, "migration_id"); mid != 7 {
		t.Fatalf("migration_context.migration_id = %d", mid)
	}
	if v, m := e.domainFlavor(t, id); v != 2 || m != 512*1024 {
		t.Fatalf("domain: %d vCPUs, %d KiB", v, m)
	}
	if st, _ := e.hv.State(t.Context(), id); st != virt.PowerRunning {
		t.Fatalf("guest power state %v after finish, want running", st)
	}
	if got := e.rootDiskSize(t, id); got != 2<<30 {
		t.Fatalf("root disk %d bytes, want 2 GiB", got)
	}
	for _, ev := range []string{"compute_prep_resize", "compute_resize_instance", "compute_finish_resize"} {
		if ev := "finish " + ev + " ok"; !slices.Contains(e.cond.Events(id), ev) {
			t.Fatalf("events %q lack %q", e.cond.Events(id), ev)
		}
	}

	if err := e.apiMoveRequest(t, id, migID, "confirm_resize", "", "confirming"); err != nil {
		t.Fatalf("confirm_resize: %v", err)
	}
	stored = e.cond.Instance(id)
	if vm, _ := ovo.Value[string](stored, "vm_state"); vm != vmActive {
		t.Fatalf("vm_state %q after confirm", vm)
	}
	if e.flavorID(id, "old_flavor") != 0 || e.flavorID(id, "new_flavor") != 0 || e.flavorID(id, "flavor") != 2 {
		t.Fatal("stashed flavors not cleared or flavor lost")
	}
	if mc, _ := ovo.Value[*ovo.Object](stored, "migration_context"); mc != nil {
		t.Fatal("migration_context not dropped")
	}
	if _, ok := e.cond.Instance(id).Get("system_metadata"); ok && strings.Contains(e.sysmetaString(id), sysmetaOldVMState) {
		t.Fatal("old_vm_state not removed")
	}
	if exists(filepath.Join(e.path, id+"_resize")) || !exists(filepath.Join(e.path, id, "disk")) {
		t.Fatal("confirm did not remove <uuid>_resize alone")
	}
	if e.pl.HasAllocations(migID) || !maps.Equal(e.pl.Allocations(id), newAlloc) {
		t.Fatalf("allocations after confirm: migration %v, instance %v", e.pl.Allocations(migID), e.pl.Allocations(id))
	}
	if st := e.cond.MigrationStatuses(migID); st[len(st)-1] != "confirmed" {
		t.Fatalf("migration statuses %q", st)
	}
	if !slices.Contains(e.cond.Events(id), "finish compute_confirm_resize ok") {
		t.Fatalf("events %q", e.cond.Events(id))
	}
}

func (e *opsEnv) sysmetaString(id string) string {
	m, _ := ovo.Value[map[string]any](e.cond.Instance(id), "system_metadata")
	return strings.Join(slices.Collect(maps.Keys(m)), ",")
}

// TestResizeRevertOfStoppedInstance: a stopped instance stays off through the resize; the
// revert removes the resized guest on the destination, gives the old allocation back, moves
// <uuid>_resize back, redefines the guest on the old flavor and leaves it stopped.
func TestResizeRevertOfStoppedInstance(t *testing.T) {
	e := newOpsEnv(t)
	id := e.newResizable(t)
	if err := e.cast(t, id, "stop_instance", taskPoweringOff, map[string]any{"clean_shutdown": false}); err != nil {
		t.Fatal(err)
	}
	migID := e.startResize(t, id, testFlavor(t, 2, 2, 512, 2, "small"))
	must(t, e.deliver(t, "resize_instance"))
	must(t, e.deliver(t, "finish_resize"))
	if st, _ := e.hv.State(t.Context(), id); st != virt.PowerShutdown {
		t.Fatalf("a stopped instance's guest is %v after finish", st)
	}
	if err := e.apiMoveRequest(t, id, migID, "revert_resize", taskResizeReverting, "reverting"); err != nil {
		t.Fatalf("revert_resize: %v", err)
	}
	if err := e.deliver(t, "finish_revert_resize"); err != nil {
		t.Fatalf("finish_revert_resize: %v", err)
	}
	stored := e.cond.Instance(id)
	vm, _ := ovo.Value[string](stored, "vm_state")
	task, _ := ovo.Value[string](stored, "task_state")
	if vm != vmStopped || task != "" {
		t.Fatalf("after revert: %s/%s, want stopped/None", vm, task)
	}
	if e.flavorID(id, "flavor") != 1 || e.flavorID(id, "old_flavor") != 0 || e.flavorID(id, "new_flavor") != 0 {
		t.Fatal("old flavor not restored or stashed flavors kept")
	}
	if v, m := e.domainFlavor(t, id); v != 1 || m != 256*1024 {
		t.Fatalf("domain after revert: %d vCPUs, %d KiB", v, m)
	}
	if exists(filepath.Join(e.path, id+"_resize")) || e.rootDiskSize(t, id) != 1<<30 {
		t.Fatal("the kept directory did not come back in place")
	}
	if e.pl.HasAllocations(migID) || !maps.Equal(e.pl.Allocations(id), oldAlloc) {
		t.Fatalf("allocations after revert: migration %v, instance %v", e.pl.Allocations(migID), e.pl.Allocations(id))
	}
	st := e.cond.MigrationStatuses(migID)
	if st[len(st)-1] != "reverted" {
		t.Fatalf("migration statuses %q", st)
	}
	for _, ev := range []string{"finish compute_revert_resize ok", "finish compute_finish_revert_resize ok", "finish compute_stop_instance ok"} {
		if !slices.Contains(e.cond.Events(id), ev) {
			t.Fatalf("events %q lack %q", e.cond.Events(id), ev)
		}
	}
}

// TestResizeRevertOfActiveInstance: the guest runs again on the old flavor.
func TestResizeRevertOfActiveInstance(t *testing.T) {
	e := newOpsEnv(t)
	id := e.newResizable(t)
	migID := e.startResize(t, id, testFlavor(t, 2, 2, 512, 2, "small"))
	must(t, e.deliver(t, "resize_instance"))
	must(t, e.deliver(t, "finish_resize"))
	must(t, e.apiMoveRequest(t, id, migID, "revert_resize", taskResizeReverting, "reverting"))
	must(t, e.deliver(t, "finish_revert_resize"))
	if vm, _ := ovo.Value[string](e.cond.Instance(id), "vm_state"); vm != vmActive {
		t.Fatalf("vm_state %q after revert", vm)
	}
	if st, _ := e.hv.State(t.Context(), id); st != virt.PowerRunning {
		t.Fatalf("guest %v after revert, want running", st)
	}
}

// TestResizeDownIsRolledBack: libvirt refuses to shrink the root disk before it powers the
// guest off: InstanceFaultRollback, so the instance is back to active with no task, the
// migration is in error, the fault says why, and the allocations are the instance's again.
func TestResizeDownIsRolledBack(t *testing.T) {
	e := newOpsEnv(t)
	id := e.newResizable(t)
	migID := e.startResize(t, id, testFlavor(t, 3, 1, 256, 0, "zero"))
	if err := e.deliver(t, "resize_instance"); err == nil {
		t.Fatal("resize_instance to a smaller disk succeeded")
	}
	stored := e.cond.Instance(id)
	vm, _ := ovo.Value[string](stored, "vm_state")
	task, _ := ovo.Value[string](stored, "task_state")
	if vm != vmActive || task != "" {
		t.Fatalf("after the refused resize: %s/%s", vm, task)
	}
	if st := e.cond.MigrationStatuses(migID); st[len(st)-1] != "error" {
		t.Fatalf("migration statuses %q", st)
	}
	if msgs := e.cond.FaultMessages(id); len(msgs) == 0 || !strings.Contains(msgs[len(msgs)-1], "Unable to resize disk down") {
		t.Fatalf("faults %q", msgs)
	}
	if !slices.Contains(e.cond.Events(id), "finish compute_resize_instance error") {
		t.Fatalf("events %q", e.cond.Events(id))
	}
	if e.pl.HasAllocations(migID) || !maps.Equal(e.pl.Allocations(id), oldAlloc) {
		t.Fatal("allocations not given back to the instance")
	}
	if st, _ := e.hv.State(t.Context(), id); st != virt.PowerRunning || exists(filepath.Join(e.path, id+"_resize")) {
		t.Fatal("the refused resize touched the guest or its files")
	}
}

// TestColdMigrationToSelfIsRefused: same flavor on the same host is a cold migration, which
// the libvirt driver cannot do here: UnableToMigrateToSelf as a rollback.
func TestColdMigrationToSelfIsRefused(t *testing.T) {
	e := newOpsEnv(t)
	id := e.newResizable(t)
	migID, err := e.migrateToSelf(t, id, map[string]any{}, []any{})
	if err == nil || !strings.Contains(err.Error(), "UnableToMigrateToSelf") {
		t.Fatalf("prep_resize = %v, want UnableToMigrateToSelf", err)
	}
	if vm, _ := ovo.Value[string](e.cond.Instance(id), "vm_state"); vm != vmActive {
		t.Fatalf("vm_state %q", vm)
	}
	if st := e.cond.MigrationStatuses(migID); !slices.Equal(st, []string{"error"}) {
		t.Fatalf("migration statuses %q", st)
	}
	if e.countCasts("resize_instance") != 0 {
		t.Fatal("resize_instance cast after a refused prep_resize")
	}
}

// migrateToSelf sends prep_resize for a cold migration of id to this very host (which the
// libvirt driver refuses) with the scheduler's filter properties and alternates, and returns
// the migration's uuid and the handler's error.
func (e *opsEnv) migrateToSelf(t *testing.T, id string, filterProperties map[string]any, hostList []any) (string, error) {
	t.Helper()
	e.pl.Allocate(id, testRP, oldAlloc)
	m, _ := ovo.New("Migration")
	migID := uuid.NewString()
	must(t, set(m, map[string]any{"id": int64(8), "uuid": migID, "status": "pre-migrating", "migration_type": "migration",
		"instance_uuid": id, "old_instance_type_id": int64(1), "new_instance_type_id": int64(1),
		"source_compute": e.a.Host(), "source_node": e.a.Host()}))
	e.cond.PutMigration(m)
	err := e.cast(t, id, "prep_resize", taskResizePrep, map[string]any{"flavor": testFlavor(t, 1, 1, 256, 1, "tiny"),
		"image": map[string]any{}, "request_spec": nil, "filter_properties": filterProperties, "node": e.a.Host(),
		"clean_shutdown": true, "migration": e.cond.Migration(migID), "host_list": hostList})
	return migID, err
}

// TestFinishResizeFailureErrorsOut: the guest cannot be defined with the new flavor: error
// with a fault, the old flavor back, the migration in error and its allocations deleted (the
// instance keeps the new flavor's); the delete that follows leaves nothing, <uuid>_resize
// included.
func TestFinishResizeFailureErrorsOut(t *testing.T) {
	e := newOpsEnv(t)
	id := e.newResizable(t)
	migID := e.startResize(t, id, testFlavor(t, 2, 2, 512, 2, "small"))
	must(t, e.deliver(t, "resize_instance"))
	e.hv.InjectError("Define", errors.New("libvirt: internal error"))
	if err := e.deliver(t, "finish_resize"); err == nil {
		t.Fatal("finish_resize succeeded")
	}
	stored := e.cond.Instance(id)
	vm, _ := ovo.Value[string](stored, "vm_state")
	task, _ := ovo.Value[string](stored, "task_state")
	if vm != vmError || task != "" || e.flavorID(id, "flavor") != 1 {
		t.Fatalf("after the failed finish: %s/%s flavor %d", vm, task, e.flavorID(id, "flavor"))
	}
	if st := e.cond.MigrationStatuses(migID); st[len(st)-1] != "error" {
		t.Fatalf("migration statuses %q", st)
	}
	if e.pl.HasAllocations(migID) || !maps.Equal(e.pl.Allocations(id), newAlloc) {
		t.Fatal("the migration's allocations not deleted")
	}
	if len(e.cond.FaultMessages(id)) == 0 {
		t.Fatal("no fault")
	}
}

// TestRecoveryRevertsResizeMigrating: a stop while the disks were being moved: start-up puts
// <uuid>_resize back, starts the guest on its flavor, and clears the task state.
func TestRecoveryRevertsResizeMigrating(t *testing.T) {
	e := newOpsEnv(t)
	id := e.newResizable(t)
	must(t, e.a.powerOff(t.Context(), id, false, e.a.log))
	dir := filepath.Join(e.path, id)
	must(t, os.Rename(dir, dir+"_resize"))
	must(t, os.Mkdir(dir, 0o755))
	stored := e.cond.Instance(id)
	must(t, stored.Set("task_state", taskResizeMigrating))
	e.cond.PutInstance(stored)
	inst, err := decodeInstance(mustJSON(t, e.cond.Instance(id)))
	must(t, err)
	e.a.recoverInstance(t.Context(), request(t, "x", nil).Context, inst)
	if exists(dir+"_resize") || !exists(filepath.Join(dir, "disk")) {
		t.Fatal("the kept directory did not come back")
	}
	if st, _ := e.hv.State(t.Context(), id); st != virt.PowerRunning {
		t.Fatalf("guest %v after recovery", st)
	}
	if task, _ := ovo.Value[string](e.cond.Instance(id), "task_state"); task != "" {
		t.Fatalf("task_state %q after recovery", task)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	must(t, err)
	return b
}

// TestRecoveryClearsResizePrep: nova clears resize_prep at start-up and touches nothing else.
func TestRecoveryClearsResizePrep(t *testing.T) {
	e := newOpsEnv(t)
	id := e.newResizable(t)
	stored := e.cond.Instance(id)
	must(t, stored.Set("task_state", taskResizePrep))
	e.cond.PutInstance(stored)
	inst, err := decodeInstance(mustJSON(t, e.cond.Instance(id)))
	must(t, err)
	e.a.recoverInstance(t.Context(), request(t, "x", nil).Context, inst)
	stored = e.cond.Instance(id)
	vm, _ := ovo.Value[string](stored, "vm_state")
	task, _ := ovo.Value[string](stored, "task_state")
	if vm != vmActive || task != "" {
		t.Fatalf("after recovery: %s/%s", vm, task)
	}
	if st, _ := e.hv.State(t.Context(), id); st != virt.PowerRunning {
		t.Fatalf("guest %v after recovery", st)
	}
}
