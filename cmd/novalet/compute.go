package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/novalet/novalet/agent"
	"github.com/novalet/novalet/config"
	"github.com/novalet/novalet/imagecache"
	"github.com/novalet/novalet/openstack/glance"
	"github.com/novalet/novalet/openstack/keystone"
	"github.com/novalet/novalet/rpc/ovo"
)

// novaVersion is the nova release novalet stands in for, read from the object manifest taken
// off python3-nova: it goes where nova writes its own version (domain metadata, SMBIOS, the
// config drive's publisher).
var novaVersion = ovo.Zed().NovaVersion

// imageCacheOptions maps nova.conf onto the image cache and its Glance client.
func imageCacheOptions(cfg *config.Config, log *slog.Logger) (imagecache.Options, error) {
	o := imagecache.DefaultOptions()
	d, ic := cfg.Default, cfg.ImageCache
	o.InstancesPath = d.InstancesPath
	owner, err := fileOwner()
	if err != nil {
		return o, err
	}
	o.Owner = owner
	if ic.SubdirectoryName != "" {
		o.SubdirectoryName = ic.SubdirectoryName
	}
	o.ForceRawImages = d.ForceRawImages
	o.RemoveUnusedBaseImages = ic.RemoveUnusedBaseImages
	o.RemoveUnusedOriginalMinimumAge = time.Duration(ic.RemoveUnusedOriginalMinimumAgeSeconds) * time.Second
	o.RemoveUnusedResizedMinimumAge = time.Duration(ic.RemoveUnusedResizedMinimumAgeSeconds) * time.Second
	o.FreeSpaceWatermark = int64(cfg.Novalet.MinFreeDiskMB) << 20
	o.SnapshotsDirectory = cfg.Libvirt.SnapshotsDirectory
	o.SnapshotCompression = cfg.Libvirt.SnapshotCompression
	gopts := glance.DefaultClientOptions()
	gopts.Retries = cfg.Glance.NumRetries
	// [glance] cafile and insecure apply to downloads; timeout is keystoneauth's per-read
	// timeout: it bounds the image record's GET and a download that stops sending.
	tr, err := keystone.Transport(cfg.Glance.Adapter)
	if err != nil {
		return o, fmt.Errorf("[glance]: %w", err)
	}
	gopts.HTTPClient = &http.Client{Transport: tr}
	if t := cfg.Glance.Timeout; t != nil && *t > 0 {
		gopts.MetadataTimeout = time.Duration(*t) * time.Second
		o.DownloadIdleTimeout = time.Duration(*t) * time.Second
	}
	fetcher, err := glance.NewClient(gopts)
	if err != nil {
		return o, err
	}
	o.Fetcher = fetcher
	if d.MkisofsCmd != "" {
		o.MkisofsCmd = d.MkisofsCmd
	}
	o.ConfigDrivePublisher = "OpenStack Nova " + novaVersion
	o.Logger = log
	return o, nil
}

// agentOptions maps nova.conf onto the compute manager's options; owner (user nova) gets
// state_path/compute_id, as it gets the files under instances_path.
func agentOptions(cfg *config.Config, conductorTimeout time.Duration, owner *imagecache.Owner) agent.Options {
	ro := resourceOptions(cfg)
	ro.FileOwner = owner
	return agent.Options{
		Host:             cfg.Default.Host,
		Resources:        ro,
		Compute:          computeOptions(cfg),
		Network:          networkOptions(cfg),
		ReportInterval:   time.Duration(cfg.Default.ReportInterval) * time.Second,
		ResourceInterval: 60 * time.Second,
		ConductorTimeout: conductorTimeout,
		LongRPCTimeout:   time.Duration(cfg.Default.LongRPCTimeout) * time.Second,
	}
}

// computeOptions maps nova.conf onto the agent's instance operations.
func computeOptions(cfg *config.Config) agent.ComputeOptions {
	d := cfg.Default
	vnc := ""
	if cfg.VNC.Enabled {
		vnc = cfg.VNC.ServerListen
	}
	machine := ""
	if len(cfg.Libvirt.HWMachineType) > 0 {
		machine = machineTypeFor(cfg.Libvirt.HWMachineType, "x86_64")
	}
	cpuModel := ""
	if len(cfg.Libvirt.CPUModels) > 0 {
		cpuModel = cfg.Libvirt.CPUModels[0]
	}
	return agent.ComputeOptions{
		InstancesPath:          d.InstancesPath,
		MaxConcurrentBuilds:    d.MaxConcurrentBuilds,
		MaxConcurrentSnapshots: d.MaxConcurrentSnapshots,
		SnapshotImageFormat:    cfg.Libvirt.SnapshotImageFormat,
		RescueKernelID:         cfg.Libvirt.RescueKernelID,
		RescueRamdiskID:        cfg.Libvirt.RescueRamdiskID,
		ShelvedOffloadTime:     d.ShelvedOffloadTime,
		ShelvedPollInterval:    periodicSpacing(d.ShelvedPollInterval),
		ResizeConfirmWindow:    d.ResizeConfirmWindow,
		// _poll_unconfirmed_resizes has no spacing of its own: oslo's default.
		UnconfirmedResizesInterval: defaultPeriodicSpacing,
		ServiceDownTime:            time.Duration(d.ServiceDownTime) * time.Second,
		ForceConfigDrive:           d.ForceConfigDrive,
		PasswordLength:             d.PasswordLength,
		DHCPDomain:                 cfg.API.DHCPDomain,
		DefaultAZ:                  d.DefaultAvailabilityZone,
		Glance:                     cfg.Glance,
		ReclaimInstanceInterval:    d.ReclaimInstanceInterval,
		TrackInstanceChanges:       cfg.Scheduler.TrackInstanceChanges,
		ShutdownTimeout:            time.Duration(d.ShutdownTimeout) * time.Second,
		Console: agent.ConsoleOptions{VNCEnabled: cfg.VNC.Enabled, NoVNCProxyBaseURL: cfg.VNC.NoVNCProxyBaseURL,
			ProxyClientAddress: cfg.VNC.ServerProxyclientAddress, TokenTTL: cfg.ConsoleAuth.TokenTTL},
		SyncPowerStateInterval:      periodicSpacing(d.SyncPowerStateInterval),
		HandleLifecycleEvents:       cfg.Workarounds.HandleVirtLifecycleEvents,
		ImageCacheManagerInterval:   periodicSpacing(cfg.ImageCache.ManagerInterval),
		ResumeGuestsStateOnHostBoot: d.ResumeGuestsStateOnHostBoot,
		SoftRebootTimeout:           time.Duration(cfg.Libvirt.WaitSoftRebootSeconds) * time.Second,
		Domain: agent.DomainDefaults{
			VirtType: cfg.Libvirt.VirtType, CPUMode: cfg.Libvirt.CPUMode, CPUModel: cpuModel,
			MachineType: machine, DiskCacheMode: diskCacheMode(d.InstancesPath), VNCListen: vnc,
			NovaVersion: novaVersion,
		},
	}
}

// defaultPeriodicSpacing is oslo.service's DEFAULT_INTERVAL: a periodic task of spacing 0
// runs this often.
const defaultPeriodicSpacing = 60 * time.Second

// periodicSpacing reads a periodic task's interval option as oslo.service does: negative
// disables the task (the agent's loops take <= 0 so), 0 means the default spacing.
func periodicSpacing(seconds int) time.Duration {
	switch {
	case seconds < 0:
		return -1
	case seconds == 0:
		return defaultPeriodicSpacing
	}
	return time.Duration(seconds) * time.Second
}

// machineTypeFor reads [libvirt] hw_machine_type ("x86_64=q35,armv7l=virt" as a list) for arch.
func machineTypeFor(list []string, arch string) string {
	for _, kv := range list {
		if k, v, ok := strings.Cut(kv, "="); ok && k == arch {
			return v
		}
	}
	return ""
}

// diskCacheMode is nova's choice: cache "none" (O_DIRECT) where instances_path supports direct
// I/O, else "writeback" (tmpfs and some overlay file systems refuse O_DIRECT).
func diskCacheMode(instancesPath string) string {
	probe := filepath.Join(instancesPath, ".directio.test")
	fd, err := unix.Open(probe, unix.O_CREAT|unix.O_WRONLY|unix.O_DIRECT, 0o600)
	if err != nil {
		if errors.Is(err, unix.EINVAL) {
			return "writeback"
		}
		return "none"
	}
	unix.Close(fd)
	os.Remove(probe)
	return "none"
}
