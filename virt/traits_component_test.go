//go:build component

package virt

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"libvirt.org/go/libvirtxml"

	"github.com/novalet/novalet/internal/testenv"
)

func TestDriverTraitsOnThisHost(t *testing.T) {
	c := openTestConn(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	traits, err := c.DriverTraits(ctx, "qemu")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"COMPUTE_IMAGE_TYPE_QCOW2", "COMPUTE_STORAGE_BUS_VIRTIO", "COMPUTE_STORAGE_BUS_SATA",
		"COMPUTE_GRAPHICS_MODEL_CIRRUS", "COMPUTE_NET_VIF_MODEL_VIRTIO", "COMPUTE_NET_VIF_MODEL_LAN9118"} {
		if !slices.Contains(traits, want) {
			t.Errorf("traits lack %s: %v", want, traits)
		}
	}
	// Every trait is a standard one (os-traits, as Debian's python3-os-traits has it): Placement
	// refuses unknown standard traits.
	testenv.RequirePython(t, "os_traits")
	out, err := exec.CommandContext(ctx, testenv.Python, "-c", "import os_traits; print('\\n'.join(os_traits.get_traits()))").Output()
	if err != nil {
		t.Fatal(err)
	}
	known := strings.Fields(string(out))
	for _, tr := range traits {
		if !slices.Contains(known, tr) {
			t.Errorf("%s is not an os-traits trait", tr)
		}
	}
}

// The CPU traits are what nova's own code derives from the same capabilities, and the mapping
// table is nova's.
func TestCPUTraitsMatchNova(t *testing.T) {
	testenv.RequirePython(t, "nova.virt.libvirt.utils")
	c := openTestConn(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	capsXML, err := c.current().GetCapabilities()
	if err != nil {
		t.Fatal(err)
	}
	var caps libvirtxml.Caps
	if err := caps.Unmarshal(capsXML); err != nil {
		t.Fatal(err)
	}
	var features []string
	for _, f := range caps.Host.CPU.FeatureFlags {
		features = append(features, f.Name)
	}
	script := `
import json, sys
from nova.virt.libvirt import utils
features = json.load(sys.stdin)
table = {k: list(v) if isinstance(v, tuple) else [v] for k, v in utils.CPU_TRAITS_MAPPING.items()}
traits = sorted(t for t, on in utils.cpu_features_to_traits(set(features)).items() if on)
json.dump({"table": table, "traits": traits}, sys.stdout)
`
	in, _ := json.Marshal(features)
	cmd := exec.CommandContext(ctx, testenv.Python, "-c", script)
	cmd.Stdin = bytes.NewReader(in)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("nova: %v", err)
	}
	var nova struct {
		Table  map[string][]string `json:"table"`
		Traits []string            `json:"traits"`
	}
	if err := json.Unmarshal(out, &nova); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(nova.Table, cpuTraitsMapping) {
		t.Errorf("CPU_TRAITS_MAPPING differs from nova's:\nnova %v\nours %v", nova.Table, cpuTraitsMapping)
	}
	got := slices.DeleteFunc(cpuTraits(caps.Host), func(s string) bool { return s == "HW_CPU_HYPERTHREADING" })
	if len(got) == 0 || !slices.Equal(got, nova.Traits) {
		t.Errorf("CPU traits %v, nova derives %v", got, nova.Traits)
	}
	all, err := c.DriverTraits(ctx, "qemu")
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range got {
		if !slices.Contains(all, tr) {
			t.Errorf("DriverTraits lacks %s", tr)
		}
	}
}
