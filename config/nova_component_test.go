//go:build component

package config

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/novalet/novalet/internal/testenv"
)

// The embedded option table is what Debian's nova 26.2.2 registers today.
func TestOptionTableMatchesNova(t *testing.T) {
	testenv.RequirePython(t, "nova.conf", "keystoneauth1")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, testenv.Python, "gen_options.py").Output()
	if err != nil {
		t.Fatalf("gen_options.py: %v", err)
	}
	if !bytes.Equal(out, novaOptionsJSON) {
		t.Fatal("nova_options.json differs from what gen_options.py prints now: regenerate it " +
			"(/usr/bin/python3 config/gen_options.py > config/nova_options.json) and review the diff")
	}
}

// oslo.config itself, with nova's options registered, reads the same values from the same
// files as novalet for every option novalet reads.
func TestValuesMatchOsloConfig(t *testing.T) {
	testenv.RequirePython(t, "nova.conf", "oslo_config")
	dir := t.TempDir()
	// nova's pybasedir is its Python package directory; pin it so both sides agree.
	pin := writeFile(t, dir, "pybasedir.conf", "[DEFAULT]\npybasedir = /var/lib/nova\n")
	rich := writeFile(t, dir, "rich.conf", `[DEFAULT]
my_ip = 10.9.8.7
host = compute-7
instances_path = $state_path/guests
report_interval = 5
cpu_allocation_ratio = 4.0
force_raw_images = no
resume_guests_state_on_host_boot = On
vif_plugging_is_fatal = 0
instance_name_template = "inst-%08x"
[vnc]
server_listen = $my_ip
server_proxyclient_address = ${my_ip}
[libvirt]
virt_type = qemu
hw_machine_type = x86_64=pc-i440fx-7.2, aarch64=virt
[placement]
valid_interfaces = public,internal,
timeout = 30
[upgrade_levels]
compute = auto
[DEFAULT]
vnc_enabled = false
`)
	cases := map[string][]string{
		"reference compute":    {filepath.Join(referenceDir, "nova.conf"), pin},
		"reference controller": {filepath.Join(referenceDir, "nova-controller.conf"), pin},
		"rich":                 {pin, rich},
	}
	for name, files := range cases {
		t.Run(name, func(t *testing.T) {
			var sources []Source
			for _, f := range files {
				sources = append(sources, Source{Path: f})
			}
			c := load(t, sources...)
			var wanted [][2]string
			for _, e := range c.Effective() {
				if e.Group != "novalet" {
					wanted = append(wanted, [2]string{e.Group, e.Name})
				}
			}
			py := osloValues(t, files, wanted)
			for _, e := range c.Effective() {
				if e.Group == "novalet" {
					continue
				}
				key := e.Group + "/" + e.Name
				pv, ok := py[key]
				if !ok {
					t.Errorf("%s: oslo.config gave no value", key)
					continue
				}
				if !sameValue(e.Value, pv) {
					if Secret(e.Group, e.Name) {
						t.Errorf("%s: novalet and oslo.config differ (secret, not shown)", key)
					} else {
						t.Errorf("%s: novalet %#v, oslo.config %#v", key, e.Value, pv)
					}
				}
			}
		})
	}
}

func osloValues(t *testing.T, files []string, wanted [][2]string) map[string]any {
	t.Helper()
	in, _ := json.Marshal(wanted)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, testenv.Python, append([]string{"testdata/oslo_values.py"}, files...)...)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("oslo_values.py: %v\n%s", err, stderr.String())
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("oslo_values.py output: %v", err)
	}
	return m
}

// sameValue compares a Go value with the JSON of oslo's: None equals Go's zero value.
func sameValue(goVal, pyVal any) bool {
	if pyVal == nil {
		return goVal == nil || reflect.ValueOf(goVal).IsZero()
	}
	switch g := goVal.(type) {
	case int:
		f, ok := pyVal.(float64)
		return ok && f == float64(g)
	case []string:
		p, ok := pyVal.([]any)
		if !ok || len(p) != len(g) {
			return false
		}
		for i := range g {
			if fmt.Sprint(p[i]) != g[i] {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(goVal, pyVal)
}
