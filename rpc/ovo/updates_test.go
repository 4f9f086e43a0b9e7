package ovo

import (
	"encoding/json"
	"errors"
	"testing"
	"time"
)

// An object_action reply made by the real conductor code, applied in Go,
// leaves the object as nova's remotable wrapper leaves it (golden
// *_applied.json), except for one nova quirk noted below.
func TestApplyActionReplyInstanceSave(t *testing.T) {
	inst, err := Decode(readGolden(t, "instance.json"))
	if err != nil {
		t.Fatal(err)
	}
	result, err := ApplyActionReply(inst, readGolden(t, "instance_save_reply.json"))
	if err != nil {
		t.Fatalf("ApplyActionReply: %v", err)
	}
	if string(result) != "null" {
		t.Errorf("result = %s", result)
	}
	if u, _ := Value[time.Time](inst, "updated_at"); !u.Equal(ts(2026, 11, 23, 20, 16, 2)) {
		t.Errorf("updated_at = %v", u)
	}
	ic, _ := Value[*Object](inst, "info_cache")
	if ni, _ := Value[string](ic, "network_info"); ni != "[]" {
		t.Errorf("info_cache.network_info = %q", ni)
	}
	if h, _ := Value[string](inst, "host"); h != goldenHost {
		t.Errorf("host (not in updates) = %q", h)
	}
	if got := inst.ObjWhatChanged(); len(got) != 0 {
		t.Errorf("changes = %v, want none", got)
	}

	applied := mustJSON(t, readGolden(t, "instance_save_applied.json")).(map[string]any)
	// nova quirk: Flavor._obj_from_primitive leaves its extra_specs tracker
	// empty, so a received flavor with extra_specs always reports them
	// changed, and Python shows "flavor" dirty. Go does not copy that (it
	// would only make conductor rewrite an unchanged flavor on every save).
	if c := applied[KeyChanges]; len(c.([]any)) != 1 || c.([]any)[0] != "flavor" {
		t.Fatalf("golden changes = %v; the flavor quirk this test explains has changed", c)
	}
	delete(applied, KeyChanges)
	flavor := applied[KeyData].(map[string]any)["flavor"].(map[string]any)
	if c := flavor[KeyChanges]; len(c.([]any)) != 1 || c.([]any)[0] != "extra_specs" {
		t.Fatalf("golden flavor changes = %v; the flavor quirk this test explains has changed", c)
	}
	delete(flavor, KeyChanges)
	requireSame(t, "applied instance", applied, toJSONTree(t, inst))
}

func TestApplyActionReplyServiceCreate(t *testing.T) {
	svc := build(t, "Service", fields{
		f("host", goldenHost), f("binary", "nova-compute"), f("topic", "compute"),
		f("report_count", 0), f("disabled", false), f("forced_down", false), f("version", 64),
	})
	if _, err := ApplyActionReply(svc, readGolden(t, "service_create_reply.json")); err != nil {
		t.Fatal(err)
	}
	if id, _ := Value[int64](svc, "id"); id != 9 {
		t.Errorf("id = %d", id)
	}
	if got := svc.ObjWhatChanged(); !equalStrings(got, []string{"report_count"}) {
		t.Errorf("changes = %v", got)
	}
	requireSame(t, "applied service", mustJSON(t, readGolden(t, "service_create_applied.json")), toJSONTree(t, svc))
}

func TestApplyUpdatesDecodedForms(t *testing.T) {
	// Updates already run through DecodeEntity carry *Object values.
	v, err := DecodeEntity(readGolden(t, "instance_save_reply.json"))
	if err != nil {
		t.Fatal(err)
	}
	updates := v.([]any)[0].(map[string]any)
	if _, ok := updates["flavor"].(*Object); !ok {
		t.Fatalf("flavor decoded as %T", updates["flavor"])
	}
	inst := buildInstance(t)
	if err := ApplyUpdates(inst, updates); err != nil {
		t.Fatal(err)
	}
	if u, _ := Value[time.Time](inst, "updated_at"); !u.Equal(ts(2026, 11, 23, 20, 16, 2)) {
		t.Errorf("updated_at = %v", u)
	}
	// Plain json.Unmarshal output (float64 numbers) works too; unknown
	// entries are ignored, as in oslo.
	var plain map[string]any
	_ = json.Unmarshal([]byte(`{"progress": 50, "no_such_field": 1, "obj_what_changed": ["progress", "bogus"]}`), &plain)
	if err := ApplyUpdates(inst, plain); err != nil {
		t.Fatal(err)
	}
	if p, _ := Value[int64](inst, "progress"); p != 50 {
		t.Errorf("progress = %d", p)
	}
	if got := inst.ObjWhatChanged(); !equalStrings(got, []string{"progress"}) {
		t.Errorf("changes = %v", got)
	}
}

func TestApplyUpdatesIsAllOrNothing(t *testing.T) {
	cn := buildComputeNode(t)
	before := toJSONTree(t, cn)
	for name, updates := range map[string]map[string]any{
		"bad value":         {"vcpus_used": 3, "memory_mb": "lots"},
		"read-only changed": {"vcpus_used": 3, "id": 2},
		"bad what_changed":  {"vcpus_used": 3, "obj_what_changed": "vcpus_used"},
		"wrong object":      {"vcpus_used": 3, "pci_device_pools": map[string]any{KeyName: "Flavor", KeyNamespace: "nova", KeyVersion: "1.2", KeyData: map[string]any{}}},
	} {
		err := ApplyUpdates(cn, updates)
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
		if name == "read-only changed" && !errors.Is(err, ErrReadOnly) {
			t.Errorf("%s: err = %v", name, err)
		}
		requireSame(t, name+": object after failed apply", before, toJSONTree(t, cn))
	}
	// The same value for a read-only field is fine (conductor sends back
	// every field it cannot compare, e.g. after create).
	if err := ApplyUpdates(cn, map[string]any{"id": json.Number("1")}); err != nil {
		t.Errorf("same read-only value: %v", err)
	}
}

func TestApplyActionReplyRejects(t *testing.T) {
	inst := buildInstance(t)
	for _, reply := range []string{``, `{}`, `[]`, `[{}]`, `[{}, null, 1]`, `[[], null]`, `["x", null]`, `[{"launched_at": 5}, null]`} {
		if _, err := ApplyActionReply(inst, json.RawMessage(reply)); !errors.Is(err, ErrMalformed) {
			t.Errorf("reply %q: err = %v", reply, err)
		}
	}
	if err := ApplyUpdates(nil, map[string]any{}); err == nil {
		t.Error("nil object accepted")
	}
	gizmo, _ := Decode([]byte(`{"nova_object.name": "Gizmo", "nova_object.namespace": "nova", "nova_object.version": "1.0", "nova_object.data": {}}`))
	if err := ApplyUpdates(gizmo, map[string]any{}); !errors.Is(err, ErrUnknown) {
		t.Errorf("unknown class: %v", err)
	}
}
