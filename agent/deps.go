package agent

import (
	"context"
	"io"
	"time"

	"github.com/novalet/novalet/metrics"
	"github.com/novalet/novalet/netmodel"
	"github.com/novalet/novalet/netplug"
	"github.com/novalet/novalet/openstack/glance"
	"github.com/novalet/novalet/openstack/placement"
	"github.com/novalet/novalet/virt"
)

// The ports the compute manager consumes. Each is small and declared here, where it is used;
// the adapters (virt, imagecache, netplug, openstack/neutron, openstack/placement, metrics)
// satisfy them, and the tests pass the fakes that run the same conformance suites.

// HostInfo is what init_host and the resource tracker read from the hypervisor host
// (virt.Conn implements it).
type HostInfo interface {
	HostFacts(ctx context.Context) (virt.HostFacts, error)
	DriverTraits(ctx context.Context, virtType string) ([]string, error)
}

// NetworkAPI is nova's network API as the compute manager calls it (openstack/neutron's
// Connector implements it): ports allocated and bound to this host for a build, released on
// delete or after a failed build, their status read again before a rebuild.
type NetworkAPI interface {
	AllocateForInstance(ctx context.Context, userToken string, inst netmodel.InstanceRef, requested []netmodel.RequestedNetwork) ([]netmodel.VIF, error)
	DeallocateForInstance(ctx context.Context, instanceUUID string, vifs []netmodel.VIF) error
	// SetupInstanceNetworkOnHost binds the instance's ports to inst.Host (nova's
	// setup_instance_network_on_host), for an instance arriving on this host (unshelve).
	SetupInstanceNetworkOnHost(ctx context.Context, inst netmodel.InstanceRef) error
	// PortsActive says which ports Neutron reports up, for a spawn of an instance whose info
	// cache may be stale (a rebuild).
	PortsActive(ctx context.Context, portIDs []string) (map[string]bool, error)
}

// RemoteFS is the libvirt driver's remote filesystem (nova's remotefs.RemoteFilesystem;
// internal/remotefs implements it): files on another compute host, for the disk copies of a
// resize or cold migration between hosts. Copy arguments are host:path on the remote side.
type RemoteFS interface {
	CreateFile(ctx context.Context, host, path string) error
	RemoveFile(ctx context.Context, host, path string) error
	CreateDir(ctx context.Context, host, path string) error
	RemoveDir(ctx context.Context, host, path string) error
	CopyFile(ctx context.Context, src, dst string, compression bool) error
}

// TapPlugger is the host side of VIFs, the part of netplug.Plugger the manager uses: a tap per
// port in the network's bridge.
type TapPlugger interface {
	Plug(ctx context.Context, v netplug.VIF) error
	Unplug(ctx context.Context, portID string) error
	RemoveTap(ctx context.Context, name string) error
	List(ctx context.Context) ([]netplug.Tap, error)
}

// ImageService is nova's image API for what the compute manager writes to Glance
// (openstack/glance's Client implements it): a snapshot's record and streamed data, the
// listing behind backup rotation, and deletes. Downloads go through the image cache.
type ImageService interface {
	Image(ctx context.Context, req glance.Request) (*glance.Image, error)
	// Update sets attributes and properties, removing none (purge_props=False).
	Update(ctx context.Context, req glance.Request, set map[string]string) (*glance.Image, error)
	Upload(ctx context.Context, req glance.Request, data io.Reader) error
	List(ctx context.Context, req glance.Request, o glance.ListOptions) ([]glance.Image, error)
	Delete(ctx context.Context, req glance.Request) error
}

var _ ImageService = (*glance.Client)(nil)

// ReportClient is what the resource tracker and terminate ask of Placement (openstack/placement's
// Client implements it).
type ReportClient interface {
	EnsureProvider(ctx context.Context, uuid, name string) (*placement.Provider, error)
	// Provider is the cached view of a provider, nil before EnsureProvider.
	Provider(uuid string) *placement.Provider
	SetInventory(ctx context.Context, uuid string, want map[string]placement.Inventory) error
	SetTraits(ctx context.Context, uuid string, want []string, managed func(string) bool) error
	DeleteAllocations(ctx context.Context, consumer string) error
	// ProviderAllocations lists consumer -> resource class -> amount against a provider.
	ProviderAllocations(ctx context.Context, uuid string) (map[string]map[string]int, error)
	// MoveAllocations is nova's move_allocations: source's allocations become target's;
	// moved is false when source held none.
	MoveAllocations(ctx context.Context, source, target string) (moved bool, err error)
	// EmptyAllocations removes a consumer's allocations at its consumer generation (nova's
	// delete_allocation_for_instance without force).
	EmptyAllocations(ctx context.Context, consumer string) error
}

// Observer receives the manager's measurements (*metrics.Metrics implements it).
type Observer interface {
	ObserveRPC(method string, result metrics.Result, d time.Duration)
	StartOperation(operation string) (done func(metrics.Result))
	ObserveSpawnPhase(phase metrics.SpawnPhase, d time.Duration)
	ObservePeriodicTask(task string, result metrics.Result, d time.Duration)
	InstanceFault(reason string)
	HeartbeatSucceeded(at time.Time)
	SetLibvirtUp(up bool)
	PlacementRequest(result metrics.Result)
	TapOperation(op metrics.TapOp, result metrics.Result)
	OrphanReaped(kind string)
	OrphanKept(kind, reason string)
	ImageUploaded(bytes int)
}

var _ Observer = (*metrics.Metrics)(nil)

// noObserver records nothing.
type noObserver struct{}

func (noObserver) ObserveRPC(string, metrics.Result, time.Duration)          {}
func (noObserver) StartOperation(string) func(metrics.Result)                { return func(metrics.Result) {} }
func (noObserver) ObserveSpawnPhase(metrics.SpawnPhase, time.Duration)       {}
func (noObserver) ObservePeriodicTask(string, metrics.Result, time.Duration) {}
func (noObserver) InstanceFault(string)                                      {}
func (noObserver) HeartbeatSucceeded(time.Time)                              {}
func (noObserver) SetLibvirtUp(bool)                                         {}
func (noObserver) PlacementRequest(metrics.Result)                           {}
func (noObserver) TapOperation(metrics.TapOp, metrics.Result)                {}
func (noObserver) OrphanReaped(string)                                       {}
func (noObserver) OrphanKept(string, string)                                 {}
func (noObserver) ImageUploaded(int)                                         {}
