//go:build component

package virt

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"github.com/novalet/novalet/internal/testenv"
)

// TestCopyDiskOfRunningGuest copies the disk of a booted guest on libvirtd: the copy is a
// qcow2 over the same base that flattens to a whole image, and the guest keeps running on
// its own disk, still persistent, with no block job left.
func TestCopyDiskOfRunningGuest(t *testing.T) {
	c := openTestConn(t)
	base, err := filepath.Abs(filepath.Join(testenv.GuestDir(t), "guest.qcow2"))
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	if err := os.Chmod(work, 0o701); err != nil { // as nova's snapshot directory: QEMU must reach the copy
		t.Fatal(err)
	}
	overlay := filepath.Join(work, "disk")
	consoleLog := filepath.Join(work, "console.log")
	ctx, cancel := context.WithTimeout(context.Background(), guestBootDeadline+180*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", overlay).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img create overlay: %v\n%s", err, out)
	}
	id := uuid.NewString()
	name := testDomainPrefix + "copy-" + id[:8]
	domXML, err := bootDomainXML(name, id, overlay, consoleLog)
	if err != nil {
		t.Fatal(err)
	}
	dom, err := call(ctx, "define "+name, func() (*libvirt.Domain, error) { return c.current().DomainDefineXML(domXML) },
		func(d *libvirt.Domain) { d.Free() })
	if err != nil {
		t.Fatalf("define: %v", err)
	}
	t.Cleanup(func() { removeTestDomain(t, c, dom, name) })
	if err := c.Start(ctx, id, false); err != nil {
		t.Fatal(err)
	}
	waitForConsoleLine(t, consoleLog, guestReadyLine, guestBootDeadline)

	dst := filepath.Join(work, "snap.delta")
	start := time.Now()
	if err := c.CopyDisk(ctx, id, "vda", dst); err != nil {
		t.Fatalf("CopyDisk: %v", err)
	}
	t.Logf("live copy of the booted guest's disk took %v", time.Since(start))

	if st, err := c.State(ctx, id); err != nil || st != PowerRunning {
		t.Errorf("after the copy: state %v, %v; want running", st, err)
	}
	if p, err := dom.IsPersistent(); err != nil || !p {
		t.Errorf("after the copy: persistent %v, %v; want a domain still defined", p, err)
	}
	raw, err := dom.GetXMLDesc(0)
	if err != nil {
		t.Fatal(err)
	}
	var live libvirtxml.Domain
	if err := live.Unmarshal(raw); err != nil {
		t.Fatal(err)
	}
	vda := live.Devices.Disks[0]
	if vda.Source.File.File != overlay || vda.Mirror != nil {
		t.Errorf("after the copy the guest's disk is %s (mirror %+v), want %s with no mirror", vda.Source.File.File, vda.Mirror, overlay)
	}
	if info, err := dom.GetBlockJobInfo("vda", 0); err == nil && info.Type != 0 {
		t.Errorf("a block job is left on vda: %+v", info)
	}

	var hdr struct {
		Format  string `json:"format"`
		Backing string `json:"backing-filename"`
		Size    int64  `json:"virtual-size"`
	}
	out, err := exec.CommandContext(ctx, "qemu-img", "info", "-f", "qcow2", "--output=json", dst).Output()
	if err != nil || json.Unmarshal(out, &hdr) != nil {
		t.Fatalf("qemu-img info %s: %v\n%s", dst, err, out)
	}
	if hdr.Format != "qcow2" || hdr.Backing != base {
		t.Errorf("copy: format %q backing %q, want qcow2 over %s", hdr.Format, hdr.Backing, base)
	}
	flat := filepath.Join(work, "snap")
	if out, err := exec.CommandContext(ctx, "qemu-img", "convert", "-f", "qcow2", "-O", "qcow2", dst, flat).CombinedOutput(); err != nil {
		t.Fatalf("flatten: %v\n%s", err, out)
	}
	out, err = exec.CommandContext(ctx, "qemu-img", "info", "-f", "qcow2", "--output=json", flat).Output()
	hdr.Backing = ""
	if err != nil || json.Unmarshal(out, &hdr) != nil || hdr.Backing != "" || hdr.Size == 0 {
		t.Errorf("flattened copy: %+v, %v; want a whole image", hdr, err)
	}
	// What the guest booted from is in the flattened copy: it reads the same as the base where
	// the guest has not written (qemu-img compare stops at the first difference, so compare
	// only tells equality; the base never changes while a guest runs on an overlay).
	if out, err := exec.CommandContext(ctx, "qemu-img", "compare", "-f", "qcow2", "-F", "qcow2", flat, base).CombinedOutput(); err != nil {
		t.Logf("flattened copy differs from the base (the guest wrote to its disk): %s", out)
	}
	// A second copy to the same path is refused: the caller's file is never overwritten.
	if err := c.CopyDisk(ctx, id, "vda", dst); err == nil {
		t.Errorf("a second copy onto %s succeeded", dst)
	}
	// An unknown disk fails and leaves no file and no job.
	other := filepath.Join(work, "other")
	if err := c.CopyDisk(ctx, id, "vdz", other); err == nil {
		t.Errorf("copy of an unknown disk succeeded")
	}
	if _, err := os.Lstat(other); err == nil {
		t.Errorf("a failed copy left %s", other)
	}

	// A copy a crash left running (started here by hand, as CopyDisk would have) is ended by
	// AbortDiskCopy, after which a snapshot can copy again.
	destXML := "<disk type='file'><source file='" + filepath.Join(work, "crashed") + "'/><driver type='qcow2'/></disk>"
	if err := dom.BlockCopy("vda", destXML, &libvirt.DomainBlockCopyParameters{}, libvirt.DOMAIN_BLOCK_COPY_SHALLOW|libvirt.DOMAIN_BLOCK_COPY_TRANSIENT_JOB); err != nil {
		t.Fatal(err)
	}
	if err := c.CopyDisk(ctx, id, "vda", filepath.Join(work, "blocked")); err == nil {
		t.Error("a copy succeeded while another ran on the disk")
	}
	if err := c.AbortDiskCopy(ctx, id, "vda"); err != nil {
		t.Fatal(err)
	}
	if info, err := dom.GetBlockJobInfo("vda", 0); err != nil || info.Type != 0 {
		t.Errorf("after AbortDiskCopy: job %+v, %v; want none", info, err)
	}
	if err := c.CopyDisk(ctx, id, "vda", filepath.Join(work, "after")); err != nil {
		t.Errorf("copy after the abort: %v", err)
	}
}
