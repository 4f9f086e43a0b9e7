package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/novalet/novalet/config"
	"github.com/novalet/novalet/imagecache"
	"github.com/novalet/novalet/rpc"
	"github.com/novalet/novalet/virt"
)

// ComputeOptions are the nova.conf options instance operations read.
type ComputeOptions struct {
	InstancesPath       string
	MaxConcurrentBuilds int // [DEFAULT] max_concurrent_builds; 0 = unlimited, as nova
	// MaxConcurrentSnapshots is [DEFAULT] max_concurrent_snapshots; 0 = unlimited.
	MaxConcurrentSnapshots int
	// SnapshotImageFormat is [libvirt] snapshot_image_format; "" keeps the disk's format.
	SnapshotImageFormat string
	// RescueKernelID and RescueRamdiskID are [libvirt] rescue_kernel_id / rescue_ramdisk_id:
	// the kernel and ramdisk a rescue boots instead of the instance's own kernel_id /
	// ramdisk_id. ([libvirt] rescue_image_id is never reached in nova 26.2.2: the rescue
	// image always has an id by then.)
	RescueKernelID, RescueRamdiskID string
	// ShelvedOffloadTime is [DEFAULT] shelved_offload_time: 0 offloads a shelved instance at
	// once, a negative value never, a positive one after that many seconds (checked every
	// ShelvedPollInterval).
	ShelvedOffloadTime int
	// ShelvedPollInterval is [DEFAULT] shelved_poll_interval; <= 0 disables the check.
	ShelvedPollInterval time.Duration
	// ResizeConfirmWindow is [DEFAULT] resize_confirm_window: > 0 confirms, every
	// UnconfirmedResizesInterval, the resizes finished on this host longer ago than that
	// many seconds; 0 never.
	ResizeConfirmWindow        int
	UnconfirmedResizesInterval time.Duration
	// ServiceDownTime is [DEFAULT] service_down_time: a source host whose last heartbeat
	// is older is down, and its resizes are not auto-confirmed meanwhile.
	ServiceDownTime  time.Duration
	ForceConfigDrive bool
	// PasswordLength is [DEFAULT] password_length, the length of generated admin passwords
	// (a rescue's); <= 0 takes nova's default 12 (nova would generate an empty one for 0).
	PasswordLength int
	DHCPDomain     string // [api] dhcp_domain, for the metadata hostname
	DefaultAZ      string // [DEFAULT] default_availability_zone
	Glance         config.Glance
	// ReclaimInstanceInterval > 0 keeps allocations on delete (soft delete); nova then empties
	// them instead of deleting.
	ReclaimInstanceInterval int
	// TrackInstanceChanges sends the scheduler update/delete_instance_info fanouts
	// ([filter_scheduler] track_instance_changes).
	TrackInstanceChanges bool
	ShutdownTimeout      time.Duration // [DEFAULT] shutdown_timeout
	SoftRebootTimeout    time.Duration // [libvirt] wait_soft_reboot_seconds
	Console              ConsoleOptions
	// HandleLifecycleEvents is [workarounds] handle_virt_lifecycle_events: libvirt's lifecycle
	// events sync a guest's power state as soon as it changes behind nova's back.
	HandleLifecycleEvents bool
	// LifecycleEventDelay is how long a "stopped" event waits for a "started" that would
	// cancel it (a reboot); 0 means nova's 15 s.
	LifecycleEventDelay time.Duration
	// SyncPowerStateInterval is [DEFAULT] sync_power_state_interval; <= 0 disables the sync.
	SyncPowerStateInterval time.Duration
	// ImageCacheManagerInterval is [image_cache] manager_interval, the spacing of the image
	// cache manager's passes; <= 0 disables them.
	ImageCacheManagerInterval time.Duration
	// ResumeGuestsStateOnHostBoot restarts guests that should run but do not at start-up.
	ResumeGuestsStateOnHostBoot bool
	// Domain is what every domain gets from nova.conf ([libvirt], [vnc]).
	Domain DomainDefaults
	// OperationTimeout bounds one whole operation (a build, a delete) after it starts.
	OperationTimeout time.Duration
}

// DomainDefaults are the host-wide parts of a domain definition.
type DomainDefaults struct {
	VirtType, CPUMode, CPUModel, MachineType, DiskCacheMode string
	VNCListen                                               string // "" when [vnc] enabled is false
	NovaVersion                                             string
}

// Caster sends casts: the scheduler fanouts and the conductor's build_instances for a
// reschedule; and the conductor task calls (migrate_server for a resize's reschedule).
// rpc.Client implements it.
type Caster interface {
	Cast(ctx context.Context, target rpc.Target, rc rpc.Context, method string, args map[string]any) error
	Call(ctx context.Context, target rpc.Target, rc rpc.Context, method string, args map[string]any, opts rpc.CallOptions) (json.RawMessage, error)
}

// compute holds what instance operations need.
type compute struct {
	opts    ComputeOptions
	net     NetworkOptions
	hv      virt.Hypervisor
	images  imagecache.Cache
	glance  ImageService
	caster  Caster
	network NetworkAPI
	taps    TapPlugger
	remote  RemoteFS
	locks   *keyLock
	builds  chan struct{} // max_concurrent_builds tokens; nil = unlimited
	snaps   chan struct{} // max_concurrent_snapshots tokens; nil = unlimited
	events  eventWaiters
	// powerPoll, when > 0, replaces the polls of the waits for a power state (power.go), so
	// that a test can show they end at the lifecycle event.
	powerPoll time.Duration
}

// newCompute checks the instance options and fills nova's defaults.
func newCompute(o Options, d Deps) (*compute, error) {
	opts := o.Compute
	if opts.InstancesPath == "" {
		return nil, fmt.Errorf("instances_path is empty")
	}
	if opts.OperationTimeout <= 0 {
		opts.OperationTimeout = 30 * time.Minute
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = 60 * time.Second
	}
	if opts.SoftRebootTimeout <= 0 {
		opts.SoftRebootTimeout = 120 * time.Second
	}
	if opts.PasswordLength <= 0 {
		opts.PasswordLength = defaultPasswordLength
	}
	if opts.LifecycleEventDelay <= 0 {
		opts.LifecycleEventDelay = 15 * time.Second
	}
	if opts.DHCPDomain == "" {
		opts.DHCPDomain = "novalocal"
	}
	net := o.Network
	if net.ReaperInterval <= 0 {
		net.ReaperInterval = 10 * time.Minute
	}
	c := &compute{opts: opts, net: net, hv: d.Hypervisor, images: d.Images, glance: d.ImageService, caster: d.Caster,
		network: d.Network, taps: d.Taps, remote: d.Remote, locks: newKeyLock()}
	if opts.MaxConcurrentBuilds > 0 {
		c.builds = make(chan struct{}, opts.MaxConcurrentBuilds)
	}
	if opts.MaxConcurrentSnapshots > 0 {
		c.snaps = make(chan struct{}, opts.MaxConcurrentSnapshots)
	}
	return c, nil
}

// acquireBuild takes a build slot (max_concurrent_builds).
func (c *compute) acquireBuild(ctx context.Context) (func(), error) { return acquire(ctx, c.builds) }

// acquireSnapshot takes a snapshot slot (max_concurrent_snapshots).
func (c *compute) acquireSnapshot(ctx context.Context) (func(), error) { return acquire(ctx, c.snaps) }

// acquire takes a token of a bounded semaphore; a nil one is unlimited.
func acquire(ctx context.Context, slots chan struct{}) (func(), error) {
	if slots == nil {
		return func() {}, nil
	}
	select {
	case slots <- struct{}{}:
		return func() { <-slots }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// instanceMethods are the compute RPC methods of instance operations.
func (a *Agent) instanceMethods() map[string]rpc.HandlerFunc {
	return map[string]rpc.HandlerFunc{
		"build_and_run_instance":  a.castBuildAndRunInstance,
		"terminate_instance":      a.terminateInstance,
		"stop_instance":           a.stopInstance,
		"start_instance":          a.startInstance,
		"reboot_instance":         a.rebootInstance,
		"pause_instance":          a.pauseInstance,
		"unpause_instance":        a.unpauseInstance,
		"suspend_instance":        a.suspendInstance,
		"resume_instance":         a.resumeInstance,
		"snapshot_instance":       a.snapshotInstance,
		"backup_instance":         a.backupInstance,
		"shelve_instance":         a.shelveInstance,
		"shelve_offload_instance": a.shelveOffloadInstance,
		"unshelve_instance":       a.unshelveInstance,
		"rebuild_instance":        a.rebuildInstance,
		"rescue_instance":         a.rescueInstance,
		"unrescue_instance":       a.unrescueInstance,
		"prep_resize":             a.prepResize,
		"resize_instance":         a.resizeInstance,
		"finish_resize":           a.finishResize,
		"confirm_resize":          a.confirmResize,
		"revert_resize":           a.revertResize,
		"finish_revert_resize":    a.finishRevertResize,
		"get_vnc_console":         a.getVNCConsole,
		"validate_console_port":   a.validateConsolePort,
		"get_console_output":      a.getConsoleOutput,
		"external_instance_event": a.externalInstanceEvent,
	}
}
