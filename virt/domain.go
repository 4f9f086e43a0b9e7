package virt

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"
	"libvirt.org/go/libvirtxml"
)

// InstanceNamePrefix starts every domain name nova's default instance_name_template
// ("instance-%08x") produces; List reports only domains named so.
const InstanceNamePrefix = "instance-"

// InstanceName is nova's default domain name for the instance with database id id.
func InstanceName(id int64) string { return fmt.Sprintf("%s%08x", InstanceNamePrefix, id) }

// Machine types nova uses on x86_64. Zed's default is pc; q35 changes the cdrom bus.
const (
	MachinePC  = "pc"
	MachineQ35 = "q35"
)

// DomainSpec is everything the domain XML is made from: the instance as the agent knows it,
// plus the host settings that shape the XML. Zero values take nova's defaults where nova has
// one (machine type pc, virt type qemu, cache none).
type DomainSpec struct {
	UUID        string // instance uuid; also the domain's uuid and SMBIOS uuid/serial
	Name        string // domain name, InstanceName(instance.id)
	DisplayName string // instance.display_name (nova:name)
	Flavor      Flavor
	Owner       Owner
	ImageID     string // instance.image_ref; empty for a volume-backed instance (no nova:root)
	InstanceDir string // <instances_path>/<uuid>, absolute; holds disk, disk.config, console.log

	VNCListen   string // [vnc] server_listen; empty means no VNC (and no video/tablet), as vnc.enabled=false
	ConfigDrive bool   // attach <InstanceDir>/disk.config as a cdrom
	// Rescue makes the domain of a legacy rescue: disk.rescue first (vda, the boot disk),
	// the root disk second (vdb), disk.config.rescue as the cdrom when ConfigDrive; no
	// ephemeral or swap disk.
	Rescue bool
	// StableRescue makes the domain of a stable device rescue: the instance's own disks as
	// they are, and disk.rescue as the given device, last, booted first.
	StableRescue *RescueDevice
	// RescueKernel and RescueRamdisk (with Rescue or StableRescue) boot
	// <InstanceDir>/kernel.rescue and ramdisk.rescue, which the caller has written.
	RescueKernel, RescueRamdisk bool
	VIFs                        []VIF

	MachineType   string    // image hw_machine_type / [libvirt] hw_machine_type; default MachinePC
	VirtType      string    // [libvirt] virt_type; default VirtTypeQEMU
	CPUMode       string    // [libvirt] cpu_mode; default host-model ("none", "custom", "host-passthrough")
	CPUModel      string    // first of [libvirt] cpu_models, for CPUMode "custom"
	DiskCacheMode string    // default "none"; "writeback" where O_DIRECT is unsupported (tmpfs)
	CreationTime  time.Time // nova:creationTime, written in UTC
	NovaVersion   string    // nova:package and SMBIOS version, e.g. "26.2.2"
}

// Flavor is the part of the instance's flavor the domain and its metadata carry.
type Flavor struct {
	Name        string
	VCPUs       int
	MemoryMB    int
	RootGB      int
	EphemeralGB int // > 0 adds <InstanceDir>/disk.local as vdb, which the caller creates
	SwapMB      int // > 0 adds <InstanceDir>/disk.swap as the next virtio disk, which the caller creates
}

// Owner is the instance's user and project. Names come from system_metadata owner_user_name and
// owner_project_name; empty names are written "N/A" as nova does.
type Owner struct {
	UserID      string
	UserName    string
	ProjectID   string
	ProjectName string
}

// VIF is one Neutron port as the domain sees it: a tap device netplug made beforehand.
type VIF struct {
	PortID  string
	MAC     string
	TapName string // tap<port[:11]>, at most 15 bytes (IFNAMSIZ-1)
	MTU     int    // the network's MTU; 0 leaves it out
	IPs     []IP   // fixed/floating addresses for nova:ports metadata; may be empty
}

// IP is one address of a port in the nova metadata.
type IP struct {
	Type    string // "fixed" or "floating"
	Address string
	Version int // 4 or 6
}

// configurator fills one aspect of the domain from the spec. Each lives in a domain_*.go file.
type configurator func(s *DomainSpec, d *libvirtxml.Domain) error

// BuildDomain validates spec and returns the domain nova's libvirt driver would define for it.
// An invalid spec is ErrInvalid with the offending field named.
func BuildDomain(spec DomainSpec) (*libvirtxml.Domain, error) {
	s := spec.withDefaults()
	if err := s.validate(); err != nil {
		return nil, err
	}
	d := &libvirtxml.Domain{Devices: &libvirtxml.DomainDeviceList{}}
	// libvirtxml writes each kind of device in its own list, so order matters only within a
	// kind (disks), where each configurator follows nova's order itself.
	for _, c := range []configurator{
		configureBase,
		configureMetadata,
		configureSysinfo,
		configureOS,
		configureFeatures,
		configureCPU,
		configureClock,
		configureDisks,
		configureInterfaces,
		configureSerial,
		configureGraphics,
		configureDevices, // after configureGraphics: the USB controller depends on the tablet
	} {
		if err := c(&s, d); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// BuildDomainXML is BuildDomain followed by Marshal.
func BuildDomainXML(spec DomainSpec) (string, error) {
	d, err := BuildDomain(spec)
	if err != nil {
		return "", err
	}
	x, err := d.Marshal()
	if err != nil {
		return "", fmt.Errorf("virt: marshal domain %s: %w", spec.Name, err)
	}
	return x, nil
}

func (s DomainSpec) withDefaults() DomainSpec {
	if s.MachineType == "" {
		s.MachineType = MachinePC
	}
	if s.VirtType == "" {
		s.VirtType = VirtTypeQEMU
	}
	if s.CPUMode == "" {
		s.CPUMode = "host-model"
	}
	if s.DiskCacheMode == "" {
		s.DiskCacheMode = "none"
	}
	if s.Owner.UserName == "" {
		s.Owner.UserName = "N/A"
	}
	if s.Owner.ProjectName == "" {
		s.Owner.ProjectName = "N/A"
	}
	return s
}

// validate rejects specs libvirt would refuse or that would produce a misleading domain.
func (s *DomainSpec) validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("virt: domain spec %s: %s: %w", field, fmt.Sprintf(format, args...), ErrInvalid)
	}
	if _, err := uuid.Parse(s.UUID); err != nil {
		return bad("UUID", "%q is not a uuid", s.UUID)
	}
	if s.Name == "" || strings.ContainsAny(s.Name, "/\x00") {
		return bad("Name", "%q is not a domain name", s.Name)
	}
	if s.Flavor.VCPUs <= 0 {
		return bad("Flavor.VCPUs", "%d, want > 0", s.Flavor.VCPUs)
	}
	if s.Flavor.MemoryMB <= 0 {
		return bad("Flavor.MemoryMB", "%d, want > 0", s.Flavor.MemoryMB)
	}
	if s.Flavor.EphemeralGB < 0 || s.Flavor.SwapMB < 0 || s.Flavor.RootGB < 0 {
		return bad("Flavor", "negative disk size")
	}
	if !filepath.IsAbs(s.InstanceDir) {
		return bad("InstanceDir", "%q is not absolute", s.InstanceDir)
	}
	if s.NovaVersion == "" {
		return bad("NovaVersion", "empty")
	}
	if s.CreationTime.IsZero() {
		return bad("CreationTime", "zero")
	}
	if s.VirtType != VirtTypeQEMU && s.VirtType != VirtTypeKVM {
		return bad("VirtType", "%q (supported: %s, %s)", s.VirtType, VirtTypeQEMU, VirtTypeKVM)
	}
	switch s.CPUMode {
	case "none", "host-model", "host-passthrough":
	case "custom":
		if s.CPUModel == "" {
			return bad("CPUModel", "empty with CPUMode custom")
		}
	default:
		return bad("CPUMode", "%q", s.CPUMode)
	}
	if s.Rescue && s.StableRescue != nil {
		return bad("StableRescue", "set with Rescue: a rescue is legacy or stable")
	}
	if s.StableRescue != nil {
		if err := s.StableRescue.validate(); err != nil {
			return bad("StableRescue", "%v", err)
		}
	}
	if (s.RescueKernel || s.RescueRamdisk) && !s.Rescue && s.StableRescue == nil {
		return bad("RescueKernel", "set without a rescue")
	}
	for i, v := range s.VIFs {
		field := fmt.Sprintf("VIFs[%d]", i)
		if v.PortID == "" {
			return bad(field+".PortID", "empty")
		}
		if _, err := net.ParseMAC(v.MAC); err != nil {
			return bad(field+".MAC", "%q: %v", v.MAC, err)
		}
		if v.TapName == "" || len(v.TapName) > 15 {
			return bad(field+".TapName", "%q: want 1 to 15 bytes", v.TapName)
		}
		if v.MTU < 0 {
			return bad(field+".MTU", "%d", v.MTU)
		}
	}
	return nil
}
