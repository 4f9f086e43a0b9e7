package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/novalet/novalet/metrics"
	"github.com/novalet/novalet/rpc"
	"github.com/novalet/novalet/virt"
)

// ComputeAPIVersion is the highest compute RPC API version novalet serves (nova 26.2.2's
// ComputeManager target is 6.1). Methods it does not implement answer NoSuchMethod.
const ComputeAPIVersion = "6.1"

// Options are the agent's timing options from nova.conf.
type Options struct {
	Resources        ResourceOptions
	ReportInterval   time.Duration // [DEFAULT] report_interval
	ResourceInterval time.Duration // update_available_resource spacing (nova's periodic default, 60 s)
	ConductorTimeout time.Duration // [DEFAULT] rpc_response_timeout
	// Metrics receives the agent's measurements; nil records nothing.
	Metrics *metrics.Metrics
}

// Agent is the compute manager: it registers the node with the conductor, keeps the
// ComputeNode record and Placement in line with the host, and serves compute RPC.
type Agent struct {
	opts Options
	log  *slog.Logger
	svc  *service
	rt   *tracker
	c    *compute // nil until EnableInstances

	// newPlacement builds the Placement client; retried each resource pass until it works,
	// as nova's report client keeps trying when Keystone or Placement is away at start-up.
	newPlacement func(ctx context.Context) (*Placement, error)

	// rtMu serialises resource updates: the periodic pass and set_host_enabled share the
	// tracker's ComputeNode and Placement view.
	rtMu sync.Mutex

	// kick asks the resource loop for an early pass (an instance came or went); one pending
	// request stands for any number.
	kick chan struct{}

	mu        sync.Mutex
	loopsSeen time.Time // when the main loops last went round (for the watchdog)
}

// New wires an agent. newPlacement may be nil (no Placement reporting, for tests).
func New(opts Options, conductor Conductor, host Host, newPlacement func(context.Context) (*Placement, error), log *slog.Logger) *Agent {
	objs := objects{c: conductor, timeout: opts.ConductorTimeout}
	svc := &service{objs: objs, host: opts.Resources.Host, log: log, m: opts.Metrics}
	return &Agent{
		opts: opts, log: log, svc: svc, newPlacement: newPlacement, kick: make(chan struct{}, 1),
		rt: &tracker{opts: opts.Resources, host: host, objs: objs, svc: svc, log: log},
	}
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
	if err := a.updateResources(ctx); err != nil {
		return err
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
	facts, err := a.rt.host.HostFacts(ctx)
	if err != nil {
		return fmt.Errorf("init_host: read the host from libvirt: %w", err)
	}
	if _, err := a.rt.host.DriverTraits(ctx, a.opts.Resources.VirtType); err != nil {
		return fmt.Errorf("init_host: read the host's traits from libvirt: %w", err)
	}
	a.rtMu.Lock()
	a.rt.node = facts.Hostname
	a.rtMu.Unlock()
	a.log.Info("host read from libvirt", "node", facts.Hostname, "vcpus", facts.VCPUs, "memory_mb", facts.MemoryMB,
		"took", time.Since(start).Round(time.Millisecond).String())
	return nil
}

// NodeUUID is the compute node's uuid (also its resource provider's), "" before Start.
func (a *Agent) NodeUUID() string {
	a.rtMu.Lock()
	defer a.rtMu.Unlock()
	if a.rt.cn == nil {
		return ""
	}
	id, _ := a.rt.cn.Get("uuid")
	s, _ := id.(string)
	return s
}

// NodeName is the hypervisor hostname (the nodename).
func (a *Agent) NodeName() string {
	a.rtMu.Lock()
	defer a.rtMu.Unlock()
	return a.rt.node
}

func (a *Agent) updateResources(ctx context.Context) error {
	a.rtMu.Lock()
	defer a.rtMu.Unlock()
	if a.rt.placement == nil && a.newPlacement != nil {
		p, err := a.newPlacement(ctx)
		if err != nil {
			a.log.Error("placement unavailable; will retry at the next resource update", "error", err)
		} else {
			p.metrics = a.opts.Metrics
			a.rt.placement = p
		}
	}
	start := time.Now()
	err := a.rt.update(ctx)
	a.opts.Metrics.ObservePeriodicTask("update_available_resource", metrics.ResultOf(err), time.Since(start))
	a.opts.Metrics.SetLibvirtUp(!errors.Is(err, virt.ErrUnavailable) && !errors.Is(err, virt.ErrTimeout))
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
	if a.c != nil {
		maps.Copy(methods, a.unsupportedMethods())
		maps.Copy(methods, a.instanceMethods())
	}
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
