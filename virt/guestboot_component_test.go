//go:build component

package virt

import (
	"bytes"
	"context"
	"errors"
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

// guestReadyLine is what the test guest prints on its serial console once booted
// (guest/build-guest-image.sh).
const guestReadyLine = "guest-init: login prompt ready"

// testDomainPrefix marks domains made by tests, so a human can tell (and remove) leftovers.
const testDomainPrefix = "novalet-test-"

// guestBootDeadline is generous: a TCG boot takes ~7 s on an idle 2-core machine, several times
// that when other test packages load the CPUs.
const guestBootDeadline = 180 * time.Second

// bootDomainXML is a nova-like domain for the test guest: TCG, 128 MiB (the guest's kernel needs
// ~96), one vCPU, a virtio qcow2 disk, the serial console logged to a file by virtlogd (as nova's
// console.log), VNC with an automatic port.
func bootDomainXML(name, id, disk, consoleLog string) (string, error) {
	port0 := uint(0)
	d := libvirtxml.Domain{
		Type:   "qemu",
		Name:   name,
		UUID:   id,
		Memory: &libvirtxml.DomainMemory{Value: 128, Unit: "MiB"},
		VCPU:   &libvirtxml.DomainVCPU{Value: 1},
		OS: &libvirtxml.DomainOS{
			Type:        &libvirtxml.DomainOSType{Arch: "x86_64", Machine: "pc", Type: "hvm"},
			BootDevices: []libvirtxml.DomainBootDevice{{Dev: "hd"}},
		},
		Features: &libvirtxml.DomainFeatureList{
			ACPI: &libvirtxml.DomainFeature{},
			APIC: &libvirtxml.DomainFeatureAPIC{},
			// QEMU's default 1 GiB TCG code cache would dominate the guest's footprint.
			TCG: &libvirtxml.DomainFeatureTCG{TBCache: &libvirtxml.DomainFeatureTCGTBCache{Unit: "MiB", Size: 32}},
		},
		Clock:      &libvirtxml.DomainClock{Offset: "utc"},
		OnPoweroff: "destroy",
		OnReboot:   "restart",
		OnCrash:    "destroy",
		Devices: &libvirtxml.DomainDeviceList{
			Disks: []libvirtxml.DomainDisk{{
				Device: "disk",
				// No cache mode: QEMU's default works on tmpfs too, where cache='none' (O_DIRECT) fails.
				Driver: &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "qcow2"},
				Source: &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: disk}},
				Target: &libvirtxml.DomainDiskTarget{Dev: "vda", Bus: "virtio"},
			}},
			Serials: []libvirtxml.DomainSerial{{
				Source: &libvirtxml.DomainChardevSource{Pty: &libvirtxml.DomainChardevSourcePty{}},
				Target: &libvirtxml.DomainSerialTarget{Port: &port0},
				Log:    &libvirtxml.DomainChardevLog{File: consoleLog, Append: "off"},
			}},
			Graphics: []libvirtxml.DomainGraphic{{VNC: &libvirtxml.DomainGraphicVNC{
				AutoPort: "yes",
				Listeners: []libvirtxml.DomainGraphicListener{{
					Address: &libvirtxml.DomainGraphicListenerAddress{Address: "127.0.0.1"},
				}},
			}}},
		},
	}
	return d.Marshal()
}

func TestGuestBootsUnderTCG(t *testing.T) {
	c := openTestConn(t)
	base, err := filepath.Abs(filepath.Join(testenv.GuestDir(t), "guest.qcow2"))
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	overlay := filepath.Join(work, "disk.qcow2")
	consoleLog := filepath.Join(work, "console.log")

	imgCtx, cancelImg := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancelImg()
	if out, err := exec.CommandContext(imgCtx, "qemu-img", "create", "-q", "-f", "qcow2",
		"-b", base, "-F", "qcow2", overlay).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img create overlay: %v\n%s", err, out)
	}

	id := uuid.NewString()
	name := testDomainPrefix + "boot-" + id[:8]
	domXML, err := bootDomainXML(name, id, overlay, consoleLog)
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), guestBootDeadline+120*time.Second)
	defer cancel()
	dom, err := call(ctx, "define "+name, func() (*libvirt.Domain, error) {
		return c.current().DomainDefineXML(domXML)
	}, func(d *libvirt.Domain) { d.Free() })
	if err != nil {
		t.Fatalf("define: %v\n%s", err, domXML)
	}
	// Registered right after define, so a failure anywhere below leaves no domain behind.
	t.Cleanup(func() { removeTestDomain(t, c, dom, name) })

	if _, err := call(ctx, "start "+name, func() (struct{}, error) { return struct{}{}, dom.Create() }, nil); err != nil {
		t.Fatalf("start: %v", err)
	}
	state, _, err := dom.GetState()
	if err != nil || state != libvirt.DOMAIN_RUNNING {
		t.Fatalf("after start: state %d, %v; want running (%d)", state, err, libvirt.DOMAIN_RUNNING)
	}

	waitForConsoleLine(t, consoleLog, guestReadyLine, guestBootDeadline)

	// The domain is still running after booting (no panic, no poweroff).
	if state, _, err := dom.GetState(); err != nil || state != libvirt.DOMAIN_RUNNING {
		t.Errorf("after boot: state %d, %v; want running", state, err)
	}

	removeTestDomain(t, c, dom, name)
	_, err = call(ctx, "lookup "+name, func() (struct{}, error) {
		d, err := c.current().LookupDomainByUUIDString(id)
		if err == nil {
			d.Free()
		}
		return struct{}{}, err
	}, nil)
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("domain %s still there after destroy+undefine: lookup = %v, want ErrNotFound", name, err)
	}
}

// waitForConsoleLine polls the console log until it contains line, failing the test with the
// log's tail when deadline passes.
func waitForConsoleLine(t *testing.T, path, line string, deadline time.Duration) {
	t.Helper()
	start := time.Now()
	var data []byte
	for time.Since(start) < deadline {
		data, _ = os.ReadFile(path) // absent until virtlogd opens it
		if bytes.Contains(data, []byte(line)) {
			t.Logf("%q after %.1fs", line, time.Since(start).Seconds())
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	if len(data) > 4096 {
		data = data[len(data)-4096:]
	}
	t.Fatalf("no %q in %s within %s; console tail:\n%s", line, path, deadline, data)
}

// removeTestDomain destroys and undefines a domain this test defined. It is idempotent: it runs
// once in the test body and again from t.Cleanup. Only domains with the test prefix are touched.
func removeTestDomain(t *testing.T, c *Conn, dom *libvirt.Domain, name string) {
	t.Helper()
	if len(name) < len(testDomainPrefix) || name[:len(testDomainPrefix)] != testDomainPrefix {
		t.Fatalf("refusing to remove %q: not a test domain", name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	_, err := call(ctx, "destroy "+name, func() (struct{}, error) { return struct{}{}, dom.Destroy() }, nil)
	if err != nil && !errors.Is(err, ErrConflict) && !errors.Is(err, ErrNotFound) { // not running / gone
		t.Errorf("destroy %s: %v", name, err)
	}
	_, err = call(ctx, "undefine "+name, func() (struct{}, error) { return struct{}{}, dom.Undefine() }, nil)
	if err != nil && !errors.Is(err, ErrNotFound) {
		t.Errorf("undefine %s: %v", name, err)
	}
}
