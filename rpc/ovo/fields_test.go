package ovo

import (
	"encoding/json"
	"errors"
	"net/netip"
	"reflect"
	"testing"
	"time"
)

// Set converts natural Go values and wire primitives as oslo's coerce does.
func TestSetConverts(t *testing.T) {
	str := "web"
	var nilStr *string
	cases := []struct {
		class, field string
		in, want     any
	}{
		{"Instance", "memory_mb", 512, int64(512)},
		{"Instance", "memory_mb", uint16(512), int64(512)},
		{"Instance", "memory_mb", "512", int64(512)},
		{"Instance", "memory_mb", json.Number("512"), int64(512)},
		{"Instance", "memory_mb", json.Number("512.0"), int64(512)},
		{"Instance", "memory_mb", 512.0, int64(512)},
		{"Instance", "host", "compute-1", "compute-1"},
		{"Instance", "host", 7, "7"},
		{"Instance", "host", &str, "web"},
		{"Instance", "host", nilStr, nil},
		{"Instance", "host", nil, nil},
		{"Instance", "deleted", nil, false}, // non-nullable with a default
		{"Instance", "locked", true, true},
		{"Instance", "metadata", map[string]string{"a": "b"}, map[string]any{"a": "b"}},
		{"Instance", "system_metadata", map[string]*string{"a": nil, "b": &str}, map[string]any{"a": nil, "b": "web"}},
		{"Instance", "access_ip_v4", "192.0.2.10", "192.0.2.10"},
		{"Instance", "access_ip_v4", netip.MustParseAddr("192.0.2.11"), "192.0.2.11"},
		{"Instance", "access_ip_v6", "2001:DB8:0:0::1", "2001:db8::1"},
		{"Instance", "launched_at", "2026-11-23T21:15:13+01:00", ts(2026, 11, 23, 20, 15, 13)},
		{"Instance", "launched_at", time.Date(2026, 11, 23, 21, 15, 13, 0, time.FixedZone("X", 3600)), ts(2026, 11, 23, 20, 15, 13)},
		{"Flavor", "rxtx_factor", 2, 2.0},
		{"Flavor", "rxtx_factor", "1.5", 1.5},
		{"Flavor", "rxtx_factor", nil, nil},
		{"Flavor", "projects", []string{"p1", "p2"}, []any{"p1", "p2"}},
		{"ComputeNode", "host_ip", "::FFFF:192.0.2.1", "::ffff:192.0.2.1"},
		{"HVSpec", "arch", "x86_64", "x86_64"},
		{"ImageMeta", "protected", "yes", true},
		{"ImageMeta", "protected", "off", false},
		{"ImageMeta", "protected", 1, true},
		{"ImageMetaProps", "hw_numa_cpus", [][]int{{3, 1, 1}, {2}}, []any{[]any{int64(1), int64(3)}, []any{int64(2)}}},
		{"RequestGroup", "required_traits", []string{"B", "A", "B"}, []any{"A", "B"}},
		{"NetworkInterfaceMetadata", "mac", "FA-16-3E-00-00-01", "fa:16:3e:00:00:01"},
		{"PCIDeviceBus", "address", "0000:00:1F.2", "0000:00:1f.2"},
		{"InstanceInfoCache", "network_info", json.RawMessage(`[]`), "[]"},
		{"NetworkRequest", "address", "192.0.2.3", "192.0.2.3"},
	}
	for _, c := range cases {
		o, err := New(c.class)
		if err != nil {
			t.Fatal(err)
		}
		if err := o.Set(c.field, c.in); err != nil {
			t.Errorf("%s.%s = %#v: %v", c.class, c.field, c.in, err)
			continue
		}
		got, _ := o.Get(c.field)
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s.%s = %#v: stored %#v, want %#v", c.class, c.field, c.in, got, c.want)
		}
		if !equalStrings(o.ObjWhatChanged(), []string{c.field}) && !(c.class == "RequestGroup") {
			t.Errorf("%s.%s: changes = %v", c.class, c.field, o.ObjWhatChanged())
		}
	}
}

func TestSetRejects(t *testing.T) {
	flavor, _ := New("Flavor")
	cases := []struct {
		class, field string
		in           any
	}{
		{"Instance", "memory_mb", 1.5},
		{"Instance", "memory_mb", "12x"},
		{"Instance", "memory_mb", true},
		{"Instance", "memory_mb", json.Number("1e30")},
		{"Instance", "memory_mb", uint64(1 << 63)},
		{"Instance", "memory_mb", []int{1}},
		{"Instance", "id", nil}, // not nullable, no default
		{"Instance", "host", 1.5},
		{"Instance", "host", []string{"x"}},
		{"Instance", "locked", "true"}, // Boolean takes booleans only
		{"Instance", "metadata", map[string]any{"a": nil}},
		{"Instance", "metadata", map[int]string{1: "a"}},
		{"Instance", "metadata", []string{"a"}},
		{"Instance", "access_ip_v4", "2001:db8::1"},
		{"Instance", "access_ip_v4", "192.0.2.300"},
		{"Instance", "access_ip_v6", "fe80::1%eth0"},
		{"Instance", "launched_at", "yesterday"},
		{"Instance", "launched_at", 1700000000},
		{"Instance", "flavor", "m1.tiny"},
		{"Instance", "services", flavor}, // wrong class
		{"Instance", "no_such_field", 1},
		{"Flavor", "rxtx_factor", "NaN"},
		{"Flavor", "rxtx_factor", false},
		{"Flavor", "projects", "p1"},
		{"Flavor", "projects", []byte("p1")},
		{"Flavor", "projects", []any{"a", nil}},
		{"HVSpec", "arch", "z80"},
		{"NetworkInterfaceMetadata", "mac", "fa:16:3e:00:00"},
		{"ResourceMetadata", "no_field", 1},
		{"InstanceInfoCache", "network_info", "[{"},
		{"InstanceInfoCache", "network_info", []any{}},
	}
	for _, c := range cases {
		o, err := New(c.class)
		if err != nil {
			t.Fatal(err)
		}
		err = o.Set(c.field, c.in)
		if err == nil {
			got, _ := o.Get(c.field)
			t.Errorf("%s.%s = %#v accepted as %#v", c.class, c.field, c.in, got)
			continue
		}
		if !errors.Is(err, ErrInvalidValue) && !errors.Is(err, ErrUnknown) {
			t.Errorf("%s.%s = %#v: error %v is neither ErrInvalidValue nor ErrUnknown", c.class, c.field, c.in, err)
		}
		if o.IsSet(c.field) || len(o.ObjWhatChanged()) != 0 {
			t.Errorf("%s.%s: failed Set changed the object", c.class, c.field)
		}
	}
}

func TestObjectFieldAcceptsSubclasses(t *testing.T) {
	md, _ := New("DiskMetadata")
	bus, _ := New("PCIDeviceBus")
	if err := md.Set("bus", bus); err != nil {
		t.Errorf("DeviceBus field refused PCIDeviceBus: %v", err)
	}
	flavor, _ := New("Flavor")
	if err := md.Set("bus", flavor); !errors.Is(err, ErrInvalidValue) {
		t.Errorf("DeviceBus field accepted Flavor: %v", err)
	}
}

func TestReadOnlyFields(t *testing.T) {
	cn, _ := New("ComputeNode")
	if err := cn.Set("id", 1); err != nil {
		t.Fatal(err)
	}
	if err := cn.Set("id", "1"); err != nil {
		t.Errorf("writing the same value again: %v", err)
	}
	if err := cn.Set("id", 2); !errors.Is(err, ErrReadOnly) {
		t.Errorf("changing a read-only field: err = %v", err)
	}
	if id, _ := Value[int64](cn, "id"); id != 1 {
		t.Errorf("id = %d after refused change", id)
	}
}
