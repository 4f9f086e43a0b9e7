package virt

import (
	"encoding/json"
	"strings"
	"testing"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"
)

func TestMemoryUsedMB(t *testing.T) {
	meminfo := "MemTotal:       24000000 kB\nMemFree:        10240000 kB\nBuffers:          102400 kB\nCached:          2048000 kB\nSwapCached:            0 kB\n"
	if got := memoryUsedMB(23437, strings.NewReader(meminfo)); got != 23437-12100 {
		t.Fatalf("used = %d", got)
	}
}

func TestCPUInfoShape(t *testing.T) {
	cpu := &libvirtxml.CapsHostCPU{Arch: "x86_64", Model: "EPYC", Vendor: "AMD",
		Topology:     &libvirtxml.CapsHostCPUTopology{Sockets: 1, Cores: 2, Threads: 1},
		FeatureFlags: []libvirtxml.CapsHostCPUFeatureFlag{{Name: "sse4.2"}, {Name: "aes"}}}
	js, feats := cpuInfo(cpu, &libvirt.NodeInfo{Nodes: 1})
	var got map[string]any
	if err := json.Unmarshal([]byte(js), &got); err != nil {
		t.Fatal(err)
	}
	topo := got["topology"].(map[string]any)
	if got["arch"] != "x86_64" || got["vendor"] != "AMD" || topo["cells"] != 1.0 || topo["cores"] != 2.0 {
		t.Fatalf("cpu_info = %s", js)
	}
	if len(feats) != 2 || feats[0] != "aes" {
		t.Fatalf("features = %v (sorted)", feats)
	}
}

func TestHVSpecs(t *testing.T) {
	guests := []libvirtxml.CapsGuest{
		{OSType: "hvm", Arch: libvirtxml.CapsGuestArch{Name: "x86_64", Domains: []libvirtxml.CapsGuestDomain{{Type: "qemu"}, {Type: "kvm"}}}},
		{OSType: "hvm", Arch: libvirtxml.CapsGuestArch{Name: "i686", Domains: []libvirtxml.CapsGuestDomain{{Type: "qemu"}}}},
	}
	got := hvSpecs(guests)
	if len(got) != 3 || got[0] != [3]string{"x86_64", "qemu", "hvm"} || got[2] != [3]string{"i686", "qemu", "hvm"} {
		t.Fatalf("hv specs = %v", got)
	}
}
