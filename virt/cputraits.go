package virt

import (
	"slices"
	"strings"

	"libvirt.org/go/libvirtxml"
)

// cpuTraitsMapping is nova 26.2.2's CPU_TRAITS_MAPPING (nova/virt/libvirt/utils.py): libvirt
// CPU feature name -> os-traits names. A component test compares it with nova's own table.
var cpuTraitsMapping = map[string][]string{
	"3dnow": {"HW_CPU_X86_3DNOW"}, "abm": {"HW_CPU_X86_ABM"}, "aes": {"HW_CPU_X86_AESNI"},
	"avx": {"HW_CPU_X86_AVX"}, "avx2": {"HW_CPU_X86_AVX2"},
	"avx512bw": {"HW_CPU_X86_AVX512BW"}, "avx512cd": {"HW_CPU_X86_AVX512CD"},
	"avx512dq": {"HW_CPU_X86_AVX512DQ"}, "avx512er": {"HW_CPU_X86_AVX512ER"},
	"avx512f": {"HW_CPU_X86_AVX512F"}, "avx512pf": {"HW_CPU_X86_AVX512PF"},
	"avx512vl": {"HW_CPU_X86_AVX512VL"}, "avx512vnni": {"HW_CPU_X86_AVX512VNNI"},
	"avx512vbmi": {"HW_CPU_X86_AVX512VBMI"}, "avx512ifma": {"HW_CPU_X86_AVX512IFMA"},
	"avx512vbmi2": {"HW_CPU_X86_AVX512VBMI2"}, "avx512bitalg": {"HW_CPU_X86_AVX512BITALG"},
	"vaes": {"HW_CPU_X86_AVX512VAES"}, "gfni": {"HW_CPU_X86_AVX512GFNI"},
	"vpclmulqdq": {"HW_CPU_X86_AVX512VPCLMULQDQ"}, "avx512-vpopcntdq": {"HW_CPU_X86_AVX512VPOPCNTDQ"},
	"bmi1": {"HW_CPU_X86_BMI"}, "bmi2": {"HW_CPU_X86_BMI2"}, "pclmuldq": {"HW_CPU_X86_CLMUL"},
	"f16c": {"HW_CPU_X86_F16C"}, "fma": {"HW_CPU_X86_FMA3"}, "fma4": {"HW_CPU_X86_FMA4"},
	"mmx": {"HW_CPU_X86_MMX"}, "mpx": {"HW_CPU_X86_MPX"}, "sha-ni": {"HW_CPU_X86_SHA"},
	"sse": {"HW_CPU_X86_SSE"}, "sse2": {"HW_CPU_X86_SSE2"}, "sse3": {"HW_CPU_X86_SSE3"},
	"sse4.1": {"HW_CPU_X86_SSE41"}, "sse4.2": {"HW_CPU_X86_SSE42"}, "sse4a": {"HW_CPU_X86_SSE4A"},
	"ssse3": {"HW_CPU_X86_SSSE3"},
	"svm":   {"HW_CPU_X86_SVM", "HW_CPU_X86_AMD_SVM"},
	"tbm":   {"HW_CPU_X86_TBM"},
	"vmx":   {"HW_CPU_X86_VMX", "HW_CPU_X86_INTEL_VMX"},
	"xop":   {"HW_CPU_X86_XOP"},
}

// cpuTraits is the libvirt driver's _get_cpu_traits for cpu_mode host-model (nova's default
// for qemu and kvm on x86): the host CPU's feature flags from the capabilities mapped to
// traits, plus HW_CPU_HYPERTHREADING when a CPU has siblings.
func cpuTraits(host libvirtxml.CapsHost) []string {
	var out []string
	if host.CPU != nil {
		for _, f := range host.CPU.FeatureFlags {
			out = append(out, cpuTraitsMapping[f.Name]...)
		}
	}
	if hasHyperthreading(host) {
		out = append(out, "HW_CPU_HYPERTHREADING")
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// hasHyperthreading is nova's Host.has_hyperthreading: some CPU of the NUMA topology lists more
// than one sibling.
func hasHyperthreading(host libvirtxml.CapsHost) bool {
	if host.NUMA == nil || host.NUMA.Cells == nil {
		return false
	}
	for _, cell := range host.NUMA.Cells.Cells {
		if cell.CPUS == nil {
			continue
		}
		for _, cpu := range cell.CPUS.CPUs {
			if strings.ContainsAny(cpu.Siblings, ",-") {
				return true
			}
		}
	}
	return false
}
