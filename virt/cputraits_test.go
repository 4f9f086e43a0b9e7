package virt

import (
	"slices"
	"testing"

	"libvirt.org/go/libvirtxml"
)

func TestCPUTraits(t *testing.T) {
	host := libvirtxml.CapsHost{CPU: &libvirtxml.CapsHostCPU{FeatureFlags: []libvirtxml.CapsHostCPUFeatureFlag{
		{Name: "aes"}, {Name: "sse4.2"}, {Name: "svm"}, {Name: "hypervisor"}, {Name: "aes"}}}}
	got := cpuTraits(host)
	want := []string{"HW_CPU_X86_AESNI", "HW_CPU_X86_AMD_SVM", "HW_CPU_X86_SSE42", "HW_CPU_X86_SVM"}
	if !slices.Equal(got, want) {
		t.Fatalf("cpuTraits = %v, want %v", got, want)
	}
	host.NUMA = &libvirtxml.CapsHostNUMATopology{Cells: &libvirtxml.CapsHostNUMACells{Cells: []libvirtxml.CapsHostNUMACell{
		{CPUS: &libvirtxml.CapsHostNUMACPUs{CPUs: []libvirtxml.CapsHostNUMACPU{{Siblings: "0"}, {Siblings: "1,3"}}}}}}}
	if got := cpuTraits(host); !slices.Contains(got, "HW_CPU_HYPERTHREADING") {
		t.Fatalf("siblings 1,3 gave %v", got)
	}
}
