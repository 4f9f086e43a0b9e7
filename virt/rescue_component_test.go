//go:build component

package virt

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"github.com/novalet/novalet/internal/testenv"
)

// TestStableRescueDomainsStart: libvirtd and QEMU take the stable device rescue domain on
// each bus nova allows for a disk or cdrom here (per-device boot order, no <boot dev>): it is
// defined, read back with the rescue disk last and booted first, and starts (paused, so TCG
// does not boot it; no NIC, whose tap would have to exist).
func TestStableRescueDomainsStart(t *testing.T) {
	c := openTestConn(t)
	base, err := filepath.Abs(filepath.Join(testenv.GuestDir(t), "guest.qcow2"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []RescueDevice{{"disk", "virtio"}, {"disk", "scsi"}, {"disk", "usb"}, {"disk", "sata"}, {"cdrom", "ide"}} {
		t.Run(r.Device+"-"+r.Bus, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
			defer cancel()
			spec := goldenSpecs()["configdrive-vif"]
			spec.VIFs = nil
			spec.StableRescue = &r
			spec.UUID = uuid.NewString()
			spec.Name = testDomainPrefix + "stable-rescue-" + spec.UUID[:8]
			spec.InstanceDir = filepath.Join(t.TempDir(), spec.UUID)
			makeInstanceDir(t, spec, base)
			if out, err := exec.CommandContext(ctx, "qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2",
				filepath.Join(spec.InstanceDir, RescueDiskFile)).CombinedOutput(); err != nil {
				t.Fatalf("qemu-img create: %v\n%s", err, out)
			}
			x, err := BuildDomainXML(spec)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Define(ctx, x); err != nil {
				t.Fatalf("define: %v\n%s", err, x)
			}
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				if err := c.Destroy(ctx, spec.UUID); err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrConflict) {
					t.Errorf("cleanup: destroy: %v", err)
				}
				if err := c.Undefine(ctx, spec.UUID); err != nil && !errors.Is(err, ErrNotFound) {
					t.Errorf("cleanup: undefine: %v", err)
				}
			})
			raw, err := domainCall(ctx, c, "dump XML of", spec.UUID, func(d *libvirt.Domain) (string, error) {
				return d.GetXMLDesc(libvirt.DOMAIN_XML_INACTIVE)
			})
			if err != nil {
				t.Fatal(err)
			}
			var d libvirtxml.Domain
			if err := d.Unmarshal(raw); err != nil {
				t.Fatal(err)
			}
			// libvirt keeps disks sorted by bus and target, so the rescue disk is found by name.
			booted := 0
			for _, disk := range d.Devices.Disks {
				isRescue := filepath.Base(disk.Source.File.File) == RescueDiskFile
				if isRescue && (disk.Target.Bus != r.Bus || disk.Device != r.Device || disk.Boot == nil || disk.Boot.Order != 1) {
					t.Errorf("rescue disk %s on %s device %s boot %+v, want %s %s with boot order 1", disk.Target.Dev, disk.Target.Bus, disk.Device, disk.Boot, r.Device, r.Bus)
				}
				if disk.Boot != nil {
					booted++
				}
				if isRescue {
					booted += 10
				}
			}
			if booted != 11 {
				t.Errorf("want one rescue disk, the only one with a boot order (got %d)", booted)
			}
			if len(d.OS.BootDevices) != 0 {
				t.Errorf("os boot devices %+v", d.OS.BootDevices)
			}
			if err := c.Start(ctx, spec.UUID, true); err != nil {
				t.Fatalf("start: %v\n%s", err, x)
			}
		})
	}
}
