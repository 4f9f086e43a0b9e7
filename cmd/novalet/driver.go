package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/novalet/novalet/agent"
	"github.com/novalet/novalet/config"
	"github.com/novalet/novalet/metrics"
	"github.com/novalet/novalet/netplug"
	"github.com/novalet/novalet/netplug/netplugfake"
	"github.com/novalet/novalet/virt"
	"github.com/novalet/novalet/virt/virtfake"
)

// The compute drivers novalet implements, as [DEFAULT] compute_driver names them (nova loads
// the name relative to nova.virt, so "nova.virt.fake.FakeDriver" is the same driver).
const (
	driverLibvirt = "libvirt.LibvirtDriver"
	driverFake    = "fake.FakeDriver"
)

// What nova's FakeDriver reports (nova/virt/fake.py: "pretend we have lots of disk and ram";
// it has no options for them). hypervisor_version is convert_version_to_int('1.0').
const (
	fakeVCPUs             = 1000
	fakeMemoryMB          = 800000
	fakeLocalGB           = 600000
	fakeHypervisorVersion = 1000
	fakeCPUInfo           = `{"arch": "x86_64", "model": "Nehalem", "vendor": "Intel", "features": ["pge", "clflush"], "topology": {"cores": 1, "threads": 1, "sockets": 4}}`
)

// fakeTraits are FakeDriver.capabilities through nova's CAPABILITY_TRAITS_MAP.
var fakeTraits = []string{
	"COMPUTE_ACCELERATORS", "COMPUTE_DEVICE_TAGGING", "COMPUTE_IMAGE_TYPE_RAW",
	"COMPUTE_NET_ATTACH_INTERFACE", "COMPUTE_NET_ATTACH_INTERFACE_WITH_TAG",
	"COMPUTE_REMOTE_MANAGED_PORTS", "COMPUTE_TRUSTED_CERTS", "COMPUTE_VOLUME_ATTACH_WITH_TAG",
	"COMPUTE_VOLUME_EXTEND", "COMPUTE_VOLUME_MULTI_ATTACH",
}

// computeDriver resolves [DEFAULT] compute_driver to one of the drivers above. Unset means
// libvirt: novalet has always run on a nova.conf without it (nova itself would refuse to
// start). Any other driver is an error naming the ones novalet has.
func computeDriver(name string) (string, error) {
	n := strings.TrimPrefix(strings.TrimSpace(name), "nova.virt.")
	switch n {
	case "", driverLibvirt:
		return driverLibvirt, nil
	case driverFake:
		return driverFake, nil
	}
	return "", fmt.Errorf("%w: [DEFAULT] compute_driver %q: novalet implements %s and %s",
		config.ErrInvalid, name, driverLibvirt, driverFake)
}

// hypervisor is what serve drives: libvirtd through *virt.Conn, or the fake driver's memory.
type hypervisor interface {
	virt.Hypervisor
	virt.ConnectionSource
	agent.HostInfo
	metrics.StatsSource
	io.Closer
}

// tapPlugger is the host's taps: netlink, or the fake driver's memory.
type tapPlugger interface {
	agent.TapPlugger
	io.Closer
}

// driver is the compute driver nova.conf selects, opened.
type driver struct {
	name string
	hv   hypervisor
	taps tapPlugger
}

func (d *driver) fake() bool { return d.name == driverFake }

// Close releases the hypervisor connection and the taps' netlink socket.
func (d *driver) Close() error {
	err := d.taps.Close()
	if cerr := d.hv.Close(); err == nil {
		err = cerr
	}
	return err
}

// openDriver opens the driver [DEFAULT] compute_driver names. libvirt's is checked against
// [libvirt] virt_type; the fake one cannot fail.
func openDriver(ctx context.Context, cfg *config.Config, log *slog.Logger) (*driver, error) {
	name, err := computeDriver(cfg.Default.ComputeDriver)
	if err != nil {
		return nil, err
	}
	if name == driverFake {
		return &driver{name: name, hv: newFakeHypervisor(cfg.Default.Host), taps: fakeTaps{netplugfake.New()}}, nil
	}
	conn, err := virt.Open(ctx, libvirtURI(cfg.Libvirt), virt.WithLogger(log))
	if err != nil {
		return nil, err
	}
	if err := conn.CheckVirtType(ctx, cfg.Libvirt.VirtType); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("[libvirt] virt_type %s: %w", cfg.Libvirt.VirtType, err)
	}
	taps, err := netplug.Open("")
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	return &driver{name: name, hv: conn, taps: taps}, nil
}

// fakeHypervisor is nova's FakeDriver in novalet: virtfake's in-memory hypervisor (the one the
// unit tests use, which passes virt's conformance suite), so builds, deletes and power
// operations complete at once, on a host reporting what FakeDriver reports. The node is named
// after [DEFAULT] host, as FakeDriver's init_host names it.
type fakeHypervisor struct {
	*virtfake.Fake
	host string
}

func newFakeHypervisor(host string) *fakeHypervisor {
	return &fakeHypervisor{Fake: virtfake.New(), host: host}
}

// HostFacts reports FakeDriver's get_available_resource.
func (f *fakeHypervisor) HostFacts(ctx context.Context) (virt.HostFacts, error) {
	if err := ctx.Err(); err != nil {
		return virt.HostFacts{}, err
	}
	return virt.HostFacts{VCPUs: fakeVCPUs, MemoryMB: fakeMemoryMB, HypervisorType: "fake",
		HypervisorVersion: fakeHypervisorVersion, Hostname: f.host, CPUInfo: fakeCPUInfo,
		HVSpecs: [][3]string{{"x86_64", "fake", "hvm"}}}, nil
}

// DriverTraits reports FakeDriver's capability traits, whatever the virt type.
func (f *fakeHypervisor) DriverTraits(ctx context.Context, _ string) ([]string, error) {
	return append([]string(nil), fakeTraits...), ctx.Err()
}

// Close has nothing to release.
func (f *fakeHypervisor) Close() error { return nil }

// fakeTaps is netplug's in-memory plugger: no link is made on the host.
type fakeTaps struct{ *netplugfake.Fake }

func (fakeTaps) Close() error { return nil }
