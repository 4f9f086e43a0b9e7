package ovo

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestNew(t *testing.T) {
	if _, err := New("NoSuchObject"); !errors.Is(err, ErrUnknown) {
		t.Errorf("New(unknown): err = %v", err)
	}
	inst, err := New("Instance")
	if err != nil {
		t.Fatal(err)
	}
	if inst.Version() != "2.7" || len(inst.Fields()) != 0 {
		t.Errorf("new Instance: version %s, fields %v", inst.Version(), inst.Fields())
	}
	// A new list has an empty, unchanged "objects" (ObjectListBase.__init__).
	list, _ := New("InstanceList")
	requireSame(t, "new InstanceList", mustJSON(t, []byte(
		`{"nova_object.name": "InstanceList", "nova_object.namespace": "nova",
		  "nova_object.version": "2.6", "nova_object.data": {"objects": []}}`)), toJSONTree(t, list))
	// Ephemeral classes start with their defaults, marked changed.
	rg, _ := New("RequestGroup")
	if traits, ok := Value[[]any](rg, "required_traits"); !ok || len(traits) != 0 {
		t.Errorf("RequestGroup.required_traits = %v, %v", traits, ok)
	}
	if v, ok := rg.Get("in_tree"); !ok || v != nil {
		t.Errorf("RequestGroup.in_tree = %v, %v", v, ok)
	}
	if !equalStrings(rg.ObjWhatChanged(), rg.Fields()) {
		t.Errorf("RequestGroup changes %v, fields %v", rg.ObjWhatChanged(), rg.Fields())
	}
}

func TestChangeTracking(t *testing.T) {
	inst := buildInstance(t)
	inst.ObjResetChangesRecursive()
	if got := inst.ObjWhatChanged(); len(got) != 0 {
		t.Fatalf("after recursive reset: %v", got)
	}
	if _, ok := inst.ToPrimitive()[KeyChanges]; ok {
		t.Error("primitive has changes after reset")
	}
	// A nested object's change makes the holding field changed.
	ic, _ := Value[*Object](inst, "info_cache")
	if err := ic.Set("network_info", "[]"); err != nil {
		t.Fatal(err)
	}
	if err := inst.Set("vm_state", "active"); err != nil {
		t.Fatal(err)
	}
	if got := inst.ObjWhatChanged(); !equalStrings(got, []string{"info_cache", "vm_state"}) {
		t.Errorf("changes = %v", got)
	}
	inst.ObjResetChanges("vm_state")
	if got := inst.ObjWhatChanged(); !equalStrings(got, []string{"info_cache"}) {
		t.Errorf("after resetting vm_state: %v", got)
	}
	// Only the "objects" of a list class propagate element changes.
	sgs, _ := Value[*Object](inst, "security_groups")
	groups, _ := Value[[]*Object](sgs, "objects")
	if err := groups[0].Set("name", "other"); err != nil {
		t.Fatal(err)
	}
	if got := sgs.ObjWhatChanged(); !equalStrings(got, []string{"objects"}) {
		t.Errorf("list changes = %v", got)
	}
	if got := inst.ObjWhatChanged(); !equalStrings(got, []string{"info_cache", "security_groups"}) {
		t.Errorf("changes = %v", got)
	}
	cn := buildComputeNode(t)
	cn.ObjResetChangesRecursive()
	specs, _ := Value[[]*Object](cn, "supported_hv_specs")
	_ = specs[0].Set("vm_mode", "exe")
	if got := cn.ObjWhatChanged(); len(got) != 0 {
		t.Errorf("ComputeNode changes = %v; oslo does not look into ListOfObjects fields", got)
	}
	// Recursive reset of named fields only reaches those fields' objects.
	inst.ObjResetChangesRecursive("info_cache")
	if ic.hasChanges() || !groups[0].hasChanges() {
		t.Errorf("recursive reset of info_cache: info_cache %v, group %v", ic.ObjWhatChanged(), groups[0].ObjWhatChanged())
	}
	// Unset removes the value but not the change mark.
	_ = inst.Set("hostname", "x")
	inst.Unset("hostname")
	if inst.IsSet("hostname") || !containsString(inst.ObjWhatChanged(), "hostname") {
		t.Errorf("after Unset: set %v, changes %v", inst.IsSet("hostname"), inst.ObjWhatChanged())
	}
	if _, ok := inst.ToPrimitive()[KeyData].(map[string]any)["hostname"]; ok {
		t.Error("unset field encoded")
	}
	if c, _ := inst.ToPrimitive()[KeyChanges].([]string); containsString(c, "hostname") {
		t.Error("unset field listed in changes")
	}
}

func TestClone(t *testing.T) {
	inst := buildInstance(t)
	c := inst.Clone()
	requireSame(t, "clone", toJSONTree(t, inst), toJSONTree(t, c))
	fl, _ := Value[*Object](c, "flavor")
	_ = fl.Set("name", "changed")
	md, _ := Value[map[string]any](c, "metadata")
	md["role"] = "db"
	orig, _ := Value[*Object](inst, "flavor")
	if n, _ := Value[string](orig, "name"); n != "m1.tiny" {
		t.Errorf("clone shares the flavor: %q", n)
	}
	if m, _ := Value[map[string]any](inst, "metadata"); m["role"] != "web" {
		t.Errorf("clone shares metadata: %v", m)
	}
	if (*Object)(nil).Clone() != nil {
		t.Error("nil clone")
	}
}

func TestUnknownFieldsAndClassesAreKept(t *testing.T) {
	// A newer peer's field survives a round trip, verbatim.
	in := []byte(`{"nova_object.name": "Flavor", "nova_object.namespace": "nova",
		"nova_object.version": "1.3", "nova_object.data": {"id": 1, "future": {"x": [1.50, "y"]}},
		"nova_object.changes": ["future", "id", "gone"]}`)
	o, err := Decode(in)
	if err != nil {
		t.Fatal(err)
	}
	if raw, ok := o.Get("future"); !ok || string(raw.(json.RawMessage)) != `{"x":[1.50,"y"]}` {
		t.Errorf("future = %s", raw)
	}
	if got := o.ObjWhatChanged(); !equalStrings(got, []string{"id"}) {
		t.Errorf("changes = %v (oslo keeps only known fields)", got)
	}
	out, _ := json.Marshal(o)
	want := `{"nova_object.changes":["id"],"nova_object.data":{"future":{"x":[1.50,"y"]},"id":1},"nova_object.name":"Flavor","nova_object.namespace":"nova","nova_object.version":"1.3"}`
	if string(out) != want {
		t.Errorf("re-encoded:\n%s\nwant\n%s", out, want)
	}
	// A class the manifest lacks decodes with every field raw.
	in = []byte(`{"nova_object.name": "Gizmo", "nova_object.namespace": "nova",
		"nova_object.version": "1.0", "nova_object.data": {"a": 1}, "nova_object.changes": ["a"]}`)
	g, err := Decode(in)
	if err != nil {
		t.Fatal(err)
	}
	if g.Class() != nil || !equalStrings(g.ObjWhatChanged(), []string{"a"}) {
		t.Errorf("Gizmo: class %v, changes %v", g.Class(), g.ObjWhatChanged())
	}
	if err := g.Set("a", 2); !errors.Is(err, ErrUnknown) {
		t.Errorf("Set on unknown class: %v", err)
	}
	requireSame(t, "Gizmo", mustJSON(t, in), toJSONTree(t, g))
}

func TestDecodeRejects(t *testing.T) {
	env := func(data string) string {
		return `{"nova_object.name": "Flavor", "nova_object.namespace": "nova", "nova_object.version": "1.2", "nova_object.data": ` + data + `}`
	}
	for name, in := range map[string]string{
		"empty":             ``,
		"not json":          `{"nova_object.name"`,
		"trailing":          env(`{}`) + ` {}`,
		"array":             `[]`,
		"no name":           `{"nova_object.namespace": "nova", "nova_object.version": "1.0", "nova_object.data": {}}`,
		"name not string":   `{"nova_object.name": 1, "nova_object.namespace": "nova", "nova_object.version": "1.0", "nova_object.data": {}}`,
		"other namespace":   `{"nova_object.name": "Flavor", "nova_object.namespace": "versionedobjects", "nova_object.version": "1.2", "nova_object.data": {}}`,
		"no namespace":      `{"nova_object.name": "Flavor", "nova_object.version": "1.2", "nova_object.data": {}}`,
		"bad version":       `{"nova_object.name": "Flavor", "nova_object.namespace": "nova", "nova_object.version": "one", "nova_object.data": {}}`,
		"no data":           `{"nova_object.name": "Flavor", "nova_object.namespace": "nova", "nova_object.version": "1.2"}`,
		"data list":         env(`[]`),
		"changes string":    `{"nova_object.name": "Flavor", "nova_object.namespace": "nova", "nova_object.version": "1.2", "nova_object.data": {}, "nova_object.changes": "id"}`,
		"changes numbers":   `{"nova_object.name": "Flavor", "nova_object.namespace": "nova", "nova_object.version": "1.2", "nova_object.data": {}, "nova_object.changes": [1]}`,
		"bad int":           env(`{"id": "one"}`),
		"null not nullable": env(`{"id": null}`),
		"bad datetime":      env(`{"created_at": "2026-02-30T00:00:00Z"}`),
		"bad dict":          env(`{"extra_specs": ["a"]}`),
		"bad dict value":    env(`{"extra_specs": {"a": 1.5}}`),
		"bad nested":        `{"nova_object.name": "Instance", "nova_object.namespace": "nova", "nova_object.version": "2.7", "nova_object.data": {"flavor": {"nova_object.name": "Flavor"}}}`,
		"wrong nested":      `{"nova_object.name": "Instance", "nova_object.namespace": "nova", "nova_object.version": "2.7", "nova_object.data": {"flavor": ` + `{"nova_object.name": "Tag", "nova_object.namespace": "nova", "nova_object.version": "1.1", "nova_object.data": {}}}}`,
		"nested not object": `{"nova_object.name": "Instance", "nova_object.namespace": "nova", "nova_object.version": "2.7", "nova_object.data": {"flavor": [1]}}`,
		"null list element": `{"nova_object.name": "TagList", "nova_object.namespace": "nova", "nova_object.version": "1.1", "nova_object.data": {"objects": [null]}}`,
	} {
		o, err := Decode([]byte(in))
		if err == nil {
			t.Errorf("%s: decoded %v", name, o.ToPrimitive())
			continue
		}
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: error %v is not ErrMalformed", name, err)
		}
	}
	// Non-nullable with a default: null becomes the default, as in oslo.
	o, err := Decode([]byte(env(`{"deleted": null}`)))
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := o.Get("deleted"); !ok || v != false {
		t.Errorf("deleted = %v, %v", v, ok)
	}
}

// Nova's object graph has no cycles, so typed decoding is bounded by the
// schema; plain values handed to DecodeEntity are bounded by maxDepth.
func TestDeepNestingIsRefused(t *testing.T) {
	deep := strings.Repeat(`{"a": [`, 200) + "1" + strings.Repeat(`]}`, 200)
	_, err := DecodeEntity([]byte(deep))
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "nested too deeply") {
		t.Errorf("deep nesting: err = %v", err)
	}
	shallow := strings.Repeat(`[`, 20) + "1" + strings.Repeat(`]`, 20)
	if _, err := DecodeEntity([]byte(shallow)); err != nil {
		t.Errorf("20 levels refused: %v", err)
	}
}

func TestDecodeEntity(t *testing.T) {
	raw := `{"instance": ` + string(readGolden(t, "flavor.json")) + `, "n": 1.0, "l": [` +
		string(readGolden(t, "instance_action_event.json")) + `, "x"], "s": null}`
	v, err := DecodeEntity([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	m := v.(map[string]any)
	if o, ok := m["instance"].(*Object); !ok || o.Name() != "Flavor" {
		t.Errorf("instance = %#v", m["instance"])
	}
	if l := m["l"].([]any); l[0].(*Object).Name() != "InstanceActionEvent" || l[1] != "x" {
		t.Errorf("l = %#v", l)
	}
	if n := m["n"].(json.Number); n != "1.0" {
		t.Errorf("n = %v", n)
	}
	out, _ := json.Marshal(v)
	requireSame(t, "entity", mustJSON(t, []byte(raw)), mustJSON(t, out))
	if _, err := DecodeEntity([]byte(`{"a": {"nova_object.name": "Flavor"}}`)); !errors.Is(err, ErrMalformed) {
		t.Errorf("bad nested primitive: %v", err)
	}
}

func TestJSONMarshalerInterfaces(t *testing.T) {
	var holder struct {
		Instance *Object `json:"instance"`
		Missing  *Object `json:"missing"`
	}
	in := `{"instance": ` + string(readGolden(t, "service.json")) + `, "missing": null}`
	if err := json.Unmarshal([]byte(in), &holder); err != nil {
		t.Fatal(err)
	}
	if holder.Instance.Name() != "Service" || holder.Missing != nil {
		t.Errorf("holder = %+v", holder)
	}
	out, err := json.Marshal(holder)
	if err != nil {
		t.Fatal(err)
	}
	requireSame(t, "holder", mustJSON(t, []byte(in)), mustJSON(t, out))
	if err := json.Unmarshal([]byte(`{"instance": {"nova_object.name": 3}}`), &holder); !errors.Is(err, ErrMalformed) {
		t.Errorf("bad embedded object: %v", err)
	}
	if !IsPrimitive(map[string]any{KeyName: "x"}) || IsPrimitive(map[string]any{}) || IsPrimitive("x") {
		t.Error("IsPrimitive")
	}
}

func TestSameFieldComparesWireForms(t *testing.T) {
	a, _ := New("Flavor")
	b, _ := New("Flavor")
	if !SameField(a, b, "name") {
		t.Fatal("two unset fields differ")
	}
	_ = a.Set("name", "m1")
	if SameField(a, b, "name") {
		t.Fatal("set vs unset compared equal")
	}
	_ = b.Set("name", "m1")
	if !SameField(a, b, "name") {
		t.Fatal("equal values differ")
	}
}
