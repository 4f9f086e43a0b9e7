package agent

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
	"libvirt.org/go/libvirtxml"

	"github.com/novalet/novalet/imagecache"
	"github.com/novalet/novalet/openstack/glance/glancetest"
	"github.com/novalet/novalet/virt"
)

// domainOf parses the instance's current definition.
func (e *opsEnv) domainOf(t *testing.T, id string) *libvirtxml.Domain {
	t.Helper()
	raw, err := e.hv.DomainXML(t.Context(), id)
	must(t, err)
	var d libvirtxml.Domain
	must(t, d.Unmarshal(raw))
	return &d
}

// addRescueImage stores a qcow2 rescue image with the given properties.
func (e *opsEnv) addRescueImage(props map[string]any) string {
	return e.glance.Add(glancetest.Image{ID: uuid.NewString(), DiskFormat: "qcow2", Data: imagecache.FakeQcow2(2<<20, ""),
		Properties: props}).ID
}

// TestStableRescueFollowsNova: a rescue image with hw_rescue_device/hw_rescue_bus gives
// nova's stable device rescue: the instance's own disks and config drive where they were,
// disk.rescue (an overlay on the rescue image) appended on the bus asked for with boot order
// 1, no <boot dev>; rescued, and unrescue puts the original definition back and removes every
// rescue file.
func TestStableRescueFollowsNova(t *testing.T) {
	for _, tc := range []struct {
		props map[string]any
		want  string // disks of the rescue domain
		dev   string // the rescue disk's device
	}{
		{map[string]any{"hw_rescue_device": "disk", "hw_rescue_bus": "virtio"}, "vda:disk hda:disk.config vdb:disk.rescue", "disk"},
		{map[string]any{"hw_rescue_bus": "scsi"}, "vda:disk hda:disk.config sda:disk.rescue", "disk"},
		{map[string]any{"hw_rescue_device": "cdrom"}, "vda:disk hda:disk.config hdb:disk.rescue", "cdrom"},
		{map[string]any{"hw_rescue_device": "disk", "hw_disk_bus": "usb"}, "vda:disk hda:disk.config sda:disk.rescue", "disk"},
	} {
		t.Run(strings.Join(slices.Sorted(func(yield func(string) bool) {
			for k, v := range tc.props {
				if !yield(k + "=" + v.(string)) {
					return
				}
			}
		}), ","), func(t *testing.T) {
			e := newOpsEnv(t)
			id := e.newRescuable(t, nil)
			original, err := e.hv.DomainXML(t.Context(), id)
			must(t, err)
			rescueImage := e.addRescueImage(tc.props)
			must(t, e.cast(t, id, "rescue_instance", taskRescuing, map[string]any{"rescue_image_ref": rescueImage, "rescue_password": "pw"}))
			if got := e.rescueState(id); got != "rescued//running" {
				t.Errorf("after a stable rescue %s, want rescued//running", got)
			}
			if got := e.domainDisks(t, id); got != tc.want {
				t.Errorf("stable rescue disks %s, want %s", got, tc.want)
			}
			d := e.domainOf(t, id)
			last := d.Devices.Disks[len(d.Devices.Disks)-1]
			if last.Boot == nil || last.Boot.Order != 1 || last.Device != tc.dev {
				t.Errorf("rescue disk %s device %q boot %+v, want %s with boot order 1", last.Target.Dev, last.Device, last.Boot, tc.dev)
			}
			if len(d.OS.BootDevices) != 0 {
				t.Errorf("os boot devices %+v beside a device boot order", d.OS.BootDevices)
			}
			// Its own config drive stays in the domain; nova writes disk.config.rescue anyway.
			if got := e.rescueFiles(t, id); !slices.Equal(got, []string{"disk.config.rescue", "disk.rescue", unrescueXMLFile}) {
				t.Errorf("rescue files %v", got)
			}
			var overlay imagecache.FakeCall
			for _, c := range e.images.Calls() {
				if c.Op == "CreateOverlay" && c.Name == virt.RescueDiskFile {
					overlay = c
				}
			}
			if overlay.Path != filepath.Join(e.images.BaseDir(), imagecache.BaseName(rescueImage)) || overlay.Size != 0 {
				t.Errorf("rescue overlay %+v, want one on the rescue image's base at its size", overlay)
			}

			must(t, e.cast(t, id, "unrescue_instance", taskUnrescuing, nil))
			if got := e.rescueState(id); got != "active//running" {
				t.Errorf("after unrescue %s, want active//running", got)
			}
			if got, _ := e.hv.DomainXML(t.Context(), id); got != original {
				t.Errorf("definition after unrescue is not the original:\n%s", got)
			}
			if left := e.rescueFiles(t, id); len(left) > 0 {
				t.Errorf("left after unrescue: %v", left)
			}
		})
	}
}

// TestStableRescueBadPropertiesAreDriverErrors: nova resolves the rescue device and bus in
// the driver, after the power-off, so a device or bus it does not support ends as
// InstanceNotRescuable("Driver Error: ...") with the instance in error; novalet leaves the
// instance its own definition and no rescue file.
func TestStableRescueBadPropertiesAreDriverErrors(t *testing.T) {
	for props, want := range map[string]map[string]any{
		"Requested rescue device 'tape' is not supported":                     {"hw_rescue_device": "tape"},
		"Requested rescue bus 'xen' is not supported by the qemu virt driver": {"hw_rescue_bus": "xen"},
		"Unable to determine disk prefix for None":                            {"hw_rescue_device": "lun"},
	} {
		t.Run(props, func(t *testing.T) {
			e := newOpsEnv(t)
			id := e.newRescuable(t, nil)
			if err := e.cast(t, id, "rescue_instance", taskRescuing, map[string]any{"rescue_image_ref": e.addRescueImage(want)}); err == nil {
				t.Fatal("rescue succeeded")
			}
			if f := e.cond.FaultMessages(id); len(f) != 1 || !strings.Contains(f[0], "cannot be rescued: Driver Error: "+props) {
				t.Errorf("faults %q", f)
			}
			if got := e.rescueState(id); !strings.HasPrefix(got, "error//") {
				t.Errorf("after the failed rescue %s, want error", got)
			}
			if got := e.domainDisks(t, id); got != "vda:disk hda:disk.config" {
				t.Errorf("disks after the failed rescue %s", got)
			}
			if left := e.rescueFiles(t, id); len(left) > 0 {
				t.Errorf("left: %v", left)
			}
		})
	}
}

// TestRecoveryStableRescue: an interrupted stable rescue is undone at start-up like a legacy
// one (the kept definition back, the rescue files gone); a rescued one stays rescued.
func TestRecoveryStableRescue(t *testing.T) {
	e := newOpsEnv(t)
	img := e.addRescueImage(map[string]any{"hw_rescue_device": "disk", "hw_rescue_bus": "virtio"})
	rescued := e.newRescuable(t, nil)
	must(t, e.cast(t, rescued, "rescue_instance", taskRescuing, map[string]any{"rescue_image_ref": img}))
	rescuing := e.newRescuable(t, nil)
	must(t, e.cast(t, rescuing, "rescue_instance", taskRescuing, map[string]any{"rescue_image_ref": img}))
	stored := e.cond.Instance(rescuing)
	must(t, stored.Set("task_state", taskRescuing))
	stored.ObjResetChanges()
	e.cond.PutInstance(stored)

	must(t, e.a.recoverInstances(t.Context()))
	if got := e.rescueState(rescuing); got != "active//running" {
		t.Errorf("interrupted stable rescue after recovery %s, want active//running", got)
	}
	if got := e.domainDisks(t, rescuing); got != "vda:disk hda:disk.config" {
		t.Errorf("disks after recovery %s", got)
	}
	if left, _ := filepath.Glob(filepath.Join(e.path, rescuing, "*.rescue")); len(left) > 0 {
		t.Errorf("rescue files left: %v", left)
	}
	if got := e.domainDisks(t, rescued); got != "vda:disk hda:disk.config vdb:disk.rescue" {
		t.Errorf("rescued instance's disks after recovery %s", got)
	}
	if _, err := os.Stat(filepath.Join(e.path, rescued, unrescueXMLFile)); err != nil {
		t.Errorf("rescued instance lost unrescue.xml: %v", err)
	}
}
