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
	"slices"
	"testing"
	"time"

	"github.com/novalet/novalet/internal/testenv"
)

// pointReleaseVariants are the definitions that options novalet reads have in the Zed point
// releases Debian's archive has served (nova 2:26.2.2-1~deb12u4 and ~deb12u5, oslo.messaging
// 14.0.0-2 and 14.0.3), where they differ from the embedded table (dumped from deb12u5 with
// oslo.messaging 14.0.3). novalet acts on its table whichever release the node has, so each
// variant here is one whose difference does not change what novalet does:
//
//   - [oslo_messaging_rabbit] kombu_reconnect_delay: 14.0.3 added the limits 0..4.5 (a longer
//     delay outlasts the broker's consumer cancel notification). novalet refuses a value
//     outside them on either release, with a config error naming the limits: the safe side.
//
// deb12u4 and deb12u5 register the same nova options. Any other difference in an option
// novalet reads fails the test; differences in options it does not read are logged.
var pointReleaseVariants = map[string][]string{
	"oslo_messaging_rabbit/kombu_reconnect_delay": {
		`{"default": 1.0, "deprecated": [["DEFAULT", "kombu_reconnect_delay"]], "type": "Float"}`, // 14.0.0
	},
}

// TestOptionTableMatchesNova compares the embedded option table with what Debian's installed
// nova registers now (config/gen_options.py): strictly for every option novalet reads
// (default, type, limits, choices, deprecated names), allowing only the point-release variants
// above; other options may differ between point releases and are only reported.
func TestOptionTableMatchesNova(t *testing.T) {
	testenv.RequirePython(t, "nova.conf", "keystoneauth1")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, testenv.Python, "gen_options.py").Output()
	if err != nil {
		t.Fatalf("gen_options.py: %v", err)
	}
	if v, err := exec.CommandContext(ctx, "dpkg-query", "-W", "-f", "${Package} ${Version}\n",
		"python3-nova", "python3-oslo.messaging", "python3-oslo.config").Output(); err == nil {
		t.Logf("installed:\n%s", v)
	}
	type table struct {
		Nova   string                                `json:"nova"`
		Groups map[string]map[string]json.RawMessage `json:"groups"`
	}
	var embedded, now table
	if err := json.Unmarshal(novaOptionsJSON, &embedded); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, &now); err != nil {
		t.Fatalf("gen_options.py output: %v", err)
	}
	if now.Nova != embedded.Nova {
		t.Fatalf("installed nova is %s, the table is nova %s's: another release, regenerate and review "+
			"(/usr/bin/python3 config/gen_options.py > config/nova_options.json)", now.Nova, embedded.Nova)
	}
	same := func(a, b json.RawMessage) bool {
		var x, y any
		if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
			return false
		}
		return reflect.DeepEqual(x, y)
	}
	read := map[string]bool{}
	compact := func(m json.RawMessage) string {
		var b bytes.Buffer
		_ = json.Compact(&b, m)
		return b.String()
	}
	for _, e := range (&Config{}).Effective() {
		if e.Group == "novalet" { // novalet's own options, not nova's
			continue
		}
		k := e.Group + "/" + e.Name
		read[k] = true
		want, have := embedded.Groups[e.Group][e.Name], now.Groups[e.Group][e.Name]
		switch {
		case want == nil:
			t.Errorf("[%s] %s: novalet reads it but the embedded table lacks it", e.Group, e.Name)
		case have == nil:
			t.Errorf("[%s] %s: novalet reads it but the installed nova does not register it", e.Group, e.Name)
		case same(want, have):
		default:
			known := false
			for _, v := range pointReleaseVariants[k] {
				known = known || same(json.RawMessage(v), have)
			}
			if known {
				t.Logf("[%s] %s: a known point-release variant: %s (table: %s)", e.Group, e.Name, compact(have), compact(want))
			} else {
				t.Errorf("[%s] %s, an option novalet reads, differs:\n  table:     %s\n  installed: %s", e.Group, e.Name, compact(want), compact(have))
			}
		}
	}
	var others []string
	for g, opts := range embedded.Groups {
		for o, def := range opts {
			if !read[g+"/"+o] && !same(def, now.Groups[g][o]) {
				others = append(others, fmt.Sprintf("[%s] %s", g, o))
			}
		}
		for o := range now.Groups[g] {
			if opts[o] == nil {
				others = append(others, fmt.Sprintf("[%s] %s (new)", g, o))
			}
		}
	}
	for g, opts := range now.Groups {
		if embedded.Groups[g] == nil {
			for o := range opts {
				others = append(others, fmt.Sprintf("[%s] %s (new group)", g, o))
			}
		}
	}
	slices.Sort(others)
	t.Logf("%d options novalet reads match; %d other options differ from the table (novalet only uses them to warn about unknown options): %v",
		len(read), len(others), others)
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
