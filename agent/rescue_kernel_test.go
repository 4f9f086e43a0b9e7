package agent

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/novalet/novalet/openstack/glance/glancetest"
	"github.com/novalet/novalet/virt"
)

// TestRescueKernelAndRamdisk: [libvirt] rescue_kernel_id and rescue_ramdisk_id are fetched as
// is (aki/ari, no conversion) and copied to kernel.rescue and ramdisk.rescue, which the rescue
// domain boots with nova's command line; unrescue removes them.
func TestRescueKernelAndRamdisk(t *testing.T) {
	kernelID, ramdiskID := uuid.NewString(), uuid.NewString()
	e := newOpsEnv(t, func(_ *Deps, o *Options) {
		o.Compute.RescueKernelID, o.Compute.RescueRamdiskID = kernelID, ramdiskID
	})
	kernel, ramdisk := []byte("bzImage of the rescue kernel"), []byte("initramfs of the rescue")
	e.glance.Add(glancetest.Image{ID: kernelID, DiskFormat: "aki", ContainerFormat: "aki", Data: kernel})
	e.glance.Add(glancetest.Image{ID: ramdiskID, DiskFormat: "ari", ContainerFormat: "ari", Data: ramdisk})
	id := e.newRescuable(t, nil)

	must(t, e.cast(t, id, "rescue_instance", taskRescuing, map[string]any{"rescue_password": "pw"}))
	dir := filepath.Join(e.path, id)
	for name, want := range map[string][]byte{virt.RescueKernelFile: kernel, virt.RescueRamdiskFile: ramdisk} {
		if got, err := os.ReadFile(filepath.Join(dir, name)); err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %q (%v), want the image's bytes", name, got, err)
		}
	}
	raw := 0
	for _, c := range e.images.Calls() {
		if c.Op == "Ensure" && (c.ImageID == kernelID || c.ImageID == ramdiskID) && c.Raw {
			raw++
		}
	}
	if raw != 2 {
		t.Errorf("raw fetches of the kernel and ramdisk: %d, want 2 (calls %+v)", raw, e.images.Calls())
	}
	d := e.domainOf(t, id)
	if d.OS.Kernel != filepath.Join(dir, "kernel.rescue") || d.OS.Initrd != filepath.Join(dir, "ramdisk.rescue") ||
		d.OS.Cmdline != "root=/dev/vda console=tty0 console=ttyS0 console=hvc0 no_timer_check" {
		t.Errorf("rescue os kernel %q initrd %q cmdline %q", d.OS.Kernel, d.OS.Initrd, d.OS.Cmdline)
	}
	if got := e.domainDisks(t, id); got != "vda:disk.rescue vdb:disk hda:disk.config.rescue" {
		t.Errorf("rescue disks %s", got)
	}
	if got := e.rescueFiles(t, id); !slices.Equal(got, []string{"disk.config.rescue", "disk.rescue", "kernel.rescue", "ramdisk.rescue", unrescueXMLFile}) {
		t.Errorf("rescue files %v", got)
	}

	must(t, e.cast(t, id, "unrescue_instance", taskUnrescuing, nil))
	if left := e.rescueFiles(t, id); len(left) > 0 {
		t.Errorf("left after unrescue: %v", left)
	}
	if d := e.domainOf(t, id); d.OS.Kernel != "" {
		t.Errorf("kernel %q after unrescue", d.OS.Kernel)
	}
}

// TestRescueKernelMissingIsDriverError: a rescue kernel Glance does not have fails the rescue
// as a driver error, leaving the instance its own definition and no rescue file.
func TestRescueKernelMissingIsDriverError(t *testing.T) {
	e := newOpsEnv(t, func(_ *Deps, o *Options) { o.Compute.RescueKernelID = uuid.NewString() })
	id := e.newRescuable(t, nil)
	if err := e.cast(t, id, "rescue_instance", taskRescuing, nil); err == nil {
		t.Fatal("rescue with a missing kernel succeeded")
	}
	if got := e.domainDisks(t, id); got != "vda:disk hda:disk.config" {
		t.Errorf("disks after the failed rescue %s", got)
	}
	if left := e.rescueFiles(t, id); len(left) > 0 {
		t.Errorf("left: %v", left)
	}
}

// TestRescueUsesTheInstanceKernel: without [libvirt] rescue_kernel_id, nova's rescue boots
// the instance's own kernel_id (and no ramdisk when it has none).
func TestRescueUsesTheInstanceKernel(t *testing.T) {
	e := newOpsEnv(t)
	kernelID := e.glance.Add(glancetest.Image{ID: uuid.NewString(), DiskFormat: "aki", ContainerFormat: "aki", Data: []byte("own kernel")}).ID
	id := e.newRescuable(t, nil)
	stored := e.cond.Instance(id)
	must(t, stored.Set("kernel_id", kernelID))
	stored.ObjResetChanges()
	e.cond.PutInstance(stored)

	must(t, e.cast(t, id, "rescue_instance", taskRescuing, nil))
	d := e.domainOf(t, id)
	if d.OS.Kernel != filepath.Join(e.path, id, virt.RescueKernelFile) || d.OS.Initrd != "" {
		t.Errorf("rescue os kernel %q initrd %q, want kernel.rescue and no initrd", d.OS.Kernel, d.OS.Initrd)
	}
	if got, err := os.ReadFile(filepath.Join(e.path, id, virt.RescueKernelFile)); err != nil || string(got) != "own kernel" {
		t.Errorf("kernel.rescue %q (%v)", got, err)
	}
}
