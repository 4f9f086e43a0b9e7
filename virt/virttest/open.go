package virttest

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/novalet/novalet/internal/testenv"
	"github.com/novalet/novalet/virt"
	"libvirt.org/go/libvirtxml"
)

// Open connects to the test libvirtd (testenv.LibvirtURI) with List restricted to prefix and
// closes the connection when the test ends. For component tests.
func Open(t *testing.T, prefix string) *virt.Conn {
	t.Helper()
	uri := testenv.LibvirtURI(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := virt.Open(ctx, uri, virt.WithNamePrefix(prefix))
	if err != nil {
		t.Fatalf("open %s: %v", uri, err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return c
}

// GuestBase is the absolute path of the test guest's qcow2 image (testenv.GuestDir).
func GuestBase(t *testing.T) string {
	t.Helper()
	base, err := filepath.Abs(filepath.Join(testenv.GuestDir(t), "guest.qcow2"))
	if err != nil {
		t.Fatal(err)
	}
	return base
}

// DefineGuest defines the test guest for spec on a fresh qcow2 overlay of base (GuestBase) in
// spec.InstanceDir, and destroys and undefines it when the test ends. For component tests.
func DefineGuest(t *testing.T, c *virt.Conn, spec virt.DomainSpec, base string) {
	t.Helper()
	if err := os.MkdirAll(spec.InstanceDir, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2",
		filepath.Join(spec.InstanceDir, virt.DiskFile)).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img create overlay: %v\n%s", err, out)
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
	if err := c.Define(ctx, x); err != nil {
		t.Fatalf("define %s: %v", spec.Name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
		defer cancel()
		if err := c.Destroy(ctx, spec.UUID); err != nil && !errors.Is(err, virt.ErrConflict) && !errors.Is(err, virt.ErrNotFound) {
			t.Errorf("cleanup: destroy %s: %v", spec.Name, err)
		}
		if err := c.Undefine(ctx, spec.UUID); err != nil && !errors.Is(err, virt.ErrNotFound) {
			t.Errorf("cleanup: undefine %s: %v", spec.Name, err)
		}
	})
}
