package agent

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/novalet/novalet/rpc/ovo"
	"github.com/novalet/novalet/virt"
)

// TestRestartAfterSourceKilledDuringDiskCopy: the source novalet dies (kill -9) while it
// copies the disk to the destination. The copy is frozen at that point (the old process
// never runs again until the state is checked) and a new agent for the same host runs the
// start-up recovery on what it left: nova's _init_instance row for resize_migrating puts
// <uuid>_resize back, defines and starts the guest on the old flavor, and clears the task
// state; the instance stays on the source host.
func TestRestartAfterSourceKilledDuringDiskCopy(t *testing.T) {
	e := newOpsEnv(t)
	id := e.newResizable(t)
	p, r1, _ := newPeerEnv(t, e)
	reached, release := make(chan struct{}), make(chan struct{})
	r1.onCopy = func(src string) error {
		if filepath.Base(src) != "disk" {
			return nil
		}
		close(reached)
		<-release
		return errors.New("the process was killed") // what the frozen operation sees afterwards
	}
	migID := e.startMove(t, p, id, testFlavor(t, 1, 1, 256, 1, "tiny"))
	done := make(chan error, 1)
	go func() { done <- hop(t, p, e, "resize_instance") }()
	<-reached
	released := false
	t.Cleanup(func() {
		if !released {
			close(release)
			<-done
		}
	})

	// the state a kill -9 leaves on the source, mid-copy
	if !exists(filepath.Join(e.path, id+"_resize", "disk")) {
		t.Fatal("mid-copy: no <uuid>_resize on the source")
	}
	if task, _ := ovo.Value[string](e.cond.Instance(id), "task_state"); task != taskResizeMigrating {
		t.Fatalf("mid-copy task_state %q, want %s", task, taskResizeMigrating)
	}

	restarted := testAgent(t, e.cond, t.TempDir(), nil, func(d *Deps, o *Options) {
		d.Hypervisor, d.Images, d.Caster, d.Network, d.Taps, d.Remote = e.hv, e.images, e.caster, e.net, e.taps, r1
		o.Compute = e.a.c.opts
	})
	restarted.rt.report.Store(e.a.rt.report.Load())
	inst, err := decodeInstance(mustJSON(t, e.cond.Instance(id)))
	must(t, err)
	restarted.recoverInstance(t.Context(), request(t, "x", nil).Context, inst)

	if exists(filepath.Join(e.path, id+"_resize")) || !exists(filepath.Join(e.path, id, "disk")) {
		t.Fatal("recovery did not put <uuid>_resize back")
	}
	if st, _ := e.hv.State(t.Context(), id); st != virt.PowerRunning {
		t.Fatalf("guest %v after recovery, want running", st)
	}
	stored := e.cond.Instance(id)
	task, _ := ovo.Value[string](stored, "task_state")
	host, _ := ovo.Value[string](stored, "host")
	if task != "" || host != e.a.Host() {
		t.Fatalf("after recovery: task_state %q host %q", task, host)
	}
	// As nova, the recovery leaves the migration as it was (migrating) and does not reach the
	// destination: its partial copy stays there (an operator removes it; the destination's
	// reaper leaves the directory of an instance the database still has).
	if st := e.cond.MigrationStatuses(migID); !slices.Equal(st, []string{"pre-migrating", "migrating"}) {
		t.Fatalf("migration statuses %q after recovery", st)
	}
	partial := filepath.Join(p.path, id)
	if !exists(partial) {
		t.Fatal("no partial copy on the destination: the test did not stop mid-copy")
	}

	// let the frozen operation end so the fakes can be cleaned up (a killed process would not)
	released = true
	close(release)
	<-done
	must(t, os.RemoveAll(partial))
}
