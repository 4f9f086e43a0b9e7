package virt_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/novalet/novalet/virt"
	"github.com/novalet/novalet/virt/virttest"
)

// hung answers State and List only when its context ends, as Conn does for a libvirtd that
// stopped answering.
type hung struct{ *virttest.Fake }

func (hung) State(ctx context.Context, _ string) (virt.PowerState, error) {
	<-ctx.Done()
	return virt.PowerNoState, ctx.Err()
}

func (hung) List(ctx context.Context) ([]virt.DomainInfo, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func TestCallTimeoutBoundsAHungHypervisor(t *testing.T) {
	h := virt.WithCallTimeout(hung{virttest.NewFake()}, 50*time.Millisecond)
	start := time.Now()
	if _, err := h.State(context.Background(), "6f1c2b1a-3d2e-4f5a-8b7c-9d0e1f2a3b4c"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("State = %v, want the call's deadline", err)
	}
	if _, err := h.List(context.Background()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("List = %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("two hung calls took %v", took)
	}
	if virt.WithCallTimeout(hung{}, 0) == nil {
		t.Fatal("a zero timeout must return the hypervisor unchanged")
	}
}

// The bounded hypervisor is still a Hypervisor: the conformance suite passes through it.
func TestCallTimeoutConformance(t *testing.T) {
	virttest.Run(t, func(t *testing.T) virt.Hypervisor {
		f := virttest.NewFake()
		f.NamePrefix = virttest.ListedPrefix
		t.Cleanup(func() { f.CheckClean(t) })
		return virt.WithCallTimeout(f, 10*time.Second)
	},
		func(t *testing.T, name, id string) string {
			x, err := virt.BuildDomainXML(virttest.TestSpec(name, id, t.TempDir()))
			if err != nil {
				t.Fatal(err)
			}
			return x
		})
}
