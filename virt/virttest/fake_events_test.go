package virttest

import (
	"context"
	"testing"
	"time"

	"github.com/novalet/novalet/virt"
)

// TestFakeEventSequences pins the events the fake sends for each operation, those libvirtd
// sends for it.
func TestFakeEventSequences(t *testing.T) {
	const id = "0b6bd7a4-6c36-4a39-8d4e-0d3a2f1c9e02"
	f := NewFake()
	ctx := context.Background()
	ch, err := f.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	x, err := virt.BuildDomainXML(TestSpec(virt.InstanceName(8), id, "/srv"))
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	expect := func(op string, want ...string) {
		t.Helper()
		var got []string
		for len(ch) > 0 {
			e := <-ch
			if e.UUID != id || e.Name != "instance-00000008" {
				t.Errorf("%s: event %+v of another domain", op, e)
			}
			got = append(got, e.Transition.String()+"/"+e.Cause)
		}
		if len(got) != len(want) {
			t.Errorf("%s: events %q, want %q", op, got, want)
			return
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("%s: events %q, want %q", op, got, want)
				return
			}
		}
	}
	must(f.Define(ctx, x))
	expect("define")
	must(f.Start(ctx, id, false))
	expect("start", "Resumed/resumed unpaused", "Started/started booted") // QEMU's RESUME comes first
	must(f.Reboot(ctx, id, true))
	must(f.Reboot(ctx, id, false))
	expect("reboot")
	must(f.Pause(ctx, id))
	must(f.Pause(ctx, id))
	expect("pause twice", "Paused/suspended paused")
	must(f.Shutdown(ctx, id))
	expect("shutdown while paused") // the paused guest does not see the button
	must(f.Resume(ctx, id))
	must(f.Shutdown(ctx, id))
	expect("resume, shutdown", "Resumed/resumed unpaused", "Stopped/stopped shutdown")
	must(f.Start(ctx, id, false))
	must(f.Suspend(ctx, id))
	expect("start, suspend", "Resumed/resumed unpaused", "Started/started booted", "Paused/suspended paused", "Stopped/stopped saved")
	must(f.Start(ctx, id, true))
	expect("restore paused", "Started/started restored", "Paused/suspended paused")
	must(f.Suspend(ctx, id))
	expect("suspend while paused", "Stopped/stopped saved")
	must(f.Start(ctx, id, false))
	expect("restore", "Started/started restored", "Paused/suspended restored") // saved paused, stays paused
	must(f.Resume(ctx, id))
	must(f.Suspend(ctx, id))
	expect("resume, suspend", "Resumed/resumed unpaused", "Paused/suspended paused", "Stopped/stopped saved")
	must(f.Start(ctx, id, false))
	expect("restore running", "Started/started restored", "Resumed/resumed snapshot")
	must(f.Destroy(ctx, id))
	must(f.Start(ctx, id, true))
	must(f.Destroy(ctx, id))
	expect("destroy, boot paused, destroy", "Stopped/stopped destroyed", "Started/started booted", "Paused/suspended paused",
		"Stopped/stopped destroyed")
	must(f.Undefine(ctx, id))
	expect("undefine")
}

// TestFakeShutdownDelay checks the delayed guest: Shutdown returns with the guest running, the
// stop and its event come ShutdownDelay later, and a guest destroyed and started again before
// then forgets the press.
func TestFakeShutdownDelay(t *testing.T) {
	const id = "0b6bd7a4-6c36-4a39-8d4e-0d3a2f1c9e03"
	f := NewFake()
	f.ShutdownDelay = 50 * time.Millisecond
	ctx := t.Context()
	ch, err := f.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	x, err := virt.BuildDomainXML(TestSpec(virt.InstanceName(9), id, "/srv"))
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	state := func(want virt.PowerState) {
		t.Helper()
		if st, err := f.State(ctx, id); err != nil || st != want {
			t.Fatalf("state %s, %v; want %s", st, err, want)
		}
	}
	must(f.Define(ctx, x))
	must(f.Start(ctx, id, false))
	must(f.Shutdown(ctx, id))
	state(virt.PowerRunning)
	for e := range ch {
		if e.Transition == virt.TransitionStopped {
			if e.Cause != "stopped shutdown" {
				t.Errorf("stop %+v, want stopped shutdown", e)
			}
			break
		}
	}
	state(virt.PowerShutdown)

	must(f.Start(ctx, id, false))
	must(f.Shutdown(ctx, id))
	must(f.Destroy(ctx, id))
	must(f.Start(ctx, id, false))
	time.Sleep(4 * f.ShutdownDelay)
	state(virt.PowerRunning) // the press was before the restart
	must(f.Destroy(ctx, id))
	must(f.Undefine(ctx, id))
}
