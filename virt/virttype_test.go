package virt

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
)

// cpuinfoBlock returns one processor's /proc/cpuinfo paragraph with the given flags.
func cpuinfoBlock(n int, flags string) string {
	return "processor\t: " + strconv.Itoa(n) + "\n" +
		"vendor_id\t: AuthenticAMD\n" +
		"model name\t: AMD EPYC\n" +
		"flags\t\t: " + flags + "\n" +
		"bugs\t\t: sysret_ss_attrs\n\n"
}

func TestHasHardwareVirt(t *testing.T) {
	// Flags of this project's CI machine: /dev/kvm exists, but no svm/vmx.
	const noVirt = "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx " +
		"fxsr sse sse2 ht syscall nx mmxext fxsr_opt pdpe1gb rdtscp lm constant_tsc rep_good nopl " +
		"xtopology nonstop_tsc cpuid extd_apicid tsc_known_freq pni pclmulqdq ssse3 fma cx16 " +
		"hypervisor lahf_lm cmp_legacy cr8_legacy abm sse4a misalignsse 3dnowprefetch osvw"
	tests := []struct {
		name    string
		cpuinfo string
		want    bool
	}{
		{"ci machine without vmx/svm", cpuinfoBlock(0, noVirt) + cpuinfoBlock(1, noVirt), false},
		{"amd svm", cpuinfoBlock(0, noVirt+" svm npt") + cpuinfoBlock(1, noVirt+" svm npt"), true},
		{"intel vmx", cpuinfoBlock(0, "fpu vmx ept vpid lm"), true},
		{"one cpu lacks it", cpuinfoBlock(0, "fpu vmx") + cpuinfoBlock(1, "fpu"), false},
		{"substring is not a flag", cpuinfoBlock(0, "fpu svmx vmxe avx512_vmx"), false},
		{"Intel's separate 'vmx flags' line does not count", "processor\t: 0\nvmx flags\t: vmx ept\nflags\t\t: fpu\n", false},
		{"empty", "", false},
		{"no flags line", "processor\t: 0\nvendor_id\t: GenuineIntel\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := hasHardwareVirt(tt.cpuinfo); got != tt.want {
				t.Errorf("hasHardwareVirt = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestHasHardwareVirtLongLines(t *testing.T) {
	// A real flags line is ~1.5 KiB; make sure the scanner copes with much longer ones.
	long := strings.Repeat("avx512f ", 2000) + "vmx"
	if !hasHardwareVirt(cpuinfoBlock(0, long)) {
		t.Error("missed vmx at the end of a 16 KiB flags line")
	}
}

func TestCheckVirtTypeRejectsUnknownTypes(t *testing.T) {
	// Unknown virt types are refused before any libvirt call, so a zero Conn is enough.
	var c Conn
	for _, vt := range []string{"xen", "lxc", "", "KVM", "parallels"} {
		err := c.CheckVirtType(context.Background(), vt)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("CheckVirtType(%q) = %v, want ErrInvalid", vt, err)
		}
	}
}
