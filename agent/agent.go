package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/novalet/novalet/imagecache"
	"github.com/novalet/novalet/metrics"
	"github.com/novalet/novalet/rpc"
	"github.com/novalet/novalet/virt"
)

// ComputeAPIVersion is the highest compute RPC API version novalet serves (nova 26.2.2's
// ComputeManager target is 6.1). Methods it does not implement answer NoSuchMethod.
const ComputeAPIVersion = "6.1"

// Options are the nova.conf options of the compute manager.
type Options struct {
	// Host is [DEFAULT] host: the Service record's host, every instance's host, the ports'
	// binding:host_id and the compute.<host> queue. It is the one place the host name lives.
	Host      string
	Resources ResourceOptions
	Compute   ComputeOptions
	Network   NetworkOptions

	ReportInterval   time.Duration // [DEFAULT] report_interval
	ResourceInterval time.Duration // update_available_resource spacing (nova's periodic default, 60 s)
	ConductorTimeout time.Duration // [DEFAULT] rpc_response_timeout
	// LongRPCTimeout is [DEFAULT] long_rpc_timeout: the whole wait of the conductor calls that
	// run a task (a resize's reschedule), kept alive by the conductor's heartbeats every half
	// ConductorTimeout; nova's 1800 s when 0.
	LongRPCTimeout time.Duration
}

// Deps are the ports the compute manager drives; all are required but Observer and Log.
type Deps struct {
	Conductor  Conductor
	Host       HostInfo
	Hypervisor virt.Hypervisor
	Images     imagecache.Cache
	// ImageService writes snapshots and backups to Glance.
	ImageService ImageService
	// Caster sends the scheduler fanouts and the conductor's build_instances for a reschedule.
	Caster  Caster
	Network NetworkAPI
	Taps    TapPlugger
	// Remote reaches the other compute hosts' instance directories for moves between hosts;
	// nil refuses them (MigrationPreCheckError), as a host without ssh keys would fail.
	Remote RemoteFS
	// ConnectPlacement builds the report client. It is called by each resource pass until it
	// succeeds, as nova's report client keeps trying while Keystone or Placement is away.
	ConnectPlacement func(ctx context.Context) (ReportClient, error)
	Observer         Observer     // nil records nothing
	Log              *slog.Logger // nil is slog.Default()
}

// Agent is the compute manager: it registers the node with the conductor, keeps the
// ComputeNode record and Placement in line with the host, and serves compute RPC.
type Agent struct {
	opts Options
	log  *slog.Logger
	obs  Observer
	svc  *service
	rt   *tracker
	c    *compute

	// kick asks the resource loop for an early pass (an instance came or went); one pending
	// request stands for any number.
	kick chan struct{}

	mu        sync.Mutex
	loopsSeen time.Time // when the main loops last went round (for the watchdog)

	// work counts operations running in the background (builds), for Drain.
	work sync.WaitGroup
	// draining is closed when Drain begins: background work that only waits (for Placement)
	// gives up then, and start-up recovery takes it up at the next start.
	draining  chan struct{}
	drainOnce sync.Once
}

// background runs f off the RPC worker; Drain waits for it.
func (a *Agent) background(f func()) { a.work.Go(f) }

// Drain waits for background operations (builds) to end, or for ctx. It is what a shutdown
// calls after the RPC server stopped taking work, so no build is cut in the middle by a clean
// stop; one still running at the deadline is recovered at the next start.
func (a *Agent) Drain(ctx context.Context) error {
	a.drainOnce.Do(func() { close(a.draining) })
	done := make(chan struct{})
	go func() { a.work.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("background operations still running: %w", ctx.Err())
	}
}

// New wires the compute manager from its ports and options.
func New(deps Deps, opts Options) (*Agent, error) {
	var missing []string
	for name, nilPort := range map[string]bool{"Conductor": deps.Conductor == nil, "Host": deps.Host == nil,
		"Hypervisor": deps.Hypervisor == nil, "Images": deps.Images == nil, "ImageService": deps.ImageService == nil, "Caster": deps.Caster == nil,
		"Network": deps.Network == nil, "Taps": deps.Taps == nil, "ConnectPlacement": deps.ConnectPlacement == nil} {
		if nilPort {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return nil, fmt.Errorf("agent.New: missing %s", strings.Join(missing, ", "))
	}
	if opts.Host == "" {
		return nil, errors.New("agent.New: [DEFAULT] host is empty")
	}
	if deps.Observer == nil {
		deps.Observer = noObserver{}
	}
	if deps.Log == nil {
		deps.Log = slog.Default()
	}
	c, err := newCompute(opts, deps)
	if err != nil {
		return nil, err
	}
	objs := objects{c: deps.Conductor, timeout: opts.ConductorTimeout}
	svc := &service{objs: objs, host: opts.Host, log: deps.Log, obs: deps.Observer}
	return &Agent{
		opts: opts, log: deps.Log, obs: deps.Observer, svc: svc, c: c, kick: make(chan struct{}, 1), draining: make(chan struct{}),
		rt: newTracker(opts.Host, opts.Resources, deps.Host, objs, svc, deps.ConnectPlacement, deps.Observer, deps.Log),
	}, nil
}

// Start brings the node up in nova's Service.start order: init_host first (the driver reads
// the host; instances left half done are recovered), then the Service record, then the
// ComputeNode and Placement (update_available_resource). So once the service shows 'up', its
// hypervisor row follows within one resource pass, not after a slow first libvirt answer. It
// returns when the node is registered.
func (a *Agent) Start(ctx context.Context) error {
	if err := a.initHost(ctx); err != nil {
		return err
	}
	if err := a.recoverInstances(ctx); err != nil {
		return fmt.Errorf("start-up recovery: %w", err)
	}
	if err := a.svc.register(ctx); err != nil {
		return err
	}
	// As nova's driver at its first connection: a service that a lost libvirt connection
	// disabled (before a restart) is enabled again now that libvirt answers.
	if a.svc.autoDisabled() && a.hypervisorConnected() == nil {
		a.setServiceEnabled(ctx, true, "")
	}
	if err := a.updateResources(ctx); err != nil {
		// As nova's update_available_resource at start-up: the node and its record are up; a
		// Placement that answers badly is retried by the next pass, not fatal.
		if !errors.Is(err, errPlacementSync) {
			return err
		}
		a.log.Error("placement not updated at start-up; the next resource pass retries", "error", err)
	}
	// A first heartbeat now, so that the service is "up" as soon as novalet is ready rather
	// than one report_interval later (an adopted record's last_seen_up may be old).
	if err := a.svc.beat(ctx); err != nil {
		a.log.Warn("first heartbeat failed; the heartbeat loop retries", "error", err)
	}
	a.touch()
	return nil
}

// slowHostWait is how long initHost waits on libvirt before it says what it waits for.
var slowHostWait = 5 * time.Second

// initHost is the driver's part of nova's init_host: read the host (node name, capabilities,
// the domain capabilities behind the traits) before anything is registered. A libvirtd that
// has just started probes every qemu-system-* emulator installed before its first capabilities
// answer (tens of seconds with all of Debian's emulators), so a long wait is logged while it
// lasts; libvirt caches what it probed, and the resource pass then reads it at once.
func (a *Agent) initHost(ctx context.Context) error {
	start := time.Now()
	done := make(chan struct{})
	defer close(done)
	go func() {
		t := time.NewTicker(slowHostWait)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				a.log.Info("waiting for libvirt's host capabilities (a libvirtd that has just started probes every qemu-system-* emulator once)",
					"waited", time.Since(start).Round(time.Second).String())
			}
		}
	}()
	facts, err := a.rt.hostInfo.HostFacts(ctx)
	if err != nil {
		return fmt.Errorf("init_host: read the host from libvirt: %w", err)
	}
	if _, err := a.rt.hostInfo.DriverTraits(ctx, a.opts.Resources.VirtType); err != nil {
		return fmt.Errorf("init_host: read the host's traits from libvirt: %w", err)
	}
	a.rt.publishName(facts.Hostname)
	a.log.Info("host read from libvirt", "node", facts.Hostname, "vcpus", facts.VCPUs, "memory_mb", facts.MemoryMB,
		"took", time.Since(start).Round(time.Millisecond).String())
	return nil
}

// Host is [DEFAULT] host, the name this node serves compute.<host> under.
func (a *Agent) Host() string { return a.opts.Host }

// NodeUUID is the compute node's uuid (also its resource provider's), "" before Start.
func (a *Agent) NodeUUID() string { return a.rt.identity().UUID }

// NodeName is the hypervisor hostname (the nodename), "" before Start.
func (a *Agent) NodeName() string { return a.rt.identity().Name }

// updateResources runs one resource pass (update_available_resource). Passes run one at a
// time; nothing else waits for them: readers see the last published identity and inventory.
func (a *Agent) updateResources(ctx context.Context) error {
	start := time.Now()
	err := a.rt.pass(ctx)
	a.obs.ObservePeriodicTask("update_available_resource", metrics.ResultOf(err), time.Since(start))
	a.obs.SetLibvirtUp(!errors.Is(err, virt.ErrUnavailable) && !errors.Is(err, virt.ErrTimeout))
	return err
}

// Run heartbeats and runs the resource update until ctx ends.
func (a *Agent) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(4)
	go func() {
		defer wg.Done()
		a.powerSyncLoop(ctx)
	}()
	go func() {
		defer wg.Done()
		a.tapReaperLoop(ctx)
	}()
	wg.Go(func() { a.imageCacheManagerLoop(ctx) })
	wg.Go(func() { a.shelvedOffloadLoop(ctx) })
	wg.Go(func() { a.unconfirmedResizesLoop(ctx) })
	wg.Go(func() { a.lifecycleLoop(ctx) })
	wg.Go(func() { a.connectionLoop(ctx) })
	go func() {
		defer wg.Done()
		a.svc.heartbeat(ctx, a.opts.ReportInterval)
	}()
	go func() {
		defer wg.Done()
		t := time.NewTicker(a.opts.ResourceInterval)
		defer t.Stop()
		for {
			a.touch()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			case <-a.kick:
			}
			if err := a.updateResources(ctx); err != nil && ctx.Err() == nil {
				a.log.Error("update_available_resource failed", "error", err)
			}
		}
	}()
	wg.Wait()
}

// resourcesChanged asks for a resource update soon, as nova's _update_resource_tracker does
// after a build or a delete, without making the operation wait for it.
func (a *Agent) resourcesChanged() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

func (a *Agent) touch() {
	a.mu.Lock()
	a.loopsSeen = time.Now()
	a.mu.Unlock()
}

// Healthy is the watchdog's question: are the main loops going round? A conductor that does
// not answer is not a reason to restart (the heartbeat keeps retrying); a stuck loop is.
func (a *Agent) Healthy() error {
	a.mu.Lock()
	seen := a.loopsSeen
	a.mu.Unlock()
	limit := 3*a.opts.ResourceInterval + a.opts.ConductorTimeout
	if age := time.Since(seen); age > limit {
		return fmt.Errorf("resource loop has not run for %s", age.Round(time.Second))
	}
	return nil
}

// LastHeartbeat is when the conductor last accepted a heartbeat.
func (a *Agent) LastHeartbeat() time.Time { return a.svc.lastHeartbeat() }

// Endpoints are the compute RPC endpoints: ComputeManager's methods under version 6.1.
func (a *Agent) Endpoints() []rpc.Endpoint {
	methods := map[string]rpc.HandlerFunc{
		"set_host_enabled": a.setHostEnabled,
		"get_host_uptime":  a.getHostUptime,
	}
	maps.Copy(methods, a.unsupportedMethods())
	maps.Copy(methods, a.instanceMethods())
	for name, h := range methods {
		methods[name] = a.observed(name, h)
	}
	return []rpc.Endpoint{{Version: ComputeAPIVersion, Methods: methods}}
}

// setHostEnabled is what nova-api calls when an operator enables or disables the service:
// the COMPUTE_STATUS_DISABLED trait follows, and the answer is 'enabled' or 'disabled'.
func (a *Agent) setHostEnabled(ctx context.Context, req *rpc.Request) (any, error) {
	var enabled bool
	if err := json.Unmarshal(req.Args["enabled"], &enabled); err != nil {
		return nil, rpc.NovaError("InvalidInput", "set_host_enabled: enabled must be a boolean", nil)
	}
	a.svc.setDisabled(!enabled)
	if err := a.updateResources(ctx); err != nil {
		a.log.Warn("set_host_enabled: placement traits not updated; the next resource update retries", "error", err)
	}
	if enabled {
		return "enabled", nil
	}
	return "disabled", nil
}
