package virt

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"
)

// Virt types novalet supports, as in nova's [libvirt] virt_type.
const (
	VirtTypeQEMU = "qemu" // TCG: software emulation, works everywhere
	VirtTypeKVM  = "kvm"  // hardware virtualisation
)

// guestArch is the only guest architecture novalet runs.
const guestArch = "x86_64"

// cpuinfoPath is read to confirm KVM is really usable; a variable so tests can point elsewhere.
var cpuinfoPath = "/proc/cpuinfo"

// CheckVirtType returns nil when the host can run x86_64 domains of virtType. An unknown virt
// type is ErrInvalid; a known one the host cannot run is ErrUnavailable.
//
// For kvm, libvirt's domain capabilities are not enough: libvirt offers kvm whenever /dev/kvm
// exists, yet in some nested or micro-VM setups /dev/kvm is present while the CPU lacks vmx/svm
// and every KVM guest stops with an emulation failure. So the CPU flags in /proc/cpuinfo must
// show hardware virtualisation too. (novalet manages the local host's libvirtd, so the local
// cpuinfo is the host's.)
func (c *Conn) CheckVirtType(ctx context.Context, virtType string) error {
	if virtType != VirtTypeQEMU && virtType != VirtTypeKVM {
		return fmt.Errorf("virt: virt_type %q: %w (supported: %s, %s)", virtType, ErrInvalid, VirtTypeQEMU, VirtTypeKVM)
	}
	raw, err := connCall(ctx, c, "get domain capabilities for "+virtType, func(lv *libvirt.Connect) (string, error) {
		return lv.GetDomainCapabilities("", guestArch, "", virtType, 0)
	}, nil)
	if err != nil {
		if errors.Is(err, ErrTimeout) {
			return err
		}
		// Whatever libvirt's code, the answer for the caller is "this host cannot".
		return fmt.Errorf("virt: host cannot run %s %s domains: %w: %v", virtType, guestArch, ErrUnavailable, err)
	}
	var caps libvirtxml.DomainCaps
	if err := caps.Unmarshal(raw); err != nil {
		return fmt.Errorf("virt: parse domain capabilities for %s: %w", virtType, err)
	}
	if caps.Domain != virtType || caps.Arch != guestArch {
		return fmt.Errorf("virt: libvirt answered capabilities for %s/%s when asked for %s/%s: %w",
			caps.Domain, caps.Arch, virtType, guestArch, ErrUnavailable)
	}
	if caps.OS == nil || caps.OS.Supported != "yes" {
		return fmt.Errorf("virt: libvirt reports no %s %s guest support (emulator %s): %w",
			virtType, guestArch, caps.Path, ErrUnavailable)
	}
	if virtType == VirtTypeKVM {
		info, err := os.ReadFile(cpuinfoPath)
		if err != nil {
			return fmt.Errorf("virt: read %s to confirm KVM support: %w", cpuinfoPath, err)
		}
		if !hasHardwareVirt(string(info)) {
			return fmt.Errorf("virt: kvm: the CPU flags in %s show neither vmx nor svm, so KVM is not usable "+
				"even if /dev/kvm exists; use virt_type = qemu: %w", cpuinfoPath, ErrUnavailable)
		}
	}
	return nil
}

// hasHardwareVirt reports whether /proc/cpuinfo text shows Intel VT-x (vmx) or AMD-V (svm) on
// every CPU it lists (and lists at least one).
func hasHardwareVirt(cpuinfo string) bool {
	seen := false
	sc := bufio.NewScanner(strings.NewReader(cpuinfo))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024) // flags lines are long
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if !ok || strings.TrimSpace(key) != "flags" {
			continue
		}
		seen = true
		found := false
		for _, f := range strings.Fields(value) {
			if f == "vmx" || f == "svm" {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return seen
}
