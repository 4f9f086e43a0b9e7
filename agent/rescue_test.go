package agent

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
	"libvirt.org/go/libvirtxml"

	"github.com/novalet/novalet/imagecache"
	"github.com/novalet/novalet/openstack/glance/glancetest"
	"github.com/novalet/novalet/rpc/ovo"
	"github.com/novalet/novalet/virt"
)

// newRescuable builds an instance with a config drive and returns its uuid.
func (e *opsEnv) newRescuable(t *testing.T, sysmeta map[string]any) string {
	t.Helper()
	inst := e.newInstance(t)
	must(t, inst.Set("config_drive", "True"))
	if sysmeta != nil {
		must(t, inst.Set("system_metadata", sysmeta))
	}
	inst.ObjResetChanges()
	e.cond.PutInstance(inst)
	id, _ := ovo.Value[string](inst, "uuid")
	e.build(t, e.cond.Instance(id), nil)
	return id
}

// domainDisks lists the domain's disks as "<target>:<file>" in order.
func (e *opsEnv) domainDisks(t *testing.T, id string) string {
	t.Helper()
	raw, err := e.hv.DomainXML(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	var d libvirtxml.Domain
	must(t, d.Unmarshal(raw))
	var out []string
	for _, disk := range d.Devices.Disks {
		out = append(out, disk.Target.Dev+":"+filepath.Base(disk.Source.File.File))
	}
	return strings.Join(out, " ")
}

// rescueState is "vm_state/task_state/power_state" of the stored instance.
func (e *opsEnv) rescueState(id string) string {
	s := e.cond.Instance(id)
	vm, _ := ovo.Value[string](s, "vm_state")
	task, _ := ovo.Value[string](s, "task_state")
	power, _ := ovo.Value[int64](s, "power_state")
	return vm + "/" + task + "/" + virt.PowerState(power).String()
}

// rescueFiles lists unrescue.xml and the *.rescue files of the instance directory.
func (e *opsEnv) rescueFiles(t *testing.T, id string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(e.path, id))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, de := range entries {
		if de.Name() == unrescueXMLFile || strings.HasSuffix(de.Name(), ".rescue") {
			out = append(out, de.Name())
		}
	}
	return out
}

// adminPass reads admin_pass from the rescue config drive.
func (e *opsEnv) adminPass(t *testing.T, id string) string {
	t.Helper()
	_, files, err := imagecache.ReadFakeConfigDrive(filepath.Join(e.path, id, virt.RescueConfigDriveFile))
	if err != nil {
		t.Fatal(err)
	}
	var md struct {
		AdminPass string `json:"admin_pass"`
	}
	must(t, json.Unmarshal(files["openstack/latest/meta_data.json"], &md))
	return md.AdminPass
}

// TestRescueAndUnrescueFollowNova: nova's states and expected states, the legacy rescue domain
// (disk.rescue on the instance's image first, its own disk second, the rescue config drive with
// the rescue password), the original definition kept in unrescue.xml, and unrescue restoring
// it and removing every rescue file. Deleting the instance afterwards leaves nothing.
func TestRescueAndUnrescueFollowNova(t *testing.T) {
	e := newOpsEnv(t)
	id := e.newRescuable(t, nil)
	original, err := e.hv.DomainXML(t.Context(), id)
	must(t, err)
	if got := e.domainDisks(t, id); got != "vda:disk hda:disk.config" {
		t.Fatalf("disks after build %s", got)
	}
	n := len(e.cond.InstanceSaves())
	if err := e.cast(t, id, "rescue_instance", taskRescuing, map[string]any{"rescue_password": "s3cret",
		"rescue_image_ref": nil, "clean_shutdown": true}); err != nil {
		t.Fatal(err)
	}
	if got, want := e.taskSequence(n), []string{" [rescuing]"}; !slices.Equal(got, want) {
		t.Errorf("saves %q, want %q", got, want)
	}
	if got := e.rescueState(id); got != "rescued//running" {
		t.Errorf("after rescue %s, want rescued//running", got)
	}
	if at, ok := ovo.Value[any](e.cond.Instance(id), "launched_at"); !ok || at == nil {
		t.Error("launched_at not set")
	}
	if got := e.domainDisks(t, id); got != "vda:disk.rescue vdb:disk hda:disk.config.rescue" {
		t.Errorf("rescue domain disks %s", got)
	}
	kept, err := os.ReadFile(filepath.Join(e.path, id, unrescueXMLFile))
	must(t, err)
	if string(kept) != original {
		t.Errorf("unrescue.xml is not the instance's definition:\n%s", kept)
	}
	// disk.rescue is an overlay on the rescue image (here the instance's own) at its size.
	var overlay imagecache.FakeCall
	for _, c := range e.images.Calls() {
		if c.Op == "CreateOverlay" && c.Name == virt.RescueDiskFile {
			overlay = c
		}
	}
	if overlay.Path != filepath.Join(e.images.BaseDir(), imagecache.BaseName(e.image)) || overlay.Size != 0 {
		t.Errorf("rescue overlay %+v, want one on the image's base at its size", overlay)
	}
	if _, err := os.Stat(filepath.Join(e.path, id, virt.RescueDiskFile)); err != nil {
		t.Error(err)
	}
	if got := e.adminPass(t, id); got != "s3cret" {
		t.Errorf("admin_pass on the rescue config drive %q", got)
	}
	if ev := e.cond.Events(id); !slices.Contains(ev, "finish compute_rescue_instance ok") {
		t.Errorf("events %v", ev)
	}

	n = len(e.cond.InstanceSaves())
	if err := e.cast(t, id, "unrescue_instance", taskUnrescuing, nil); err != nil {
		t.Fatal(err)
	}
	if got, want := e.taskSequence(n), []string{" [unrescuing]"}; !slices.Equal(got, want) {
		t.Errorf("saves %q, want %q", got, want)
	}
	if got := e.rescueState(id); got != "active//running" {
		t.Errorf("after unrescue %s, want active//running", got)
	}
	if got, _ := e.hv.DomainXML(t.Context(), id); got != original {
		t.Errorf("definition after unrescue is not the original:\n%s", got)
	}
	if left := e.rescueFiles(t, id); len(left) > 0 {
		t.Errorf("left after unrescue: %v", left)
	}
	if _, err := os.Stat(filepath.Join(e.path, id, virt.DiskFile)); err != nil {
		t.Errorf("the instance's disk: %v", err)
	}
	if ev := e.cond.Events(id); !slices.Contains(ev, "finish compute_unrescue_instance ok") {
		t.Errorf("events %v", ev)
	}
}

// TestRescueImageChoiceAndPassword: nova's _get_rescue_image order (the image asked for, else
// image_base_image_ref, else image_ref) and a generated password when none is given; a stopped
// instance ends active after unrescue, as in nova.
func TestRescueImageChoiceAndPassword(t *testing.T) {
	e := newOpsEnv(t)
	baseImage := e.glance.Add(glancetest.Image{ID: uuid.NewString(), DiskFormat: "qcow2", Data: imagecache.FakeQcow2(2<<20, "")}).ID
	asked := e.glance.Add(glancetest.Image{ID: uuid.NewString(), DiskFormat: "qcow2", Data: imagecache.FakeQcow2(3<<20, "")}).ID
	id := e.newRescuable(t, map[string]any{"image_base_image_ref": baseImage})
	rescueBase := func() string {
		var last string
		for _, c := range e.images.Calls() {
			if c.Op == "CreateOverlay" && c.Name == virt.RescueDiskFile {
				last = filepath.Base(c.Path)
			}
		}
		return last
	}

	must(t, e.cast(t, id, "stop_instance", taskPoweringOff, map[string]any{"clean_shutdown": false}))
	must(t, e.cast(t, id, "rescue_instance", taskRescuing, map[string]any{"clean_shutdown": false}))
	if got := rescueBase(); got != imagecache.BaseName(baseImage) {
		t.Errorf("rescued from base %s, want image_base_image_ref's %s", got, imagecache.BaseName(baseImage))
	}
	pw := e.adminPass(t, id)
	if len(pw) != defaultPasswordLength || strings.Trim(pw, strings.Join(passwordSymbolGroups, "")) != "" {
		t.Errorf("generated password %q", pw)
	}
	must(t, e.cast(t, id, "unrescue_instance", taskUnrescuing, nil))
	if got := e.rescueState(id); got != "active//running" {
		t.Errorf("stopped instance after rescue and unrescue %s, want active//running", got)
	}

	must(t, e.cast(t, id, "rescue_instance", taskRescuing, map[string]any{"rescue_image_ref": asked, "rescue_password": "pw"}))
	if got := rescueBase(); got != imagecache.BaseName(asked) {
		t.Errorf("rescued from base %s, want the asked image's %s", got, imagecache.BaseName(asked))
	}
	// Deleting a rescued server leaves nothing (checked by the environment's clean-up).
}

// TestRescueDriverErrorSetsErrorState: nova's InstanceNotRescuable("Driver Error: ...") with
// the instance in error; the instance keeps its own definition and no rescue file is left.
func TestRescueDriverErrorSetsErrorState(t *testing.T) {
	e := newOpsEnv(t)
	id := e.newRescuable(t, nil)
	e.hv.InjectError("Start", errors.New("qemu: could not open disk.rescue"))
	err := e.cast(t, id, "rescue_instance", taskRescuing, map[string]any{"rescue_password": "x"})
	if err == nil || !strings.Contains(err.Error(), "InstanceNotRescuable") && !strings.Contains(err.Error(), "cannot be rescued") {
		t.Fatalf("rescue = %v, want InstanceNotRescuable", err)
	}
	if got := e.rescueState(id); !strings.HasPrefix(got, "error//") {
		t.Errorf("after a failed rescue %s, want error with no task", got)
	}
	if f := e.cond.FaultMessages(id); len(f) != 1 || !strings.Contains(f[0], "cannot be rescued: Driver Error: ") || !strings.Contains(f[0], "disk.rescue") {
		t.Errorf("faults %q", f)
	}
	if got := e.domainDisks(t, id); got != "vda:disk hda:disk.config" {
		t.Errorf("definition after a failed rescue: disks %s", got)
	}
	if left := e.rescueFiles(t, id); len(left) > 0 {
		t.Errorf("left after a failed rescue: %v", left)
	}
	if ev := e.cond.Events(id); !slices.ContainsFunc(ev, func(s string) bool {
		return strings.HasPrefix(s, "finish compute_rescue_instance") && !strings.HasSuffix(s, " ok")
	}) {
		t.Errorf("events %v, want a failed compute_rescue_instance", ev)
	}
}

// TestRescueRefusals: a missing rescue image (ImageNotFound) fails before the guest is
// touched: a fault, the task state reverted, the instance active and running.
func TestRescueRefusals(t *testing.T) {
	e := newOpsEnv(t)
	id := e.newRescuable(t, nil)
	for image, want := range map[string]string{uuid.NewString(): "could not be found"} {
		if err := e.cast(t, id, "rescue_instance", taskRescuing, map[string]any{"rescue_image_ref": image}); err == nil {
			t.Fatalf("rescue with %s succeeded", image)
		}
		if f := e.cond.FaultMessages(id); len(f) == 0 || !strings.Contains(f[len(f)-1], want) {
			t.Errorf("faults %q, want one saying %q", f, want)
		}
		if got := e.rescueState(id); got != "active//running" {
			t.Errorf("after a refused rescue %s, want active//running", got)
		}
		if left := e.rescueFiles(t, id); len(left) > 0 {
			t.Errorf("left after a refused rescue: %v", left)
		}
	}
}

// TestUnrescueFailureSetsErrorState: nova's _error_out_instance_on_exception.
func TestUnrescueFailureSetsErrorState(t *testing.T) {
	e := newOpsEnv(t)
	id := e.newRescuable(t, nil)
	must(t, e.cast(t, id, "rescue_instance", taskRescuing, nil))
	must(t, os.Remove(filepath.Join(e.path, id, unrescueXMLFile)))
	if err := e.cast(t, id, "unrescue_instance", taskUnrescuing, nil); err == nil {
		t.Fatal("unrescue without unrescue.xml succeeded")
	}
	if got := e.rescueState(id); !strings.HasPrefix(got, "error//") {
		t.Errorf("after a failed unrescue %s, want error with no task", got)
	}
	if f := e.cond.FaultMessages(id); len(f) != 1 || !strings.Contains(f[0], unrescueXMLFile) {
		t.Errorf("faults %q", f)
	}
}

// TestRecoveryRescueStates: nova's _init_instance has no row for rescuing/unrescuing and
// leaves them for ever; novalet settles them. An interrupted unrescue is finished and an
// interrupted rescue undone (the instance's own definition back and running, no rescue file
// left, a fault for the rescue); a rescue stopped before it kept the definition is settled on
// the host; a rescued instance stays rescued.
func TestRecoveryRescueStates(t *testing.T) {
	e := newOpsEnv(t)
	rescued := e.newRescuable(t, nil)
	must(t, e.cast(t, rescued, "rescue_instance", taskRescuing, nil))
	unrescuing := e.newRescuable(t, nil)
	must(t, e.cast(t, unrescuing, "rescue_instance", taskRescuing, nil))
	rescuing := e.newRescuable(t, nil)
	must(t, e.cast(t, rescuing, "rescue_instance", taskRescuing, nil))
	early := e.newRescuable(t, nil)
	for id, task := range map[string]string{unrescuing: taskUnrescuing, rescuing: taskRescuing, early: taskRescuing} {
		stored := e.cond.Instance(id)
		must(t, stored.Set("task_state", task))
		stored.ObjResetChanges()
		e.cond.PutInstance(stored)
	}

	must(t, e.a.recoverInstances(t.Context()))
	for _, id := range []string{unrescuing, rescuing, early} {
		if got := e.rescueState(id); got != "active//running" {
			t.Errorf("interrupted rescue/unrescue after recovery %s, want active//running", got)
		}
		if got := e.domainDisks(t, id); strings.Contains(got, "rescue") {
			t.Errorf("disks after recovery %s, want the instance's own", got)
		}
		if left, _ := filepath.Glob(filepath.Join(e.path, id, "*.rescue")); len(left) > 0 {
			t.Errorf("rescue files left: %v", left)
		}
	}
	if f := e.cond.FaultMessages(rescuing); len(f) == 0 || !strings.Contains(f[len(f)-1], "stopped during the rescue") {
		t.Errorf("faults of the undone rescue %q", f)
	}
	if got := e.rescueState(rescued); got != "rescued//running" {
		t.Errorf("rescued instance after recovery %s", got)
	}
	if got := e.domainDisks(t, rescued); !strings.HasPrefix(got, "vda:disk.rescue vdb:disk") {
		t.Errorf("rescued instance's disks after recovery %s", got)
	}
}

func TestGeneratePassword(t *testing.T) {
	symbols := strings.Join(passwordSymbolGroups, "")
	for _, n := range []int{0, 1, 2, 3, 12, 40} {
		pw, err := generatePassword(n)
		must(t, err)
		if len(pw) != n || strings.Trim(pw, symbols) != "" {
			t.Errorf("generatePassword(%d) = %q", n, pw)
		}
		if n >= len(passwordSymbolGroups) {
			for _, g := range passwordSymbolGroups {
				if !strings.ContainsAny(pw, g) {
					t.Errorf("generatePassword(%d) = %q has nothing from %q", n, pw, g)
				}
			}
		}
	}
}
