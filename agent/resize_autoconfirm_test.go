package agent

import (
	"maps"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/novalet/novalet/internal/conductortest"
	"github.com/novalet/novalet/rpc/ovo"
)

// confirmCasts counts the confirm_resize casts e sent.
func (e *opsEnv) confirmCasts() int {
	e.caster.mu.Lock()
	defer e.caster.mu.Unlock()
	n := 0
	for _, c := range e.caster.casts {
		if c.Method == "confirm_resize" {
			n++
		}
	}
	return n
}

// ageMigration moves the migration's updated_at back by d, as time passing would.
func (e *opsEnv) ageMigration(t *testing.T, migID string, d time.Duration) {
	t.Helper()
	m := e.cond.Migration(migID)
	must(t, m.Set("updated_at", nowUTC().Add(-d)))
	e.cond.PutMigration(m)
}

// putSourceService stores cmp1's Service record, which nova-api reads to know the source up
// (the test agents are not started, so none registered).
func (e *opsEnv) putSourceService(t *testing.T, lastSeenUp time.Time) {
	t.Helper()
	s, err := ovo.New("Service")
	must(t, err)
	must(t, set(s, map[string]any{"id": int64(41), "host": e.a.Host(), "binary": ComputeBinary, "topic": ComputeTopic,
		"created_at": lastSeenUp.Add(-time.Hour), "last_seen_up": lastSeenUp}))
	e.cond.PutService(s)
}

// TestPollUnconfirmedResizesConfirmsAfterTheWindow: with resize_confirm_window 60, the
// destination (cmp2) leaves a migration finished less than 60 s ago alone, retries later
// while the source's service is down, then does what nova-api's confirm_resize does: the
// migration confirming, the action confirmResize, confirm_resize cast to the source (cmp1),
// whose confirm then cleans up and confirms as for a user's confirm.
func TestPollUnconfirmedResizesConfirmsAfterTheWindow(t *testing.T) {
	e := newOpsEnv(t)
	id := e.newResizable(t)
	p, _, _ := newPeerEnv(t, e)
	p.a.c.opts.ResizeConfirmWindow = 60
	migID := e.startMove(t, p, id, testFlavor(t, 1, 1, 256, 1, "tiny"))
	must(t, hop(t, p, e, "resize_instance"))
	must(t, hop(t, e, p, "finish_resize"))
	if vm := e.str(id, "vm_state"); vm != vmResized {
		t.Fatalf("vm_state %q after finish_resize", vm)
	}

	must(t, p.a.pollUnconfirmedResizes(t.Context()))
	if n := p.confirmCasts(); n != 0 || e.cond.Migration(migID) == nil {
		t.Fatalf("a migration finished just now: %d confirm_resize casts", n)
	}
	if st := e.str(id, "vm_state"); st != vmResized {
		t.Fatalf("vm_state %q before the window passed", st)
	}

	e.ageMigration(t, migID, 2*time.Minute)
	e.putSourceService(t, nowUTC().Add(-10*time.Minute))
	must(t, p.a.pollUnconfirmedResizes(t.Context()))
	if n := p.confirmCasts(); n != 0 {
		t.Fatalf("source down: %d confirm_resize casts", n)
	}
	if st := e.cond.MigrationStatuses(migID); st[len(st)-1] != "finished" {
		t.Fatalf("source down: migration statuses %q, want it left finished for the next pass", st)
	}

	must(t, e.cond.SetLastSeenUp("cmp1", nowUTC()))
	must(t, p.a.pollUnconfirmedResizes(t.Context()))
	if n := p.confirmCasts(); n != 1 {
		t.Fatalf("%d confirm_resize casts, want 1", n)
	}
	if st := e.cond.MigrationStatuses(migID); st[len(st)-1] != "confirming" {
		t.Fatalf("migration statuses %q, want confirming last", st)
	}
	if !slices.Contains(e.cond.Actions(), conductortest.Action{InstanceUUID: id, Action: "confirmResize"}) {
		t.Fatalf("actions %v: no confirmResize", e.cond.Actions())
	}
	// a second pass finds nothing: the migration is no longer finished
	must(t, p.a.pollUnconfirmedResizes(t.Context()))
	if n := p.confirmCasts(); n != 1 {
		t.Fatalf("second pass: %d confirm_resize casts, want still 1", n)
	}

	must(t, hop(t, p, e, "confirm_resize"))
	if vm := e.str(id, "vm_state"); vm != vmActive {
		t.Fatalf("vm_state %q after the auto-confirm", vm)
	}
	if st := e.cond.MigrationStatuses(migID); st[len(st)-1] != "confirmed" {
		t.Fatalf("migration statuses %q, want confirmed last", st)
	}
	if slices.Contains(e.hv.Defined(), id) || exists(filepath.Join(e.path, id+"_resize")) {
		t.Fatal("the auto-confirm left the source domain or <uuid>_resize")
	}
	if e.pl.HasAllocations(migID) || !maps.Equal(e.pl.Allocations(id), newAlloc) {
		t.Fatalf("allocations after confirm: migration %v, instance %v", e.pl.Allocations(migID), e.pl.Allocations(id))
	}
}

// TestPollUnconfirmedResizesSetsBadMigrationsToError: past the window, a migration whose
// instance is in ERROR, or not RESIZED and idle, goes to status error without a confirm;
// one whose instance is still finishing (resize_finish) or being deleted is skipped, left
// finished.
func TestPollUnconfirmedResizesSetsBadMigrationsToError(t *testing.T) {
	cases := []struct {
		vm, task, want string
	}{
		{vmError, "", "error"},
		{vmActive, "", "error"},
		{vmResized, taskResizeFinish, "finished"},
		{vmResized, taskDeleting, "finished"},
	}
	for _, c := range cases {
		t.Run(c.vm+"/"+pyNone(c.task), func(t *testing.T) {
			e := newOpsEnv(t)
			id := e.newResizable(t)
			p, _, _ := newPeerEnv(t, e)
			p.a.c.opts.ResizeConfirmWindow = 60
			migID := e.startMove(t, p, id, testFlavor(t, 1, 1, 256, 1, "tiny"))
			must(t, hop(t, p, e, "resize_instance"))
			must(t, hop(t, e, p, "finish_resize"))
			e.ageMigration(t, migID, 2*time.Minute)
			e.putSourceService(t, nowUTC())
			inst := e.cond.Instance(id)
			var task any
			if c.task != "" {
				task = c.task
			}
			must(t, set(inst, map[string]any{"vm_state": c.vm, "task_state": task}))
			e.cond.PutInstance(inst)
			must(t, p.a.pollUnconfirmedResizes(t.Context()))
			if n := p.confirmCasts(); n != 0 {
				t.Fatalf("%d confirm_resize casts", n)
			}
			if st := e.cond.MigrationStatuses(migID); st[len(st)-1] != c.want {
				t.Fatalf("migration statuses %q, want %s last", st, c.want)
			}
			// a user's confirm then cleans up the source
			must(t, set(inst, map[string]any{"vm_state": vmResized, "task_state": nil}))
			e.cond.PutInstance(inst)
			must(t, e.apiMoveRequest(t, id, migID, "confirm_resize", "", "confirming"))
		})
	}
}
