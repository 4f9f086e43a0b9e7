package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestConvert(t *testing.T) {
	intDef := &optionDef{Type: "Integer", Min: f64(1), Max: f64(10)}
	cases := []struct {
		def     *optionDef
		raw     string
		want    any
		wantErr string
	}{
		{intDef, " 5 ", 5, ""},
		{intDef, "", nil, ""},
		{intDef, "0", nil, "greater than or equal to 1"},
		{intDef, "11", nil, "less than or equal to 10"},
		{intDef, "ten", nil, "not an integer"},
		{&optionDef{Type: "Integer", Choices: []any{float64(1), float64(2)}}, "3", nil, "valid values are [1, 2]"},
		{&optionDef{Type: "Port"}, "70000", nil, "less than or equal to 65535"},
		{&optionDef{Type: "Float", Min: f64(0)}, "1.5", 1.5, ""},
		{&optionDef{Type: "Float", Min: f64(0)}, "-1", nil, "greater than or equal to 0"},
		{&optionDef{Type: "Float"}, "x", nil, "not a float"},
		{&optionDef{Type: "String", Choices: []any{"kvm", "qemu"}}, "qemu", "qemu", ""},
		{&optionDef{Type: "String", Choices: []any{"kvm", "qemu"}}, "xen", nil, "valid values are [kvm, qemu]"},
		{&optionDef{Type: "List"}, "a, b,c,", []string{"a", "b", "c"}, ""},
		{&optionDef{Type: "List"}, "", []string{}, ""},
		{&optionDef{Type: "List", Item: &optionDef{Type: "String", Choices: []any{"internal", "public"}}}, "internal,admin", nil, "valid values are [internal, public]"},
		{&optionDef{Type: "Dict"}, "a:1, b : 2", map[string]string{"a": "1", "b": "2"}, ""},
		{&optionDef{Type: "Dict"}, "a", nil, "NAME:VALUE"},
		{&optionDef{Type: "HostAddress"}, "0.0.0.0", "0.0.0.0", ""},
		{&optionDef{Type: "HostAddress"}, "controller", "controller", ""},
		{&optionDef{Type: "HostAddress"}, "bad host!", nil, "not a valid host address"},
		{&optionDef{Type: "URI"}, "http://controller:9292", "http://controller:9292", ""},
		{&optionDef{Type: "URI"}, "controller", nil, "not a valid URI"},
	}
	for _, c := range cases {
		got, err := convert(c.def, c.raw)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("convert(%s, %q) err = %v, want %q", c.def.Type, c.raw, err, c.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("convert(%s, %q) = %#v, %v; want %#v", c.def.Type, c.raw, got, err, c.want)
		}
	}
}

func TestConvertBoolSpellings(t *testing.T) {
	def := &optionDef{Type: "Boolean"}
	for raw, want := range map[string]bool{
		"true": true, "True": true, "TRUE": true, "1": true, "on": true, "On": true, "yes": true, "YES": true,
		"false": false, "False": false, "0": false, "off": false, "OFF": false, "no": false, "No": false,
	} {
		got, err := convert(def, raw)
		if err != nil || got != want {
			t.Errorf("bool %q = %v, %v; want %v", raw, got, err, want)
		}
	}
	if _, err := convert(def, "maybe"); err == nil {
		t.Error("bool \"maybe\" accepted")
	}
}
