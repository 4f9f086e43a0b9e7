package ovo

import (
	"encoding/json"
	"sort"
	"testing"
	"time"
)

// Every golden primitive (written by nova 26.2.2) decodes and re-encodes to
// the same JSON, field for field.
func TestGoldenRoundTrip(t *testing.T) {
	for name := range goldenBuilders {
		t.Run(name, func(t *testing.T) {
			raw := readGolden(t, name)
			o, err := Decode(raw)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if o.Class() == nil {
				t.Fatalf("class %s not in the manifest", o.Name())
			}
			out, err := json.Marshal(o)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			requireSame(t, "re-encoded "+name, mustJSON(t, raw), mustJSON(t, out))
		})
	}
}

// Objects built from scratch in Go encode to exactly what nova encodes.
func TestGoBuiltObjectsMatchGolden(t *testing.T) {
	for name, build := range goldenBuilders {
		t.Run(name, func(t *testing.T) {
			o := build(t)
			requireSame(t, "Go-built "+name, mustJSON(t, readGolden(t, name)), toJSONTree(t, o))
		})
	}
}

func TestGoldenInstanceValues(t *testing.T) {
	inst, err := Decode(readGolden(t, "instance.json"))
	if err != nil {
		t.Fatal(err)
	}
	if inst.Name() != "Instance" || inst.Version() != "2.7" {
		t.Fatalf("got %s %s", inst.Name(), inst.Version())
	}
	wantStr := map[string]string{
		"uuid": goldenInstanceUUID, "host": goldenHost, "node": goldenNode,
		"vm_state": "building", "access_ip_v4": "192.0.2.10", "config_drive": "",
	}
	for k, want := range wantStr {
		if got, ok := Value[string](inst, k); !ok || got != want {
			t.Errorf("%s = %q, %v; want %q", k, got, ok, want)
		}
	}
	if id, _ := Value[int64](inst, "id"); id != 42 {
		t.Errorf("id = %d", id)
	}
	if ps, ok := Value[int64](inst, "power_state"); !ok || ps != 0 {
		t.Errorf("power_state = %d, %v", ps, ok)
	}
	if la, _ := Value[time.Time](inst, "launched_at"); !la.Equal(ts(2026, 11, 23, 20, 16, 1)) {
		t.Errorf("launched_at = %v", la)
	}
	// Nullable fields that are set to null are set, with a nil value.
	for _, k := range []string{"task_state", "updated_at", "ephemeral_key_uuid", "fault"} {
		v, ok := inst.Get(k)
		if !ok || v != nil {
			t.Errorf("%s = %v, set %v; want null", k, v, ok)
		}
	}
	// Lazy-loaded fields nova did not send are unset.
	for _, k := range []string{"pci_devices", "keypairs", "services", "ec2_ids"} {
		if inst.IsSet(k) {
			t.Errorf("%s is set, want absent", k)
		}
	}
	sm, _ := Value[map[string]any](inst, "system_metadata")
	if sm["image_kernel_id"] != nil || sm["owner_user_name"] != "demo" {
		t.Errorf("system_metadata = %v", sm)
	}
	flavor, ok := Value[*Object](inst, "flavor")
	if !ok || flavor.Name() != "Flavor" {
		t.Fatalf("flavor = %v", flavor)
	}
	if r, _ := Value[float64](flavor, "rxtx_factor"); r != 1.0 {
		t.Errorf("flavor.rxtx_factor = %v", r)
	}
	if w, _ := Value[int64](flavor, "vcpu_weight"); w != 10 {
		t.Errorf("flavor.vcpu_weight = %v", w)
	}
	if got := flavor.ObjWhatChanged(); !equalStrings(got, []string{"vcpu_weight"}) {
		t.Errorf("flavor changes = %v", got)
	}
	sgs, _ := Value[*Object](inst, "security_groups")
	groups, _ := Value[[]*Object](sgs, "objects")
	if len(groups) != 1 {
		t.Fatalf("security groups = %v", groups)
	}
	if n, _ := Value[string](groups[0], "name"); n != "default" {
		t.Errorf("security group name = %q", n)
	}
	ic, _ := Value[*Object](inst, "info_cache")
	ni, _ := Value[string](ic, "network_info")
	var vifs []map[string]any
	if err := json.Unmarshal([]byte(ni), &vifs); err != nil || len(vifs) != 1 || vifs[0]["devname"] != "tap0c1d2e3f-aa" {
		t.Errorf("network_info = %v (%v)", vifs, err)
	}
	want := []string{"access_ip_v4", "flavor", "host", "launched_at", "launched_on", "node", "task_state"}
	if got := inst.ObjWhatChanged(); !equalStrings(got, want) {
		t.Errorf("changes = %v, want %v", got, want)
	}
	// Resetting the top level leaves "flavor" dirty through its own changes,
	// as in oslo.
	inst.ObjResetChanges()
	if got := inst.ObjWhatChanged(); !equalStrings(got, []string{"flavor"}) {
		t.Errorf("after reset, changes = %v", got)
	}
}

func TestGoldenOtherValues(t *testing.T) {
	svc, err := Decode(readGolden(t, "service.json"))
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := Value[int64](svc, "version"); v != 64 {
		t.Errorf("service version = %d", v)
	}
	if ls, _ := Value[time.Time](svc, "last_seen_up"); !ls.Equal(ts(2026, 11, 23, 20, 15, 3)) {
		t.Errorf("last_seen_up = %v", ls)
	}

	cn, err := Decode(readGolden(t, "compute_node.json"))
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := Value[float64](cn, "cpu_allocation_ratio"); r != 16.0 {
		t.Errorf("cpu_allocation_ratio = %v", r)
	}
	if ip, _ := Value[string](cn, "host_ip"); ip != "192.0.2.5" {
		t.Errorf("host_ip = %q", ip)
	}
	specs, _ := Value[[]*Object](cn, "supported_hv_specs")
	if len(specs) != 2 {
		t.Fatalf("supported_hv_specs = %v", specs)
	}
	if a, _ := Value[string](specs[1], "arch"); a != "i686" {
		t.Errorf("second hv spec arch = %q", a)
	}
	stats, _ := Value[map[string]any](cn, "stats")
	if stats["failed_builds"] != "0" {
		t.Errorf("stats = %v", stats)
	}

	img, err := Decode(readGolden(t, "image_meta.json"))
	if err != nil {
		t.Fatal(err)
	}
	props, _ := Value[*Object](img, "properties")
	cpus, _ := Value[[]any](props, "hw_numa_cpus")
	if len(cpus) != 2 || !equalAny(cpus[1].([]any), []any{int64(2), int64(3)}) {
		t.Errorf("hw_numa_cpus = %#v", cpus)
	}
	if b, _ := Value[bool](props, "hw_qemu_guest_agent"); !b {
		t.Errorf("hw_qemu_guest_agent = %v", b)
	}
	if p, ok := Value[bool](img, "protected"); !ok || p {
		t.Errorf("protected = %v, %v", p, ok)
	}

	ev, err := Decode(readGolden(t, "instance_action_event.json"))
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := Value[string](ev, "result"); r != "Success" {
		t.Errorf("result = %q", r)
	}
	if got := ev.ObjWhatChanged(); !equalStrings(got, []string{"finish_time", "result"}) {
		t.Errorf("changes = %v", got)
	}
}

func equalStrings(a, b []string) bool {
	a, b = append([]string(nil), a...), append([]string(nil), b...)
	sort.Strings(a)
	sort.Strings(b)
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func equalAny(a, b []any) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
