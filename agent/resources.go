package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/novalet/novalet/imagecache"
	"github.com/novalet/novalet/openstack/placement"
	"github.com/novalet/novalet/rpc"
	"github.com/novalet/novalet/rpc/ovo"
	"github.com/novalet/novalet/virt"
)

// ResourceOptions are the nova.conf options the resource tracker uses.
type ResourceOptions struct {
	StatePath, InstancesPath, MyIP, VirtType                                         string
	ReservedHostMemoryMB, ReservedHostDiskMB, ReservedHostCPUs                       int
	CPUAllocationRatio, RAMAllocationRatio, DiskAllocationRatio                      *float64
	InitialCPUAllocationRatio, InitialRAMAllocationRatio, InitialDiskAllocationRatio float64
	// LibvirtCallTimeout bounds each libvirt read of a resource pass ([novalet]
	// libvirt_call_timeout); 0 leaves them to the caller's context. init_host waits longer on
	// purpose: a libvirtd that has just started probes its emulators first.
	LibvirtCallTimeout time.Duration
	// DiskGB, when set, is the disk the node reports instead of instances_path's statvfs:
	// nova's fake driver reports a fixed local_gb (600000) with disk_available_least 0.
	DiskGB int
	// FileOwner is who state_path/compute_id belongs to (user nova; nil: the process).
	FileOwner *imagecache.Owner
}

// tracker is nova's resource tracker for the one node a libvirt host has: it keeps the
// ComputeNode record and the Placement provider in line with the host (update_available_resource).
//
// Unlike nova's compute_resources lock, nothing waits behind a pass but the next pass: a pass
// holds the pass token while it talks to libvirt, the conductor and Placement, and owns cn,
// node and placement while it does; what others read (the node's identity, the inventory last
// reported, the report client) is published when it changes.
type tracker struct {
	host     string // [DEFAULT] host
	opts     ResourceOptions
	hostInfo HostInfo
	objs     objects
	svc      *service
	connect  func(ctx context.Context) (ReportClient, error)
	obs      Observer
	log      *slog.Logger

	token chan struct{} // one pass at a time

	// Owned by the pass holding the token.
	cn        *ovo.Object
	node      string
	placement ReportClient

	ident     atomic.Pointer[nodeIdentity]
	inventory atomic.Pointer[map[string]placement.Inventory]
	report    atomic.Pointer[reportClientBox]
}

// nodeIdentity is the node as others see it: immutable once published.
type nodeIdentity struct{ Name, UUID string }

type reportClientBox struct{ ReportClient }

func newTracker(host string, opts ResourceOptions, hi HostInfo, objs objects, svc *service,
	connect func(context.Context) (ReportClient, error), obs Observer, log *slog.Logger) *tracker {
	t := &tracker{host: host, opts: opts, hostInfo: hi, objs: objs, svc: svc, connect: connect, obs: obs, log: log,
		token: make(chan struct{}, 1)}
	t.ident.Store(&nodeIdentity{})
	return t
}

// identity is the last published node name and uuid.
func (t *tracker) identity() nodeIdentity { return *t.ident.Load() }

// publishName publishes the node name (init_host reads it before the first pass).
func (t *tracker) publishName(name string) {
	id := t.identity()
	id.Name = name
	t.ident.Store(&id)
}

// reportClient is the Placement client once a pass has connected it, else nil.
func (t *tracker) reportClient() ReportClient {
	if b := t.report.Load(); b != nil {
		return b.ReportClient
	}
	return nil
}

// lastInventory is the inventory Placement last accepted, nil before the first.
func (t *tracker) lastInventory() map[string]placement.Inventory {
	if p := t.inventory.Load(); p != nil {
		return *p
	}
	return nil
}

// pass is one resource pass, run when no other pass is (a caller waits for the running one, or
// for its ctx).
func (t *tracker) pass(ctx context.Context) error {
	select {
	case t.token <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-t.token }()
	if t.placement == nil {
		p, err := t.connect(ctx)
		if err != nil {
			t.log.Error("placement unavailable; will retry at the next resource update", "error", err)
		} else {
			t.placement = p
			t.report.Store(&reportClientBox{p})
		}
	}
	return t.update(ctx)
}

// diskGB is nova's view of instances_path: statvfs in whole GiB.
type diskGB struct{ total, used, free int }

func statDisk(path string) (diskGB, error) {
	var fs unix.Statfs_t
	if err := unix.Statfs(path, &fs); err != nil {
		return diskGB{}, fmt.Errorf("statfs %s: %w", path, err)
	}
	gib := func(blocks uint64) int { return int(blocks * uint64(fs.Frsize) >> 30) }
	return diskGB{total: gib(fs.Blocks), used: gib(fs.Blocks - fs.Bfree), free: gib(fs.Bavail)}, nil
}

// disk is the node's disk: the fixed DiskGB when set, else instances_path's file system.
func (t *tracker) disk() (diskGB, error) {
	if t.opts.DiskGB > 0 {
		return diskGB{total: t.opts.DiskGB}, nil
	}
	return statDisk(t.opts.InstancesPath)
}

// usage sums what the instances on this node take, from their flavors.
type usage struct {
	vcpus, memoryMB, diskGB, count int
	stats                          map[string]string
	tracked                        map[string]bool // uuids of the instances counted
}

func (t *tracker) instanceUsage(ctx context.Context) (usage, error) {
	u := usage{stats: map[string]string{"failed_builds": "0", "io_workload": "0"}, tracked: map[string]bool{}}
	raw, err := t.objs.classAction(ctx, rpc.NewAdminContext(nowUTC()), "InstanceList", "get_by_host_and_node",
		[]any{t.host, t.node}, map[string]any{"expected_attrs": []any{"flavor"}})
	if err != nil {
		return u, fmt.Errorf("InstanceList.get_by_host_and_node: %w", err)
	}
	list, err := decodeObject(raw)
	if err != nil || list == nil {
		return u, err
	}
	objs, _ := ovo.Value[[]*ovo.Object](list, "objects")
	bump := func(key string) {
		n, _ := strconv.Atoi(u.stats[key])
		u.stats[key] = strconv.Itoa(n + 1)
	}
	for _, inst := range objs {
		vmState, _ := ovo.Value[string](inst, "vm_state")
		if vmState == "deleted" {
			continue
		}
		u.count++
		if id, _ := ovo.Value[string](inst, "uuid"); id != "" {
			u.tracked[id] = true
		}
		if fl, ok := ovo.Value[*ovo.Object](inst, "flavor"); ok && fl != nil {
			v, _ := ovo.Value[int64](fl, "vcpus")
			m, _ := ovo.Value[int64](fl, "memory_mb")
			r, _ := ovo.Value[int64](fl, "root_gb")
			e, _ := ovo.Value[int64](fl, "ephemeral_gb")
			s, _ := ovo.Value[int64](fl, "swap")
			u.vcpus += int(v)
			u.memoryMB += int(m)
			u.diskGB += int(r+e) + int(math.Ceil(float64(s)/1024))
		}
		task, _ := ovo.Value[string](inst, "task_state")
		project, _ := ovo.Value[string](inst, "project_id")
		osType, _ := ovo.Value[string](inst, "os_type")
		bump("num_vm_" + vmState)
		bump("num_task_" + noneIfEmpty(task))
		bump("num_os_type_" + noneIfEmpty(osType))
		bump("num_proj_" + project)
	}
	u.stats["num_instances"] = strconv.Itoa(u.count)
	return u, nil
}

func noneIfEmpty(s string) string {
	if s == "" {
		return "None"
	}
	return s
}

// update is one pass of update_available_resource: read the host, save the ComputeNode when
// something changed, and bring the Placement provider in line.
func (t *tracker) update(ctx context.Context) error {
	facts, err := t.hostFacts(ctx)
	if err != nil {
		return fmt.Errorf("host facts: %w", err)
	}
	if t.node != facts.Hostname {
		t.node = facts.Hostname
		t.publishName(t.node)
	}
	disk, err := t.disk()
	if err != nil {
		return err
	}
	var use usage
	if t.cn != nil {
		if use, err = t.instanceUsage(ctx); err != nil {
			return err
		}
	} else {
		use = usage{stats: map[string]string{"failed_builds": "0", "io_workload": "0", "num_instances": "0"}}
	}
	fields := t.nodeFields(facts, disk, use)
	if t.cn == nil {
		cn, err := ensureComputeNode(ctx, t.log, t.objs, t.opts.StatePath, t.opts.FileOwner, t.host, t.node, fields)
		if err != nil {
			return err
		}
		t.cn = cn
		id, _ := ovo.Value[string](cn, "uuid")
		t.ident.Store(&nodeIdentity{Name: t.node, UUID: id})
		// An adopted record may have instances already: count them now.
		if use, err = t.instanceUsage(ctx); err != nil {
			return err
		}
		fields = t.nodeFields(facts, disk, use)
	}
	if err := t.saveNode(ctx, fields); err != nil {
		return err
	}
	if err := t.syncPlacement(ctx, facts, disk); err != nil {
		return fmt.Errorf("%w: %w", errPlacementSync, err)
	}
	if t.cn != nil && use.tracked != nil {
		t.removeDeletedInstancesAllocations(ctx, use.tracked)
	}
	return nil
}

// libvirtBound bounds one libvirt read of the pass by libvirt_call_timeout.
func (t *tracker) libvirtBound(ctx context.Context) (context.Context, context.CancelFunc) {
	if t.opts.LibvirtCallTimeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, t.opts.LibvirtCallTimeout)
}

func (t *tracker) hostFacts(ctx context.Context) (virt.HostFacts, error) {
	ctx, cancel := t.libvirtBound(ctx)
	defer cancel()
	return t.hostInfo.HostFacts(ctx)
}

// errPlacementSync marks a pass that read the host and saved the ComputeNode but could not
// bring Placement in line; the next pass retries it.
var errPlacementSync = errors.New("placement not updated")

// nodeFields are the ComputeNode fields the libvirt driver and resource tracker set.
func (t *tracker) nodeFields(f virt.HostFacts, d diskGB, u usage) map[string]any {
	o := t.opts
	specs := make([]any, 0, len(f.HVSpecs))
	for _, s := range f.HVSpecs {
		hv, err := ovo.New("HVSpec")
		if err == nil {
			err = set(hv, map[string]any{"arch": s[0], "hv_type": s[1], "vm_mode": s[2]})
		}
		if err != nil {
			// libvirt knows guest architectures nova does not (armv6l, ...): nova skips them.
			continue
		}
		specs = append(specs, hv)
	}
	reservedDisk := int(math.Ceil(float64(o.ReservedHostDiskMB) / 1024))
	memUsed := o.ReservedHostMemoryMB + u.memoryMB
	diskUsed := reservedDisk + u.diskGB
	stats := map[string]any{}
	for k, v := range u.stats {
		stats[k] = v
	}
	fields := map[string]any{
		"vcpus": f.VCPUs, "memory_mb": f.MemoryMB, "local_gb": d.total,
		"vcpus_used": u.vcpus, "memory_mb_used": memUsed, "local_gb_used": diskUsed,
		"free_ram_mb": f.MemoryMB - memUsed, "free_disk_gb": d.total - diskUsed,
		"disk_available_least": d.free,
		"hypervisor_type":      f.HypervisorType, "hypervisor_version": int64(f.HypervisorVersion),
		"cpu_info": f.CPUInfo, "host_ip": o.MyIP, "supported_hv_specs": specs,
		"running_vms": u.count, "current_workload": 0, "metrics": "[]", "stats": stats,
		"numa_topology": nil,
	}
	ratio := func(name string, conf *float64, initial float64) {
		switch {
		case conf != nil && *conf != 0:
			fields[name] = *conf
		case t.cn == nil:
			fields[name] = initial
		default:
			if cur, _ := ovo.Value[float64](t.cn, name); cur == 0 {
				fields[name] = initial
			}
		}
	}
	ratio("cpu_allocation_ratio", o.CPUAllocationRatio, o.InitialCPUAllocationRatio)
	ratio("ram_allocation_ratio", o.RAMAllocationRatio, o.InitialRAMAllocationRatio)
	ratio("disk_allocation_ratio", o.DiskAllocationRatio, o.InitialDiskAllocationRatio)
	return fields
}

// saveNode sets the fields whose value differs and saves only when one did.
func (t *tracker) saveNode(ctx context.Context, fields map[string]any) error {
	probe := t.cn.Clone()
	if err := set(probe, fields); err != nil {
		return err
	}
	changed := map[string]any{}
	for k, v := range fields {
		if !ovo.SameField(t.cn, probe, k) {
			changed[k] = v
		}
	}
	if len(changed) == 0 {
		return nil
	}
	if err := set(t.cn, changed); err != nil {
		return err
	}
	if _, err := t.objs.action(ctx, rpc.NewAdminContext(nowUTC()), t.cn, "save", nil, nil); err != nil {
		return fmt.Errorf("ComputeNode.save: %w", err)
	}
	t.log.Debug("compute node saved", "changed", len(changed))
	return nil
}

// syncPlacement makes the provider's inventory and traits match the host (nova's
// update_provider_tree for libvirt, plus COMPUTE_NODE and COMPUTE_STATUS_DISABLED).
func (t *tracker) syncPlacement(ctx context.Context, f virt.HostFacts, d diskGB) error {
	if t.placement == nil {
		return nil
	}
	id, _ := ovo.Value[string](t.cn, "uuid")
	if t.placement.Provider(id) == nil {
		if _, err := t.placement.EnsureProvider(ctx, id, t.node); err != nil {
			return err
		}
	}
	existing := t.placement.Provider(id).Inventories
	o := t.opts
	ratio := func(class string, conf *float64, initial float64) float64 {
		if conf != nil && *conf != 0 {
			return *conf
		}
		if inv, ok := existing[class]; ok && inv.AllocationRatio != 0 {
			return inv.AllocationRatio
		}
		return initial
	}
	inv := map[string]placement.Inventory{
		"VCPU": {Total: f.VCPUs, Reserved: o.ReservedHostCPUs, MinUnit: 1, MaxUnit: f.VCPUs, StepSize: 1,
			AllocationRatio: ratio("VCPU", o.CPUAllocationRatio, o.InitialCPUAllocationRatio)},
		"MEMORY_MB": {Total: f.MemoryMB, Reserved: o.ReservedHostMemoryMB, MinUnit: 1, MaxUnit: f.MemoryMB, StepSize: 1,
			AllocationRatio: ratio("MEMORY_MB", o.RAMAllocationRatio, o.InitialRAMAllocationRatio)},
		"DISK_GB": {Total: d.total, Reserved: int(math.Ceil(float64(o.ReservedHostDiskMB) / 1024)), MinUnit: 1, MaxUnit: d.total, StepSize: 1,
			AllocationRatio: ratio("DISK_GB", o.DiskAllocationRatio, o.InitialDiskAllocationRatio)},
	}
	if err := t.placement.SetInventory(ctx, id, inv); err != nil {
		return err
	}
	t.inventory.Store(&inv)
	tctx, cancel := t.libvirtBound(ctx)
	defer cancel()
	traits, err := t.hostInfo.DriverTraits(tctx, o.VirtType)
	if err != nil {
		return err
	}
	traits = append(traits, "COMPUTE_NODE")
	if t.svc != nil && t.svc.disabled() {
		traits = append(traits, "COMPUTE_STATUS_DISABLED")
	}
	return t.placement.SetTraits(ctx, id, traits, virt.ManagedTrait)
}
