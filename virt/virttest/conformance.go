// Package virttest holds the conformance suite of the virt.Hypervisor port. The suite runs on
// the in-memory fake (virtfake, also named Fake here) in unit tests and on libvirtd (QEMU TCG)
// in component tests, so the fake the agent's tests use behaves like the real thing.
package virttest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"libvirt.org/go/libvirtxml"

	"github.com/novalet/novalet/virt"
)

// NamePrefix starts the name of every domain the suite defines, so a leftover on a shared
// libvirtd is recognisably a test's.
const NamePrefix = "novalet-test-"

// ListedPrefix is the name prefix the hypervisor under test must list (virt.WithNamePrefix,
// Fake.NamePrefix). The suite also defines a domain outside it to check List filters.
const ListedPrefix = NamePrefix + "ct-"

// opTimeout bounds each call: a managed save or a QEMU start on a loaded 2-core machine can
// take tens of seconds.
const opTimeout = 120 * time.Second

// shutdownDeadline bounds how long the guest may take to boot far enough to honour the ACPI
// power button and power off.
const shutdownDeadline = 300 * time.Second

// Run checks that a Hypervisor behaves as the port promises. newHypervisor returns the
// hypervisor for one subtest, listing ListedPrefix domains. newDomainXML returns a bootable
// domain with the given name and uuid, carrying nova metadata and a VNC display, whose guest
// powers off on the ACPI power button (the test guest does).
func Run(t *testing.T, newHypervisor func(t *testing.T) virt.Hypervisor, newDomainXML func(t *testing.T, name, uuid string) string) {
	s := suite{newHypervisor: newHypervisor, newDomainXML: newDomainXML}
	t.Run("Lifecycle", s.lifecycle)
	t.Run("GracefulShutdown", s.gracefulShutdown)
	t.Run("SuspendRestore", s.suspendRestore)
	t.Run("DefineConflicts", s.defineConflicts)
	t.Run("UnknownDomain", s.unknownDomain)
	t.Run("ExpiredContext", s.expiredContext)
	t.Run("CopyDiskRefusals", s.copyDiskRefusals)
	t.Run("Events", s.events)
	t.Run("EventsSlowSubscriber", s.slowSubscriber)
	t.Run("DomainXMLRedefine", s.domainXMLRedefine)
}

type suite struct {
	newHypervisor func(t *testing.T) virt.Hypervisor
	newDomainXML  func(t *testing.T, name, uuid string) string
}

// domain is one domain a subtest defines, with the hypervisor it lives on.
type domain struct {
	t    *testing.T
	h    virt.Hypervisor
	name string
	uuid string
	xml  string
}

// newDomain makes the XML of a fresh domain (not yet defined) and registers its removal.
func (s suite) newDomain(t *testing.T, h virt.Hypervisor, prefix string) *domain {
	t.Helper()
	id := uuid.NewString()
	d := &domain{t: t, h: h, name: prefix + id[:8], uuid: id}
	d.xml = s.newDomainXML(t, d.name, d.uuid)
	t.Cleanup(d.remove)
	return d
}

// remove destroys and undefines the domain, tolerating each step being done already.
func (d *domain) remove() {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if err := d.h.Destroy(ctx, d.uuid); err != nil && !errors.Is(err, virt.ErrConflict) && !errors.Is(err, virt.ErrNotFound) {
		d.t.Errorf("cleanup: destroy %s: %v", d.name, err)
	}
	if err := d.h.Undefine(ctx, d.uuid); err != nil && !errors.Is(err, virt.ErrNotFound) {
		d.t.Errorf("cleanup: undefine %s: %v", d.name, err)
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), opTimeout)
	t.Cleanup(cancel)
	return c
}

// must fails the test now when err is not nil.
func (d *domain) must(op string, err error) {
	d.t.Helper()
	if err != nil {
		d.t.Fatalf("%s %s: %v", op, d.name, err)
	}
}

// expect checks that err is of class want.
func (d *domain) expect(op string, err, want error) {
	d.t.Helper()
	if !errors.Is(err, want) {
		d.t.Errorf("%s %s = %v, want %v", op, d.name, err, want)
	}
}

// wantState checks the domain's power state.
func (d *domain) wantState(when string, want virt.PowerState) {
	d.t.Helper()
	got, err := d.h.State(ctx(d.t), d.uuid)
	if err != nil {
		d.t.Fatalf("state of %s %s: %v", d.name, when, err)
	}
	if got != want {
		d.t.Fatalf("state of %s %s = %s, want %s", d.name, when, got, want)
	}
}

// listed returns the domain's List entry, if any.
func (d *domain) listed() (virt.DomainInfo, bool) {
	d.t.Helper()
	infos, err := d.h.List(ctx(d.t))
	if err != nil {
		d.t.Fatalf("list: %v", err)
	}
	for _, i := range infos {
		if strings.EqualFold(i.UUID, d.uuid) {
			return i, true
		}
	}
	return virt.DomainInfo{}, false
}

func (s suite) lifecycle(t *testing.T) {
	h := s.newHypervisor(t)
	d := s.newDomain(t, h, ListedPrefix)

	d.must("define", h.Define(ctx(t), d.xml))
	d.wantState("after define", virt.PowerShutdown)
	if info, ok := d.listed(); !ok || info.Name != d.name || info.State != virt.PowerShutdown {
		t.Errorf("list entry of %s after define = %+v (found %v), want name %s, state shutdown", d.name, info, ok, d.name)
	}
	s.checkMetadata(d)
	_, err := h.VNCPort(ctx(t), d.uuid)
	d.expect("VNC port while shut off", err, virt.ErrConflict)
	for op, f := range map[string]func(context.Context, string) error{
		"resume": h.Resume, "pause": h.Pause, "shutdown": h.Shutdown, "destroy": h.Destroy,
		"suspend": h.Suspend,
		"reboot":  func(c context.Context, id string) error { return h.Reboot(c, id, true) },
	} {
		d.expect(op+" while shut off", f(ctx(t), d.uuid), virt.ErrConflict)
	}
	d.wantState("after refused operations", virt.PowerShutdown)

	d.must("start paused", h.Start(ctx(t), d.uuid, true))
	d.wantState("after start paused", virt.PowerPaused)
	d.expect("second start", h.Start(ctx(t), d.uuid, false), virt.ErrConflict)
	d.must("resume", h.Resume(ctx(t), d.uuid))
	d.wantState("after resume", virt.PowerRunning)
	d.expect("resume a running domain", h.Resume(ctx(t), d.uuid), virt.ErrConflict)
	d.wantState("after resuming a running domain", virt.PowerRunning)
	if info, ok := d.listed(); !ok || info.State != virt.PowerRunning {
		t.Errorf("list entry of %s while running = %+v (found %v), want state running", d.name, info, ok)
	}

	port, err := h.VNCPort(ctx(t), d.uuid)
	d.must("VNC port", err)
	if port < 5900 || port > 65535 {
		t.Errorf("VNC port of %s = %d, want 5900..65535", d.name, port)
	}

	d.must("pause", h.Pause(ctx(t), d.uuid))
	d.wantState("after pause", virt.PowerPaused)
	d.must("pause a paused domain", h.Pause(ctx(t), d.uuid))
	d.wantState("after pausing a paused domain", virt.PowerPaused)
	d.must("hard reboot while paused", h.Reboot(ctx(t), d.uuid, true))
	d.wantState("after hard reboot while paused", virt.PowerPaused)
	d.must("unpause", h.Resume(ctx(t), d.uuid))
	d.wantState("after unpause", virt.PowerRunning)
	d.must("hard reboot", h.Reboot(ctx(t), d.uuid, true))
	d.wantState("after hard reboot", virt.PowerRunning)

	d.expect("undefine while running", h.Undefine(ctx(t), d.uuid), virt.ErrConflict)
	d.wantState("after refused undefine", virt.PowerRunning)
	d.must("redefine while running", h.Define(ctx(t), d.xml))
	d.wantState("after redefine", virt.PowerRunning)

	d.must("destroy", h.Destroy(ctx(t), d.uuid))
	d.wantState("after destroy", virt.PowerShutdown)
	d.expect("second destroy", h.Destroy(ctx(t), d.uuid), virt.ErrConflict)
	d.must("undefine", h.Undefine(ctx(t), d.uuid))

	_, err = h.State(ctx(t), d.uuid)
	d.expect("state after undefine", err, virt.ErrNotFound)
	if info, ok := d.listed(); ok {
		t.Errorf("%s still listed after undefine: %+v", d.name, info)
	}
	d.expect("second undefine", h.Undefine(ctx(t), d.uuid), virt.ErrNotFound)
}

// checkMetadata compares what Metadata reads back with the metadata in the defined XML.
func (s suite) checkMetadata(d *domain) {
	d.t.Helper()
	var def libvirtxml.Domain
	if err := def.Unmarshal(d.xml); err != nil {
		d.t.Fatalf("newDomainXML gave unparsable XML: %v", err)
	}
	if def.Metadata == nil {
		d.t.Fatal("newDomainXML gave a domain without <metadata>")
	}
	want, err := virt.ParseInstanceMetadata(def.Metadata.XML)
	if err != nil {
		d.t.Fatalf("newDomainXML's nova metadata: %v", err)
	}
	got, err := d.h.Metadata(ctx(d.t), d.uuid)
	d.must("read metadata", err)
	if !reflect.DeepEqual(got, want) {
		d.t.Errorf("metadata of %s read back as\n%+v\nwant\n%+v", d.name, got, want)
	}
}

func (s suite) gracefulShutdown(t *testing.T) {
	h := s.newHypervisor(t)
	d := s.newDomain(t, h, ListedPrefix)
	d.must("define", h.Define(ctx(t), d.xml))
	d.must("start", h.Start(ctx(t), d.uuid, false))
	d.must("soft reboot", h.Reboot(ctx(t), d.uuid, false))

	// The button does nothing until the guest's ACPI daemon runs, so press it until the guest
	// is off: pressing again is harmless.
	start := time.Now()
	for {
		err := h.Shutdown(ctx(t), d.uuid)
		if errors.Is(err, virt.ErrConflict) { // off between the state check and the press
			break
		}
		d.must("shutdown", err)
		st, err := h.State(ctx(t), d.uuid)
		d.must("state", err)
		for i := 0; i < 10 && st != virt.PowerShutdown; i++ {
			time.Sleep(500 * time.Millisecond)
			st, err = h.State(ctx(t), d.uuid)
			d.must("state", err)
		}
		if st == virt.PowerShutdown {
			break
		}
		if time.Since(start) > shutdownDeadline {
			t.Fatalf("%s still %s %s after the first ACPI shutdown", d.name, st, shutdownDeadline)
		}
	}
	t.Logf("%s powered off after %.1fs", d.name, time.Since(start).Seconds())
	d.wantState("after shutdown", virt.PowerShutdown)
	d.expect("shutdown while shut off", h.Shutdown(ctx(t), d.uuid), virt.ErrConflict)
	d.must("undefine", h.Undefine(ctx(t), d.uuid))
}

func (s suite) suspendRestore(t *testing.T) {
	h := s.newHypervisor(t)
	d := s.newDomain(t, h, ListedPrefix)
	d.must("define", h.Define(ctx(t), d.xml))
	d.must("start", h.Start(ctx(t), d.uuid, false))
	d.must("suspend", h.Suspend(ctx(t), d.uuid))
	d.wantState("after suspend", virt.PowerShutdown)
	_, err := h.VNCPort(ctx(t), d.uuid)
	d.expect("VNC port while suspended", err, virt.ErrConflict)

	d.must("restore paused", h.Start(ctx(t), d.uuid, true))
	d.wantState("after restore paused", virt.PowerPaused)
	d.must("resume", h.Resume(ctx(t), d.uuid))
	d.wantState("after resume", virt.PowerRunning)

	// The image keeps the pause: restored without start paused, it is still paused.
	d.must("pause", h.Pause(ctx(t), d.uuid))
	d.must("suspend while paused", h.Suspend(ctx(t), d.uuid))
	d.must("restore", h.Start(ctx(t), d.uuid, false))
	d.wantState("after restoring an image saved paused", virt.PowerPaused)
	d.must("resume restored", h.Resume(ctx(t), d.uuid))

	// Undefine must take the managed-save image with it.
	d.must("suspend again", h.Suspend(ctx(t), d.uuid))
	d.must("undefine with a managed-save image", h.Undefine(ctx(t), d.uuid))
	_, err = h.State(ctx(t), d.uuid)
	d.expect("state after undefine", err, virt.ErrNotFound)
}

func (s suite) defineConflicts(t *testing.T) {
	h := s.newHypervisor(t)
	a := s.newDomain(t, h, ListedPrefix)
	a.must("define", h.Define(ctx(t), a.xml))

	sameName := s.newDomain(t, h, ListedPrefix)
	sameName.name = a.name
	sameName.xml = s.newDomainXML(t, a.name, sameName.uuid)
	sameName.expect("define with a taken name", h.Define(ctx(t), sameName.xml), virt.ErrConflict)

	sameUUID := s.newDomainXML(t, a.name+"-x", a.uuid)
	a.expect("define with a taken uuid", h.Define(ctx(t), sameUUID), virt.ErrConflict)
	a.wantState("after refused defines", virt.PowerShutdown)

	var noUUID libvirtxml.Domain
	if err := noUUID.Unmarshal(a.xml); err != nil {
		t.Fatal(err)
	}
	noUUID.UUID = ""
	noUUID.Name = a.name + "-y"
	raw, err := noUUID.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	a.expect("define without uuid", h.Define(ctx(t), raw), virt.ErrInvalid)
	a.expect("define of garbage", h.Define(ctx(t), "<domain"), virt.ErrInvalid)

	// A domain outside the listed prefix is not an instance: List leaves it out.
	other := s.newDomain(t, h, NamePrefix+"xx-")
	other.must("define", h.Define(ctx(t), other.xml))
	if info, ok := other.listed(); ok {
		t.Errorf("List reports %+v, outside prefix %s", info, ListedPrefix)
	}
	if _, ok := a.listed(); !ok {
		t.Errorf("List misses %s", a.name)
	}
}

func (s suite) unknownDomain(t *testing.T) {
	h := s.newHypervisor(t)
	id := uuid.NewString()
	d := &domain{t: t, h: h, name: "(never defined)", uuid: id}
	d.expect("start", h.Start(ctx(t), id, false), virt.ErrNotFound)
	d.expect("destroy", h.Destroy(ctx(t), id), virt.ErrNotFound)
	d.expect("undefine", h.Undefine(ctx(t), id), virt.ErrNotFound)
	_, err := h.State(ctx(t), id)
	d.expect("state", err, virt.ErrNotFound)
	_, err = h.VNCPort(ctx(t), id)
	d.expect("VNC port", err, virt.ErrNotFound)
	_, err = h.Metadata(ctx(t), id)
	d.expect("metadata", err, virt.ErrNotFound)
	_, err = h.DomainXML(ctx(t), id)
	d.expect("domain XML", err, virt.ErrNotFound)
	d.expect("copy disk", h.CopyDisk(ctx(t), id, "vda", filepath.Join(t.TempDir(), "copy")), virt.ErrNotFound)
	d.expect("abort disk copy", h.AbortDiskCopy(ctx(t), id, "vda"), virt.ErrNotFound)
}

// copyDiskRefusals: a live disk copy needs a running domain and a fresh destination; a
// refused copy leaves no destination file behind. (The copy itself needs a guest with a disk:
// virt's component tests make one on libvirtd, and agent tests use the fake's.)
func (s suite) copyDiskRefusals(t *testing.T) {
	h := s.newHypervisor(t)
	d := s.newDomain(t, h, ListedPrefix)
	d.must("define", h.Define(ctx(t), d.xml))
	dst := filepath.Join(t.TempDir(), "copy")
	d.expect("copy the disk of a shut-off domain", h.CopyDisk(ctx(t), d.uuid, "vda", dst), virt.ErrConflict)
	d.must("abort a copy on a shut-off domain", h.AbortDiskCopy(ctx(t), d.uuid, "vda"))
	if _, err := os.Lstat(dst); err == nil {
		t.Errorf("a refused copy left %s", dst)
	}
	d.must("start", h.Start(ctx(t), d.uuid, false))
	if err := os.WriteFile(dst, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	d.expect("copy onto an existing file", h.CopyDisk(ctx(t), d.uuid, "vda", dst), virt.ErrConflict)
	if b, _ := os.ReadFile(dst); string(b) != "keep" {
		t.Errorf("a refused copy changed the existing %s to %q", dst, b)
	}
	d.must("abort a copy when there is none", h.AbortDiskCopy(ctx(t), d.uuid, "vda"))
	d.wantState("after the refused copies", virt.PowerRunning)
}

func (s suite) expiredContext(t *testing.T) {
	h := s.newHypervisor(t)
	d := s.newDomain(t, h, ListedPrefix)
	expired, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	<-expired.Done()
	d.expect("define with an expired context", h.Define(expired, d.xml), virt.ErrTimeout)
	_, err := h.List(expired)
	d.expect("list with an expired context", err, virt.ErrTimeout)
	_, err = h.State(ctx(t), d.uuid)
	d.expect("state after the expired define", err, virt.ErrNotFound)
}

// domainXMLRedefine is what a rescue does with a domain: keep its persistent definition,
// replace it while the guest runs, start the replacement, and later define the kept one back.
// DomainXML always shows the persistent definition, which Define accepts as it is.
func (s suite) domainXMLRedefine(t *testing.T) {
	h := s.newHypervisor(t)
	d := s.newDomain(t, h, ListedPrefix)
	d.must("define", h.Define(ctx(t), d.xml))
	d.must("start", h.Start(ctx(t), d.uuid, false))
	kept, err := h.DomainXML(ctx(t), d.uuid)
	d.must("read the definition", err)
	var def libvirtxml.Domain
	if err := def.Unmarshal(kept); err != nil {
		t.Fatalf("DomainXML of %s does not parse: %v", d.name, err)
	}
	if def.Name != d.name || !strings.EqualFold(def.UUID, d.uuid) || def.Metadata == nil {
		t.Fatalf("DomainXML of %s names %q %q (metadata %v)", d.name, def.Name, def.UUID, def.Metadata != nil)
	}
	def.Description = "replacement"
	replacement, err := def.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	d.must("redefine while running", h.Define(ctx(t), replacement))
	d.wantState("after redefine", virt.PowerRunning)
	d.must("destroy", h.Destroy(ctx(t), d.uuid))
	d.must("start the replacement", h.Start(ctx(t), d.uuid, false))
	if got := s.description(d); got != "replacement" {
		t.Errorf("description of the running replacement = %q", got)
	}
	d.must("destroy the replacement", h.Destroy(ctx(t), d.uuid))
	d.must("define the kept definition back", h.Define(ctx(t), kept))
	if got := s.description(d); got != "" {
		t.Errorf("description after defining the kept definition back = %q, want none", got)
	}
	d.must("start the kept definition", h.Start(ctx(t), d.uuid, false))
	d.wantState("after start", virt.PowerRunning)
	s.checkMetadata(d)
}

// description reads the <description> of the domain's persistent definition.
func (s suite) description(d *domain) string {
	d.t.Helper()
	raw, err := d.h.DomainXML(ctx(d.t), d.uuid)
	d.must("read the definition", err)
	var def libvirtxml.Domain
	if err := def.Unmarshal(raw); err != nil {
		d.t.Fatalf("DomainXML of %s does not parse: %v", d.name, err)
	}
	return def.Description
}
