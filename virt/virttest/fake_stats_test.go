package virttest

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/novalet/novalet/virt"
)

func TestFakeDomainStats(t *testing.T) {
	ctx := context.Background()
	f := NewFake()
	t.Cleanup(func() { f.CheckClean(t) }) // registered first, so it runs after the removals below
	const on, off, other = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222", "33333333-3333-4333-8333-333333333333"
	for _, d := range []struct{ name, id string }{
		{virt.InstanceNamePrefix + "00000001", on}, {virt.InstanceNamePrefix + "00000002", off}, {"not-an-instance", other},
	} {
		x, err := virt.BuildDomainXML(TestSpec(d.name, d.id, "/srv"))
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Define(ctx, x); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = f.Destroy(ctx, d.id); _ = f.Undefine(ctx, d.id) })
	}
	if err := f.Start(ctx, on, false); err != nil {
		t.Fatal(err)
	}
	set := virt.DomainStats{
		UUID: "ignored", CPUTime: 3 * time.Second, MemoryRSS: 1 << 20,
		Disks: []virt.DiskStats{{Device: "vda", ReadBytes: 7}},
		NICs:  []virt.NICStats{{Device: "tap0", TxDrops: 1}},
	}
	f.SetStats(on, set)
	f.SetStats(off, set) // not reported while shut off

	got, err := f.DomainStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []virt.DomainStats{{
		UUID: on, Name: virt.InstanceNamePrefix + "00000001", State: virt.PowerRunning, VCPUs: 1,
		CPUTime: 3 * time.Second, MemoryMax: 128 << 20, MemoryRSS: 1 << 20, Disks: set.Disks, NICs: set.NICs,
	}, {
		UUID: off, Name: virt.InstanceNamePrefix + "00000002", State: virt.PowerShutdown, MemoryMax: 128 << 20,
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("DomainStats:\n got %+v\nwant %+v", got, want)
	}

	// A hang ends with the caller's deadline, as a bounded libvirt call does, and on release.
	release := f.HangStats()
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := f.DomainStats(short); !errors.Is(err, virt.ErrTimeout) {
		t.Errorf("DomainStats while hung = %v, want ErrTimeout", err)
	}
	done := make(chan error, 1)
	go func() { _, err := f.DomainStats(ctx); done <- err }()
	release()
	release() // idempotent
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("DomainStats after release: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("DomainStats still blocked after release")
	}

	boom := errors.New("boom")
	f.InjectError("DomainStats", boom)
	if _, err := f.DomainStats(ctx); !errors.Is(err, boom) {
		t.Errorf("DomainStats with injected error = %v, want %v", err, boom)
	}
}
