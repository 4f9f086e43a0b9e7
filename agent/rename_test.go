package agent

import (
	"errors"
	"testing"
)

// TestHostRenameIsRefused: the node's kept uuid names a record under another host name (the
// operator changed [DEFAULT] host): start-up stops with ErrHostRenamed and a way out, instead
// of leaving a second record for the same node. After `compute service delete` of the old
// host (the record is soft-deleted), a start creates the node anew.
func TestHostRenameIsRefused(t *testing.T) {
	fc := newFakeConductor()
	state := t.TempDir()
	a := testAgent(t, fc, state, nil)
	if err := a.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	renamed := testAgent(t, fc, state, nil, func(_ *Deps, o *Options) { o.Host = "cmp1-new" })
	err := renamed.Start(t.Context())
	if !errors.Is(err, ErrHostRenamed) {
		t.Fatalf("start under a new host name: %v, want ErrHostRenamed", err)
	}
	if fc.ComputeNode("cmp1-new", "cmp1.example") != nil {
		t.Fatal("a second compute record was created for the renamed node")
	}
	fc.DeleteService("cmp1")
	again := testAgent(t, fc, state, nil, func(_ *Deps, o *Options) { o.Host = "cmp1-new" })
	if err := again.Start(t.Context()); err != nil {
		t.Fatalf("start after the old service was deleted: %v", err)
	}
	if again.NodeUUID() == a.NodeUUID() || fc.ComputeNode("cmp1-new", "cmp1.example") == nil {
		t.Fatal("the node was not created anew with a new uuid")
	}
}
