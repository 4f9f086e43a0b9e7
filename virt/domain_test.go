package virt

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"libvirt.org/go/libvirtxml"
)

// update rewrites the golden files: go test ./virt -run TestDomainGolden -update
var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenSpecs are the domains whose XML is pinned in testdata/<name>.xml. The values follow
// PROTOCOL.md §8's example (nova's own output for m1.small).
func goldenSpecs() map[string]DomainSpec {
	base := func() DomainSpec {
		return DomainSpec{
			UUID:        "9d0b1c2a-0000-4000-8000-000000000001",
			Name:        InstanceName(42),
			DisplayName: "vm1",
			Flavor:      Flavor{Name: "m1.small", VCPUs: 1, MemoryMB: 1024, RootGB: 10},
			Owner: Owner{
				UserID: "5f1c0e1b2a3d4c5b6a7980f1e2d3c4b5", UserName: "admin",
				ProjectID: "8a7b6c5d4e3f20119a8b7c6d5e4f3a2b", ProjectName: "demo",
			},
			ImageID:      "155d900f-4e14-4e4c-a73d-069cbf4541e6",
			InstanceDir:  "/var/lib/nova/instances/9d0b1c2a-0000-4000-8000-000000000001",
			VNCListen:    "0.0.0.0",
			CreationTime: time.Date(2026, 11, 23, 18, 14, 37, 0, time.UTC),
			NovaVersion:  "26.2.2",
		}
	}
	nicNone := base()
	withVIF := base()
	withVIF.ConfigDrive = true
	withVIF.VIFs = []VIF{{
		PortID:  "0c1d2e3f-aaaa-bbbb-cccc-ddddeeeeffff",
		MAC:     "fa:16:3e:12:34:56",
		TapName: "tap0c1d2e3f-aa",
		MTU:     1500,
		IPs:     []IP{{Type: "fixed", Address: "192.0.2.10", Version: 4}},
	}}
	// A legacy rescue of the instance above: nova's rescue XML for it.
	rescue := withVIF
	rescue.Rescue = true
	return map[string]DomainSpec{"nic-none": nicNone, "configdrive-vif": withVIF, "rescue-configdrive-vif": rescue}
}

func TestDomainGolden(t *testing.T) {
	for name, spec := range goldenSpecs() {
		t.Run(name, func(t *testing.T) {
			got, err := BuildDomainXML(spec)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", name+".xml")
			if *update {
				if err := os.WriteFile(path, []byte(got+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./virt -run TestDomainGolden -update)", err)
			}
			if got+"\n" != string(want) {
				t.Errorf("domain XML differs from %s (rerun with -update if intended):\n%s", path, got)
			}
			// The XML parses back into the same domain.
			var back libvirtxml.Domain
			if err := back.Unmarshal(got); err != nil {
				t.Fatal(err)
			}
			if back.UUID != spec.UUID || back.Name != spec.Name {
				t.Errorf("round trip: name %q uuid %q", back.Name, back.UUID)
			}
		})
	}
}

func TestDomainMetadataRoundTrip(t *testing.T) {
	spec := goldenSpecs()["configdrive-vif"]
	d, err := BuildDomain(spec)
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseInstanceMetadata(d.Metadata.XML)
	if err != nil {
		t.Fatal(err)
	}
	s := spec.withDefaults()
	want := s.instanceMetadata()
	want.XMLName = m.XMLName
	if !reflect.DeepEqual(m, want) {
		t.Errorf("parsed metadata\n%+v\nwant\n%+v", m, want)
	}
	if m.CreationTime != "2026-11-23 18:14:37" || m.Flavor.MemoryMB != 1024 || m.Ports.Ports[0].IPs[0].Address != "192.0.2.10" {
		t.Errorf("unexpected values: %+v", m)
	}

	// Another writer's prefix (or a default namespace) reads the same.
	other := `<metadata><x:other xmlns:x="urn:x"/><instance xmlns="` + NovaMetadataNS + `">` +
		`<package version="26.2.2"/><flavor name="m1.tiny"><vcpus>2</vcpus></flavor>` +
		`<owner><user uuid="u">alice</user></owner></instance></metadata>`
	m, err = ParseInstanceMetadata(other)
	if err != nil {
		t.Fatal(err)
	}
	if m.Package.Version != "26.2.2" || m.Flavor.Name != "m1.tiny" || m.Flavor.VCPUs != 2 || m.Owner.User.Name != "alice" {
		t.Errorf("default-namespace metadata parsed as %+v", m)
	}

	// virDomainGetMetadata returns the element with its namespace stripped.
	bare := `<instance><package version="26.2.2"/><ports><port uuid="p1"/></ports></instance>`
	if m, err = parseInstanceMetadata(bare, true); err != nil || m.Package.Version != "26.2.2" || m.Ports.Ports[0].UUID != "p1" {
		t.Errorf("bare metadata parsed as %+v, %v", m, err)
	}

	for _, x := range []string{"", "<metadata/>", `<instance xmlns="urn:not-nova"/>`, bare} {
		if _, err := ParseInstanceMetadata(x); !errors.Is(err, ErrNotFound) {
			t.Errorf("ParseInstanceMetadata(%q) = %v, want ErrNotFound", x, err)
		}
	}
	if _, err := ParseInstanceMetadata(`<nova:instance xmlns:nova="` + NovaMetadataNS + `"><nova:flavor>`); !errors.Is(err, ErrInvalid) {
		t.Errorf("truncated metadata = %v, want ErrInvalid", err)
	}
}

// TestDomainVariants checks the aspects the golden files do not show.
func TestDomainVariants(t *testing.T) {
	build := func(t *testing.T, change func(*DomainSpec)) *libvirtxml.Domain {
		t.Helper()
		s := goldenSpecs()["configdrive-vif"]
		change(&s)
		d, err := BuildDomain(s)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	targets := func(d *libvirtxml.Domain) string {
		var out []string
		for _, disk := range d.Devices.Disks {
			out = append(out, disk.Target.Dev+":"+disk.Target.Bus+":"+filepath.Base(disk.Source.File.File))
		}
		return strings.Join(out, " ")
	}

	t.Run("q35 puts the config drive on sata", func(t *testing.T) {
		d := build(t, func(s *DomainSpec) { s.MachineType = "pc-q35-7.2" })
		if got := targets(d); got != "vda:virtio:disk sda:sata:disk.config" {
			t.Errorf("disks %s", got)
		}
		if d.OS.Type.Machine != "pc-q35-7.2" {
			t.Errorf("machine %q", d.OS.Type.Machine)
		}
	})
	t.Run("ephemeral and swap follow the root disk", func(t *testing.T) {
		d := build(t, func(s *DomainSpec) { s.Flavor.EphemeralGB = 1; s.Flavor.SwapMB = 512 })
		if got := targets(d); got != "vda:virtio:disk vdb:virtio:disk.local vdc:virtio:disk.swap hda:ide:disk.config" {
			t.Errorf("disks %s", got)
		}
		d = build(t, func(s *DomainSpec) { s.Flavor.SwapMB = 512 })
		if got := targets(d); got != "vda:virtio:disk vdb:virtio:disk.swap hda:ide:disk.config" {
			t.Errorf("disks %s", got)
		}
	})
	t.Run("rescue boots the rescue disk with the root disk second", func(t *testing.T) {
		d := build(t, func(s *DomainSpec) { s.Rescue = true; s.Flavor.EphemeralGB = 1; s.Flavor.SwapMB = 512 })
		if got := targets(d); got != "vda:virtio:disk.rescue vdb:virtio:disk hda:ide:disk.config.rescue" {
			t.Errorf("rescue disks %s", got)
		}
		d = build(t, func(s *DomainSpec) { s.Rescue = true; s.ConfigDrive = false })
		if got := targets(d); got != "vda:virtio:disk.rescue vdb:virtio:disk" {
			t.Errorf("rescue disks without a config drive %s", got)
		}
		if d.Devices.Disks[0].Driver.Type != "qcow2" || d.Devices.Disks[0].Device != "disk" {
			t.Errorf("rescue disk %+v, want a qcow2 disk", d.Devices.Disks[0])
		}
		if len(d.OS.BootDevices) != 1 || d.OS.BootDevices[0].Dev != "hd" {
			t.Errorf("boot %+v, want the first disk", d.OS.BootDevices)
		}
	})
	t.Run("stable rescue keeps the disks and boots disk.rescue last", func(t *testing.T) {
		d := build(t, func(s *DomainSpec) { s.StableRescue = &RescueDevice{Device: "disk", Bus: "virtio"} })
		if got := targets(d); got != "vda:virtio:disk hda:ide:disk.config vdb:virtio:disk.rescue" {
			t.Errorf("stable rescue disks %s", got)
		}
		last := d.Devices.Disks[len(d.Devices.Disks)-1]
		if last.Boot == nil || last.Boot.Order != 1 || last.Device != "disk" || last.Driver.Type != "qcow2" {
			t.Errorf("rescue disk %+v boot %+v, want a qcow2 disk with boot order 1", last, last.Boot)
		}
		for _, disk := range d.Devices.Disks[:len(d.Devices.Disks)-1] {
			if disk.Boot != nil {
				t.Errorf("disk %s has boot %+v", disk.Target.Dev, disk.Boot)
			}
		}
		if len(d.OS.BootDevices) != 0 || d.OS.Kernel != "" {
			t.Errorf("os boot %+v kernel %q, want neither beside a device boot order", d.OS.BootDevices, d.OS.Kernel)
		}
		// The bus's first free name: sda is the q35 config drive's.
		d = build(t, func(s *DomainSpec) {
			s.MachineType = "q35"
			s.StableRescue = &RescueDevice{Device: "disk", Bus: "scsi"}
		})
		if got := targets(d); got != "vda:virtio:disk sda:sata:disk.config sdb:scsi:disk.rescue" {
			t.Errorf("scsi stable rescue disks %s", got)
		}
		d = build(t, func(s *DomainSpec) { s.StableRescue = &RescueDevice{Device: "cdrom", Bus: "ide"} })
		if got := targets(d); got != "vda:virtio:disk hda:ide:disk.config hdb:ide:disk.rescue" || d.Devices.Disks[2].Device != "cdrom" {
			t.Errorf("cdrom stable rescue disks %s", got)
		}
		x, err := d.Marshal()
		if err != nil || !strings.Contains(x, "<boot order=\"1\"></boot>") {
			t.Errorf("xml %s (%v), want <boot order=\"1\">", x, err)
		}
	})
	t.Run("rescue kernel and ramdisk", func(t *testing.T) {
		d := build(t, func(s *DomainSpec) { s.Rescue = true; s.RescueKernel = true; s.RescueRamdisk = true })
		dir := goldenSpecs()["configdrive-vif"].InstanceDir
		if d.OS.Kernel != dir+"/kernel.rescue" || d.OS.Initrd != dir+"/ramdisk.rescue" ||
			d.OS.Cmdline != "root=/dev/vda console=tty0 console=ttyS0 console=hvc0 no_timer_check" || len(d.OS.BootDevices) != 0 {
			t.Errorf("os %+v", d.OS)
		}
		d = build(t, func(s *DomainSpec) {
			s.VirtType = VirtTypeKVM
			s.StableRescue = &RescueDevice{Device: "disk", Bus: "virtio"}
			s.RescueKernel = true
		})
		if d.OS.Initrd != "" || d.OS.Cmdline != "root=/dev/vda console=tty0 console=ttyS0 console=hvc0" {
			t.Errorf("kvm os %+v", d.OS)
		}
	})
	t.Run("kvm gets nova's timers and vhost", func(t *testing.T) {
		d := build(t, func(s *DomainSpec) { s.VirtType = VirtTypeKVM })
		if d.Type != "kvm" || len(d.Clock.Timer) != 3 || d.Clock.Timer[2].Name != "hpet" || d.Clock.Timer[2].Present != "no" {
			t.Errorf("type %q timers %+v", d.Type, d.Clock.Timer)
		}
		if d.Devices.Interfaces[0].Driver != nil {
			t.Errorf("kvm interface driver %+v, want libvirt's default (vhost)", d.Devices.Interfaces[0].Driver)
		}
	})
	t.Run("cpu modes", func(t *testing.T) {
		d := build(t, func(s *DomainSpec) { s.CPUMode = "none"; s.Flavor.VCPUs = 4 })
		if d.CPU.Mode != "" || d.CPU.Topology.Sockets != 4 || d.CPU.Topology.Cores != 1 {
			t.Errorf("cpu %+v topology %+v", d.CPU, d.CPU.Topology)
		}
		d = build(t, func(s *DomainSpec) { s.CPUMode = "custom"; s.CPUModel = "Nehalem" })
		if d.CPU.Mode != "custom" || d.CPU.Model.Value != "Nehalem" {
			t.Errorf("cpu %+v", d.CPU)
		}
	})
	t.Run("no VNC means no graphics, video, tablet or USB", func(t *testing.T) {
		d := build(t, func(s *DomainSpec) { s.VNCListen = "" })
		if len(d.Devices.Graphics)+len(d.Devices.Videos)+len(d.Devices.Inputs) != 0 {
			t.Errorf("devices %+v", d.Devices)
		}
		if c := d.Devices.Controllers[0]; c.Type != "usb" || c.Model != "none" {
			t.Errorf("usb controller %+v, want model none", c)
		}
	})
	t.Run("writeback cache and no MTU", func(t *testing.T) {
		d := build(t, func(s *DomainSpec) { s.DiskCacheMode = "writeback"; s.VIFs[0].MTU = 0 })
		for _, disk := range d.Devices.Disks {
			if disk.Driver.Cache != "writeback" {
				t.Errorf("disk %s cache %q", disk.Target.Dev, disk.Driver.Cache)
			}
		}
		if d.Devices.Interfaces[0].MTU != nil {
			t.Errorf("mtu %+v", d.Devices.Interfaces[0].MTU)
		}
	})
}

func TestDomainSpecValidation(t *testing.T) {
	tests := []struct {
		field  string
		change func(*DomainSpec)
	}{
		{"UUID", func(s *DomainSpec) { s.UUID = "not-a-uuid" }},
		{"Name", func(s *DomainSpec) { s.Name = "" }},
		{"Flavor.VCPUs", func(s *DomainSpec) { s.Flavor.VCPUs = 0 }},
		{"Flavor.MemoryMB", func(s *DomainSpec) { s.Flavor.MemoryMB = -1 }},
		{"Flavor", func(s *DomainSpec) { s.Flavor.SwapMB = -1 }},
		{"InstanceDir", func(s *DomainSpec) { s.InstanceDir = "relative/dir" }},
		{"NovaVersion", func(s *DomainSpec) { s.NovaVersion = "" }},
		{"CreationTime", func(s *DomainSpec) { s.CreationTime = time.Time{} }},
		{"VirtType", func(s *DomainSpec) { s.VirtType = "xen" }},
		{"CPUMode", func(s *DomainSpec) { s.CPUMode = "fast" }},
		{"CPUModel", func(s *DomainSpec) { s.CPUMode = "custom" }},
		{"VIFs[0].PortID", func(s *DomainSpec) { s.VIFs[0].PortID = "" }},
		{"VIFs[0].MAC", func(s *DomainSpec) { s.VIFs[0].MAC = "fa:16:3e" }},
		{"VIFs[0].TapName", func(s *DomainSpec) { s.VIFs[0].TapName = "tap0c1d2e3f-aaaa" }},
		{"VIFs[0].MTU", func(s *DomainSpec) { s.VIFs[0].MTU = -5 }},
		{"StableRescue", func(s *DomainSpec) { s.Rescue = true; s.StableRescue = &RescueDevice{Device: "disk", Bus: "virtio"} }},
		{"StableRescue", func(s *DomainSpec) { s.StableRescue = &RescueDevice{Device: "tape", Bus: "virtio"} }},
		{"StableRescue", func(s *DomainSpec) { s.StableRescue = &RescueDevice{Device: "disk", Bus: "xen"} }},
		{"RescueKernel", func(s *DomainSpec) { s.RescueKernel = true }},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			s := goldenSpecs()["configdrive-vif"]
			tt.change(&s)
			_, err := BuildDomain(s)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.field) {
				t.Errorf("BuildDomain = %v, want ErrInvalid naming %s", err, tt.field)
			}
		})
	}
}

func TestInstanceName(t *testing.T) {
	if got := InstanceName(42); got != "instance-0000002a" {
		t.Errorf("InstanceName(42) = %q", got)
	}
	if got := InstanceName(0x123456789); got != "instance-123456789" {
		t.Errorf("InstanceName(0x123456789) = %q", got)
	}
}

func TestPowerState(t *testing.T) {
	for s, want := range map[PowerState]string{PowerNoState: "pending", PowerRunning: "running",
		PowerPaused: "paused", PowerShutdown: "shutdown", PowerCrashed: "crashed", PowerSuspended: "suspended", 2: "power_state(2)"} {
		if s.String() != want {
			t.Errorf("PowerState(%d) = %q, want %q", int(s), s.String(), want)
		}
	}
}
