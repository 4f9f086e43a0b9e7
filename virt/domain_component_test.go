//go:build component

package virt

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"github.com/novalet/novalet/internal/testenv"
)

// TestGoldenDomainsDefine proves libvirtd accepts (and schema-validates) every golden domain:
// each is defined under a test name and a fresh uuid, with its instance directory holding a real
// qcow2 overlay, read back, and undefined. It is not started: its NIC's tap does not exist.
func TestGoldenDomainsDefine(t *testing.T) {
	c := openTestConn(t)
	base, err := filepath.Abs(filepath.Join(testenv.GuestDir(t), "guest.qcow2"))
	if err != nil {
		t.Fatal(err)
	}
	for name, spec := range goldenSpecs() {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
			defer cancel()
			spec.UUID = uuid.NewString()
			spec.Name = testDomainPrefix + "golden-" + spec.UUID[:8]
			spec.InstanceDir = filepath.Join(t.TempDir(), spec.UUID)
			makeInstanceDir(t, spec, base)

			x, err := BuildDomainXML(spec)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Define(ctx, x); err != nil {
				t.Fatalf("define: %v\n%s", err, x)
			}
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				if err := c.Undefine(ctx, spec.UUID); err != nil && !errors.Is(err, ErrNotFound) {
					t.Errorf("cleanup: undefine %s: %v", spec.Name, err)
				}
			})

			got, err := c.Metadata(ctx, spec.UUID)
			if err != nil {
				t.Fatalf("metadata: %v", err)
			}
			s := spec.withDefaults()
			want := s.instanceMetadata()
			want.XMLName = got.XMLName
			if !reflect.DeepEqual(got, want) {
				t.Errorf("metadata read back as\n%+v\nwant\n%+v", got, want)
			}
			checkDefinedXML(t, c, spec)

			if err := c.Undefine(ctx, spec.UUID); err != nil {
				t.Fatalf("undefine: %v", err)
			}
			if _, err := c.State(ctx, spec.UUID); !errors.Is(err, ErrNotFound) {
				t.Errorf("state after undefine = %v, want ErrNotFound", err)
			}
		})
	}
}

// makeInstanceDir lays out the instance directory as the image cache would: the root disk as a
// qcow2 overlay on the test guest, and a config drive file when the spec has one.
func makeInstanceDir(t *testing.T, spec DomainSpec, base string) {
	t.Helper()
	if err := os.MkdirAll(spec.InstanceDir, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	disks, drive := []string{DiskFile}, ConfigDriveFile
	if spec.Rescue {
		disks, drive = []string{DiskFile, RescueDiskFile}, RescueConfigDriveFile
	}
	for _, disk := range disks {
		if out, err := exec.CommandContext(ctx, "qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2",
			filepath.Join(spec.InstanceDir, disk)).CombinedOutput(); err != nil {
			t.Fatalf("qemu-img create overlay: %v\n%s", err, out)
		}
	}
	if spec.ConfigDrive {
		if err := os.WriteFile(filepath.Join(spec.InstanceDir, drive), make([]byte, 64<<10), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// checkDefinedXML reads libvirt's view of the domain back and checks what matters survived its
// parser: nothing was dropped as unknown or rewritten into something else.
func checkDefinedXML(t *testing.T, c *Conn, spec DomainSpec) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	raw, err := domainCall(ctx, c, "dump XML of", spec.UUID, func(d *libvirt.Domain) (string, error) {
		return d.GetXMLDesc(libvirt.DOMAIN_XML_INACTIVE)
	})
	if err != nil {
		t.Fatal(err)
	}
	var d libvirtxml.Domain
	if err := d.Unmarshal(raw); err != nil {
		t.Fatal(err)
	}
	if d.Type != "qemu" || d.OS.Type.Machine == "" || d.OS.SMBios == nil || d.OS.SMBios.Mode != "sysinfo" {
		t.Errorf("type %q os %+v", d.Type, d.OS)
	}
	if d.CPU == nil || d.CPU.Mode != "host-model" || d.CPU.Topology == nil || d.CPU.Topology.Sockets != spec.Flavor.VCPUs {
		t.Errorf("cpu %+v", d.CPU)
	}
	if len(d.SysInfo) != 1 || d.SysInfo[0].SMBIOS == nil || len(d.SysInfo[0].SMBIOS.System.Entry) != 6 {
		t.Errorf("sysinfo %+v", d.SysInfo)
	}
	if d.Features == nil || d.Features.ACPI == nil || d.Features.APIC == nil || d.Features.VMCoreInfo == nil {
		t.Errorf("features %+v", d.Features)
	}
	wantDisks := []string{"vda:" + DiskFile}
	if spec.Rescue {
		wantDisks = []string{"vda:" + RescueDiskFile, "vdb:" + DiskFile}
	}
	if spec.ConfigDrive {
		cd := d.Devices.Disks[len(d.Devices.Disks)-1]
		if cd.Device != "cdrom" || cd.ReadOnly == nil || cd.Target.Bus != "ide" || cd.Driver.Type != "raw" {
			t.Errorf("config drive %+v", cd)
		}
		wantDisks = append(wantDisks, "hda:"+filepath.Base(cd.Source.File.File))
		if spec.Rescue && filepath.Base(cd.Source.File.File) != RescueConfigDriveFile {
			t.Errorf("rescue config drive is %s", cd.Source.File.File)
		}
	}
	var gotDisks []string
	for _, disk := range d.Devices.Disks {
		gotDisks = append(gotDisks, disk.Target.Dev+":"+filepath.Base(disk.Source.File.File))
		if disk.Device == "disk" && disk.Driver.Type != "qcow2" {
			t.Errorf("disk %s has type %s", disk.Target.Dev, disk.Driver.Type)
		}
	}
	if strings.Join(gotDisks, " ") != strings.Join(wantDisks, " ") {
		t.Errorf("disks %v, want %v", gotDisks, wantDisks)
	}
	if len(d.Devices.Interfaces) != len(spec.VIFs) {
		t.Fatalf("interfaces %+v", d.Devices.Interfaces)
	}
	for i, v := range spec.VIFs {
		ifc := d.Devices.Interfaces[i]
		if ifc.Source == nil || ifc.Source.Ethernet == nil || ifc.Target == nil || ifc.Target.Dev != v.TapName ||
			ifc.Target.Managed != "no" || ifc.MAC.Address != v.MAC || ifc.MTU == nil || int(ifc.MTU.Size) != v.MTU ||
			ifc.Model.Type != "virtio" || ifc.Driver == nil || ifc.Driver.Name != "qemu" {
			t.Errorf("interface %d: %+v", i, ifc)
		}
	}
	if len(d.Devices.Serials) != 1 || d.Devices.Serials[0].Log == nil ||
		d.Devices.Serials[0].Log.File != filepath.Join(spec.InstanceDir, ConsoleLogFile) {
		t.Errorf("serials %+v", d.Devices.Serials)
	}
	if len(d.Devices.Graphics) != 1 || d.Devices.Graphics[0].VNC == nil || d.Devices.Graphics[0].VNC.AutoPort != "yes" {
		t.Errorf("graphics %+v", d.Devices.Graphics)
	}
	if len(d.Devices.RNGs) != 1 || d.Devices.MemBalloon == nil || d.Devices.MemBalloon.Stats == nil ||
		d.Devices.MemBalloon.Stats.Period != memStatsPeriod {
		t.Errorf("rng %+v balloon %+v", d.Devices.RNGs, d.Devices.MemBalloon)
	}
}
