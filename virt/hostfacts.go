package virt

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"
)

// HostFacts is what the libvirt driver reports of the host in get_available_resource:
// the ComputeNode record's hypervisor fields.
type HostFacts struct {
	VCPUs             int
	MemoryMB          int
	MemoryMBUsed      int    // total minus free, buffers and page cache (/proc/meminfo), as nova
	HypervisorType    string // "QEMU" for qemu and kvm
	HypervisorVersion uint32 // QEMU 7.2.22 = 7002022
	Hostname          string // libvirt's getHostname: the nodename and resource provider name
	CPUInfo           string // JSON, nova's shape: arch, model, vendor, topology, features
	HVSpecs           [][3]string
	CPUFeatures       []string // host CPU feature names, lower case (for traits)
}

// HostFacts reads the host's facts through libvirt and /proc/meminfo.
func (c *Conn) HostFacts(ctx context.Context) (HostFacts, error) {
	f, err := connCall(ctx, c, "read host facts", func(lv *libvirt.Connect) (HostFacts, error) {
		var f HostFacts
		info, err := lv.GetNodeInfo()
		if err != nil {
			return f, err
		}
		f.VCPUs = int(info.Cpus)
		f.MemoryMB = int(info.Memory / 1024)
		if f.HypervisorType, err = lv.GetType(); err != nil {
			return f, err
		}
		if f.HypervisorVersion, err = lv.GetVersion(); err != nil {
			return f, err
		}
		if f.Hostname, err = lv.GetHostname(); err != nil {
			return f, err
		}
		capsXML, err := lv.GetCapabilities()
		if err != nil {
			return f, err
		}
		var caps libvirtxml.Caps
		if err := caps.Unmarshal(capsXML); err != nil {
			return f, fmt.Errorf("capabilities: %w", err)
		}
		f.CPUInfo, f.CPUFeatures = cpuInfo(caps.Host.CPU, info)
		f.HVSpecs = hvSpecs(caps.Guests)
		return f, nil
	}, nil)
	if err != nil {
		return f, err
	}
	if mf, err := os.Open("/proc/meminfo"); err == nil {
		defer mf.Close()
		f.MemoryMBUsed = memoryUsedMB(f.MemoryMB, mf)
	}
	return f, nil
}

// cpuInfo builds nova's cpu_info JSON from the host CPU of the capabilities.
func cpuInfo(cpu *libvirtxml.CapsHostCPU, info *libvirt.NodeInfo) (string, []string) {
	type topology struct {
		Cells   int `json:"cells"`
		Sockets int `json:"sockets"`
		Cores   int `json:"cores"`
		Threads int `json:"threads"`
	}
	out := struct {
		Arch     string   `json:"arch"`
		Model    string   `json:"model"`
		Vendor   string   `json:"vendor"`
		Topology topology `json:"topology"`
		Features []string `json:"features"`
	}{Features: []string{}}
	if cpu != nil {
		out.Arch, out.Model, out.Vendor = cpu.Arch, cpu.Model, cpu.Vendor
		if cpu.Topology != nil {
			out.Topology = topology{Sockets: cpu.Topology.Sockets, Cores: cpu.Topology.Cores, Threads: cpu.Topology.Threads}
		}
		for _, ft := range cpu.FeatureFlags {
			out.Features = append(out.Features, ft.Name)
		}
	}
	if info != nil {
		out.Topology.Cells = int(info.Nodes)
	}
	sort.Strings(out.Features)
	b, _ := json.Marshal(out)
	return string(b), out.Features
}

// hvSpecs lists [arch, hv_type, vm_mode] for every guest type libvirt can run, as nova's
// supported_instances (hv_type "qemu" for TCG, "kvm" where listed).
func hvSpecs(guests []libvirtxml.CapsGuest) [][3]string {
	seen := map[[3]string]bool{}
	var out [][3]string
	for _, g := range guests {
		for _, d := range g.Arch.Domains {
			s := [3]string{g.Arch.Name, d.Type, g.OSType}
			if !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	return out
}

// memoryUsedMB is nova's libvirt _get_memory_mb_used: total minus MemFree, Buffers and Cached.
func memoryUsedMB(totalMB int, meminfo io.Reader) int {
	idleKB := 0
	sc := bufio.NewScanner(meminfo)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		switch fields[0] {
		case "MemFree:", "Buffers:", "Cached:":
			n, _ := strconv.Atoi(fields[1])
			idleKB += n
		}
	}
	return max(0, totalMB-idleKB/1024)
}
