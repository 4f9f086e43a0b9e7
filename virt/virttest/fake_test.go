package virttest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/novalet/novalet/virt"
)

func TestFakeConforms(t *testing.T) {
	Run(t, func(t *testing.T) virt.Hypervisor {
		f := NewFake()
		f.NamePrefix = ListedPrefix
		t.Cleanup(func() { f.CheckClean(t) })
		return f
	}, fakeDomainXML)
}

// A guest slow to answer the power button is still what libvirtd runs.
func TestFakeConformsWithShutdownDelay(t *testing.T) {
	Run(t, func(t *testing.T) virt.Hypervisor {
		f := NewFake()
		f.NamePrefix = ListedPrefix
		f.ShutdownDelay = 100 * time.Millisecond
		t.Cleanup(func() { f.CheckClean(t) })
		return f
	}, fakeDomainXML)
}

func fakeDomainXML(t *testing.T, name, id string) string {
	x, err := virt.BuildDomainXML(TestSpec(name, id, "/var/lib/nova/instances"))
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func TestFakeInjectedErrorsAndLeaks(t *testing.T) {
	f := NewFake()
	ctx := context.Background()
	x, err := virt.BuildDomainXML(TestSpec(virt.InstanceName(7), "0b6bd7a4-6c36-4a39-8d4e-0d3a2f1c9e01", "/srv"))
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	f.InjectError("Define", boom)
	if err := f.Define(ctx, x); !errors.Is(err, boom) {
		t.Fatalf("Define with an injected error = %v, want boom", err)
	}
	if got := f.Defined(); len(got) != 0 {
		t.Fatalf("a failed Define left %v defined", got)
	}
	if err := f.Define(ctx, x); err != nil {
		t.Fatalf("Define after the injected error: %v", err)
	}
	infos, err := f.List(ctx)
	if err != nil || len(infos) != 1 || infos[0].Name != "instance-00000007" || infos[0].State != virt.PowerShutdown {
		t.Fatalf("List = %+v, %v; want the one instance, shut down", infos, err)
	}

	// A leak is reported.
	rec := &recorder{TB: t}
	f.CheckClean(rec)
	if !rec.failed {
		t.Error("CheckClean passed with a domain still defined")
	}
	if err := f.Undefine(ctx, "0b6bd7a4-6c36-4a39-8d4e-0d3a2f1c9e01"); err != nil {
		t.Fatal(err)
	}
	f.CheckClean(t)
}

// recorder notes a failure instead of failing the test.
type recorder struct {
	testing.TB
	failed bool
}

func (r *recorder) Errorf(string, ...any) { r.failed = true }
func (r *recorder) Helper()               {}

func TestFakeConnectionConforms(t *testing.T) {
	f := NewFake()
	f.NamePrefix = ListedPrefix
	t.Cleanup(func() { f.CheckClean(t) })
	RunConnection(t, f, Outage{
		Break:   func(*testing.T) { f.Disconnect("Connection to libvirt lost: 1") },
		Restore: func(*testing.T) { f.Reconnect() },
	}, fakeDomainXML)
}

// Through WithCallTimeout, as the agent holds it, the connection's state still shows.
func TestFakeConnectionConformsWithCallTimeout(t *testing.T) {
	f := NewFake()
	f.NamePrefix = ListedPrefix
	t.Cleanup(func() { f.CheckClean(t) })
	RunConnection(t, virt.WithCallTimeout(f, time.Minute), Outage{
		Break:   func(*testing.T) { f.Disconnect("Connection to libvirt lost: 1") },
		Restore: func(*testing.T) { f.Reconnect() },
	}, fakeDomainXML)
}
