package agent

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/novalet/novalet/rpc"
	"github.com/novalet/novalet/rpc/ovo"
)

// retryProps are the filter properties the conductor sends when the scheduler may retry
// (max_attempts > 1), and an alternate host as it lists them.
var (
	retryProps = map[string]any{"retry": map[string]any{"num_attempts": 1, "hosts": []any{[]any{"vm", "vm"}}}}
	alternates = []any{map[string]any{"nova_object.name": "Selection", "nova_object.namespace": "nova",
		"nova_object.version": "1.1", "nova_object.data": map[string]any{"service_host": "vm2", "nodename": "vm2"}}}
)

// TestPrepResizeFailureIsRescheduled: with retry information, a prep_resize that fails here
// goes back to the conductor as nova's _reschedule_resize_or_reraise sends it (migrate_server
// 1.20, a call, with the exception in the retry and the alternates as received); the
// instance keeps its state with task resize_prep and a fault, the allocations are the
// instance's again, and nothing is cast to the source.
func TestPrepResizeFailureIsRescheduled(t *testing.T) {
	e := newOpsEnv(t)
	id := e.newResizable(t)
	migID, err := e.migrateToSelf(t, id, retryProps, alternates)
	if err != nil {
		t.Fatalf("prep_resize = %v, want the failure rescheduled", err)
	}
	e.caster.mu.Lock()
	calls := slices.Clone(e.caster.calls)
	e.caster.mu.Unlock()
	if len(calls) != 1 || calls[0].Method != "migrate_server" || calls[0].Target != conductorMigrateTarget {
		t.Fatalf("conductor calls %+v, want one migrate_server to %+v", calls, conductorMigrateTarget)
	}
	args := roundTrip(t, calls[0].Args)
	var hint struct {
		FilterProperties struct {
			Retry struct {
				NumAttempts int      `json:"num_attempts"`
				Exc         []string `json:"exc"`
			} `json:"retry"`
		} `json:"filter_properties"`
	}
	must(t, json.Unmarshal(args["scheduler_hint"], &hint))
	retry := hint.FilterProperties.Retry
	if retry.NumAttempts != 1 || len(retry.Exc) != 1 || !strings.HasPrefix(retry.Exc[0], "nova.exception.UnableToMigrateToSelf: ") {
		t.Errorf("retry %+v", retry)
	}
	var hosts []map[string]any
	must(t, json.Unmarshal(args["host_list"], &hosts))
	if len(hosts) != 1 || hosts[0]["nova_object.name"] != "Selection" {
		t.Errorf("host_list %s, want the alternates as received", args["host_list"])
	}
	for k, want := range map[string]string{"live": "false", "rebuild": "false", "clean_shutdown": "true",
		"block_migration": "null", "disk_over_commit": "null", "reservations": "null", "request_spec": "null"} {
		if string(args[k]) != want {
			t.Errorf("%s = %s, want %s", k, args[k], want)
		}
	}
	if f, err := ovo.Decode(args["flavor"]); err != nil || f.Name() != "Flavor" {
		t.Errorf("flavor %s", args["flavor"])
	}
	stored := e.cond.Instance(id)
	vm, _ := ovo.Value[string](stored, "vm_state")
	task, _ := ovo.Value[string](stored, "task_state")
	if vm != vmActive || task != taskResizePrep {
		t.Errorf("instance %s/%s, want active/resize_prep", vm, task)
	}
	if msgs := e.cond.FaultMessages(id); len(msgs) != 1 || !strings.Contains(msgs[0], "Unable to migrate") {
		t.Errorf("faults %q", msgs)
	}
	if st := e.cond.MigrationStatuses(migID); slices.Contains(st, "error") {
		t.Errorf("migration statuses %q: a rescheduled migration is not errored here", st)
	}
	if e.pl.HasAllocations(migID) || !maps.Equal(e.pl.Allocations(id), oldAlloc) {
		t.Error("allocations not the instance's again")
	}
	if !slices.Contains(e.cond.Events(id), "finish compute_prep_resize ok") {
		t.Errorf("events %q", e.cond.Events(id))
	}
	if e.countCasts("resize_instance") != 0 {
		t.Error("resize_instance cast after a rescheduled prep_resize")
	}
}

// TestPrepResizeRescheduleRefused: the conductor has no alternate left: the reschedule's
// error and then the original one are recorded, and the original is the operation's failure
// (the instance rolled back to active, the migration in error).
func TestPrepResizeRescheduleRefused(t *testing.T) {
	e := newOpsEnv(t)
	e.caster.callErr = rpc.NovaError("MaxRetriesExceeded", "Exceeded maximum number of retries. Exhausted all hosts available for retrying build failures.", map[string]any{"code": 500})
	id := e.newResizable(t)
	migID, err := e.migrateToSelf(t, id, retryProps, alternates)
	if err == nil || !strings.Contains(err.Error(), "UnableToMigrateToSelf") {
		t.Fatalf("prep_resize = %v, want UnableToMigrateToSelf", err)
	}
	msgs := e.cond.FaultMessages(id)
	if len(msgs) != 2 || !strings.Contains(msgs[0], "Exceeded maximum number of retries") || !strings.Contains(msgs[1], "Unable to migrate") {
		t.Errorf("faults %q, want the reschedule's then the original", msgs)
	}
	stored := e.cond.Instance(id)
	if vm, _ := ovo.Value[string](stored, "vm_state"); vm != vmActive {
		t.Errorf("vm_state %q", vm)
	}
	if st := e.cond.MigrationStatuses(migID); len(st) == 0 || st[len(st)-1] != "error" {
		t.Errorf("migration statuses %q", st)
	}
}

// TestPrepResizeWithoutRetryIsNotRescheduled: no retry information (max_attempts 1): nothing
// goes to the conductor.
func TestPrepResizeWithoutRetryIsNotRescheduled(t *testing.T) {
	e := newOpsEnv(t)
	id := e.newResizable(t)
	if _, err := e.migrateToSelf(t, id, map[string]any{}, alternates); err == nil {
		t.Fatal("prep_resize succeeded")
	}
	if len(e.caster.calls) != 0 {
		t.Errorf("conductor calls %+v without retry information", e.caster.calls)
	}
}

// roundTrip encodes args as they go on the wire and returns each argument's JSON.
func roundTrip(t *testing.T, args map[string]any) map[string]json.RawMessage {
	t.Helper()
	b, err := json.Marshal(args)
	must(t, err)
	var out map[string]json.RawMessage
	must(t, json.Unmarshal(b, &out))
	return out
}
