//go:build component

package virt

import (
	"context"
	"encoding/json"
	"os"
	"runtime"
	"testing"
	"time"
)

func TestHostFactsFromLibvirt(t *testing.T) {
	c := openTestConn(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	f, err := c.HostFacts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if f.VCPUs != runtime.NumCPU() {
		t.Errorf("vcpus = %d, host has %d", f.VCPUs, runtime.NumCPU())
	}
	if f.MemoryMB < 512 || f.MemoryMBUsed < 0 || f.MemoryMBUsed > f.MemoryMB {
		t.Errorf("memory %d MB, used %d MB", f.MemoryMB, f.MemoryMBUsed)
	}
	if f.HypervisorType != "QEMU" || f.HypervisorVersion < 7000000 {
		t.Errorf("hypervisor %s %d", f.HypervisorType, f.HypervisorVersion)
	}
	if host, _ := os.Hostname(); f.Hostname == "" || (f.Hostname != host && len(f.Hostname) < len(host)) {
		t.Errorf("hostname %q (os: %q)", f.Hostname, host)
	}
	var ci map[string]any
	if err := json.Unmarshal([]byte(f.CPUInfo), &ci); err != nil || ci["arch"] != "x86_64" {
		t.Errorf("cpu_info %s: %v", f.CPUInfo, err)
	}
	found := false
	for _, s := range f.HVSpecs {
		found = found || s == [3]string{"x86_64", "qemu", "hvm"}
	}
	if !found {
		t.Errorf("hv specs %v lack x86_64/qemu/hvm", f.HVSpecs)
	}
}
