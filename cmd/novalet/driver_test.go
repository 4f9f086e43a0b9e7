package main

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/novalet/novalet/config"
	"github.com/novalet/novalet/netplug"
	"github.com/novalet/novalet/virt"
	"github.com/novalet/novalet/virt/virttest"
)

func TestComputeDriverSelection(t *testing.T) {
	for name, want := range map[string]string{
		"":                                driverLibvirt, // novalet's nova.conf has always left it out
		"libvirt.LibvirtDriver":           driverLibvirt,
		"nova.virt.libvirt.LibvirtDriver": driverLibvirt,
		"fake.FakeDriver":                 driverFake,
		"nova.virt.fake.FakeDriver":       driverFake,
		" fake.FakeDriver ":               driverFake,
	} {
		got, err := computeDriver(name)
		if err != nil || got != want {
			t.Errorf("computeDriver(%q) = %q, %v; want %q", name, got, err, want)
		}
	}
	for _, name := range []string{"vmwareapi.VMwareVCDriver", "fake.SmallFakeDriver", "ironic.IronicDriver", "libvirt"} {
		_, err := computeDriver(name)
		if !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), name) ||
			!strings.Contains(err.Error(), driverLibvirt) || !strings.Contains(err.Error(), driverFake) {
			t.Errorf("computeDriver(%q): %v; want ErrInvalid naming it and both drivers", name, err)
		}
	}
}

// An unknown driver is a configuration error (EX_CONFIG, no restart), found before anything
// is opened.
func TestRunRefusesUnknownComputeDriver(t *testing.T) {
	p := filepath.Join(t.TempDir(), "nova.conf")
	if err := os.WriteFile(p, []byte("[DEFAULT]\nhost = fake-9\ncompute_driver = vmwareapi.VMwareVCDriver\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errs := runCLI("run", "--config-file", p)
	if code != exConfig || !strings.Contains(errs, `compute_driver "vmwareapi.VMwareVCDriver"`) {
		t.Fatalf("exit %d, stderr %q; want %d naming the driver", code, errs, exConfig)
	}
}

// fake.FakeDriver opens without libvirtd or netlink and reports what nova's FakeDriver does.
func TestOpenFakeDriver(t *testing.T) {
	cfg := &config.Config{}
	cfg.Default.Host = "fake-3"
	cfg.Default.ComputeDriver = "fake.FakeDriver"
	cfg.Libvirt.ConnectionURI = "test:///nonexistent" // must not be dialled
	d, err := openDriver(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if !d.fake() {
		t.Fatalf("driver %q", d.name)
	}
	f, err := d.hv.HostFacts(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if f.VCPUs != 1000 || f.MemoryMB != 800000 || f.Hostname != "fake-3" || f.HypervisorType != "fake" ||
		!slices.Equal(f.HVSpecs, [][3]string{{"x86_64", "fake", "hvm"}}) {
		t.Errorf("host facts %+v", f)
	}
	traits, err := d.hv.DriverTraits(t.Context(), "qemu")
	if err != nil || !slices.Contains(traits, "COMPUTE_IMAGE_TYPE_RAW") || slices.Contains(traits, "COMPUTE_IMAGE_TYPE_QCOW2") {
		t.Errorf("traits %v, %v", traits, err)
	}
	// Domains live in memory: define, start and stop at once.
	id := "1d3e7a52-5a8c-4b53-9d2d-0f1e3c7a9b10"
	xml, err := virt.BuildDomainXML(virttest.TestSpec(virt.InstanceNamePrefix+"00000001", id, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.hv.Define(t.Context(), xml); err != nil {
		t.Fatal(err)
	}
	if err := d.hv.Start(t.Context(), id, false); err != nil {
		t.Fatal(err)
	}
	if st, err := d.hv.State(t.Context(), id); err != nil || st != virt.PowerRunning {
		t.Fatalf("state %v, %v", st, err)
	}
	// Taps are plugged in memory, not on the host.
	port := "6a1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d"
	if err := d.taps.Plug(t.Context(), netplug.VIF{PortID: port, NetworkID: "0b5c6d7e-8f90-4a1b-9c2d-3e4f5a6b7c8d", MTU: 1450}); err != nil {
		t.Fatal(err)
	}
	taps, err := d.taps.List(t.Context())
	if err != nil || len(taps) != 1 || taps[0].Name != netplug.TapName(port) {
		t.Fatalf("taps %+v, %v", taps, err)
	}
	if _, err := os.Stat("/sys/class/net/" + netplug.TapName(port)); !os.IsNotExist(err) {
		t.Errorf("the fake driver made a real link %s: %v", netplug.TapName(port), err)
	}
}

// `novalet check` with fake.FakeDriver does not dial libvirtd (nothing runs there), and an
// unknown driver is a failed row naming it.
func TestCheckDriver(t *testing.T) {
	cfg := &config.Config{}
	cfg.Default.ComputeDriver = "fake.FakeDriver"
	cfg.Libvirt.ConnectionURI = "test:///nonexistent" // must not be dialled
	if r := checkDriver(t.Context(), cfg); !r.OK || r.Name != "compute driver" || !strings.Contains(r.Detail, driverFake) {
		t.Errorf("fake driver row %+v", r)
	}
	cfg.Default.ComputeDriver = "ironic.IronicDriver"
	if r := checkDriver(t.Context(), cfg); r.OK || !strings.Contains(r.Detail, "ironic.IronicDriver") {
		t.Errorf("unknown driver row %+v", r)
	}
}
