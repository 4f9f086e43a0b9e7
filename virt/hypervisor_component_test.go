//go:build component

package virt_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"libvirt.org/go/libvirtxml"

	"github.com/novalet/novalet/internal/testenv"
	"github.com/novalet/novalet/virt"
	"github.com/novalet/novalet/virt/virttest"
)

// TestConnConforms runs the hypervisor conformance suite on libvirtd with QEMU TCG, booting
// the test guest from a qcow2 overlay per domain.
func TestConnConforms(t *testing.T) {
	testenv.RequireRoot(t)
	base := virttest.GuestBase(t)
	instances := t.TempDir()

	virttest.Run(t, func(t *testing.T) virt.Hypervisor {
		return virttest.Open(t, virttest.ListedPrefix)
	}, func(t *testing.T, name, id string) string {
		spec := virttest.TestSpec(name, id, instances)
		if err := os.MkdirAll(spec.InstanceDir, 0o755); err != nil {
			t.Fatal(err)
		}
		disk := filepath.Join(spec.InstanceDir, virt.DiskFile)
		if _, err := os.Stat(disk); os.IsNotExist(err) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			if out, err := exec.CommandContext(ctx, "qemu-img", "create", "-q", "-f", "qcow2",
				"-b", base, "-F", "qcow2", disk).CombinedOutput(); err != nil {
				t.Fatalf("qemu-img create overlay: %v\n%s", err, out)
			}
		}
		d, err := virt.BuildDomain(spec)
		if err != nil {
			t.Fatal(err)
		}
		// QEMU's default 1 GiB TCG code cache would dwarf a 128 MiB test guest.
		d.Features.TCG = &libvirtxml.DomainFeatureTCG{TBCache: &libvirtxml.DomainFeatureTCGTBCache{Unit: "MiB", Size: 32}}
		x, err := d.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return x
	})

	// The guests booted far enough to honour the ACPI button, and virtlogd wrote their serial
	// console where the domain XML says (what get_console_output will read).
	logs, err := filepath.Glob(filepath.Join(instances, "*", virt.ConsoleLogFile))
	if err != nil {
		t.Fatal(err)
	}
	booted := 0
	for _, l := range logs {
		if data, err := os.ReadFile(l); err == nil && bytes.Contains(data, []byte(guestReadyLine)) {
			booted++
		}
	}
	if booted == 0 {
		t.Errorf("no console.log among %d under %s shows %q", len(logs), instances, guestReadyLine)
	}
}

// guestReadyLine is what the test guest prints on its serial console once booted
// (guest/build-guest-image.sh).
const guestReadyLine = "guest-init: login prompt ready"
