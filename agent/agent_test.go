package agent

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/novalet/novalet/imagecache"
	"github.com/novalet/novalet/netplug/netplugtest"
	"github.com/novalet/novalet/openstack/glance"
	"github.com/novalet/novalet/openstack/placement"
	"github.com/novalet/novalet/openstack/placement/placementtest"
	"github.com/novalet/novalet/rpc"
	"github.com/novalet/novalet/rpc/ovo"
	"github.com/novalet/novalet/virt"
	"github.com/novalet/novalet/virt/virttest"
)

type fakeHost struct {
	facts   virt.HostFacts
	onFacts func() // called by HostFacts when set
}

func (h *fakeHost) HostFacts(context.Context) (virt.HostFacts, error) {
	if h.onFacts != nil {
		h.onFacts()
	}
	return h.facts, nil
}
func (h *fakeHost) DriverTraits(context.Context, string) ([]string, error) {
	return []string{"COMPUTE_IMAGE_TYPE_QCOW2", "COMPUTE_STORAGE_BUS_VIRTIO"}, nil
}

// testAgent is a compute manager on fakes: host cmp1, the given conductor and Placement
// client (nil: a Placement test server of its own), virttest's hypervisor, imagecache's fake,
// fakeNetwork and netplugtest's taps. tweak may change the ports and options before New.
func testAgent(t *testing.T, c Conductor, statePath string, pl *placement.Client, tweak ...func(*Deps, *Options)) *Agent {
	t.Helper()
	opts := Options{
		Host:    "cmp1",
		Compute: ComputeOptions{InstancesPath: t.TempDir(), Domain: DomainDefaults{VirtType: "qemu", NovaVersion: "26.2.2"}},
		Resources: ResourceOptions{StatePath: statePath, InstancesPath: t.TempDir(), MyIP: "127.0.0.1",
			VirtType: "qemu", ReservedHostMemoryMB: 512, InitialCPUAllocationRatio: 16, InitialRAMAllocationRatio: 1.5,
			InitialDiskAllocationRatio: 1},
		ReportInterval: 20 * time.Millisecond, ResourceInterval: time.Hour, ConductorTimeout: time.Second,
	}
	host := &fakeHost{facts: virt.HostFacts{VCPUs: 2, MemoryMB: 4096, HypervisorType: "QEMU", HypervisorVersion: 7002022,
		Hostname: "cmp1.example", CPUInfo: `{"arch": "x86_64"}`, HVSpecs: [][3]string{{"x86_64", "qemu", "hvm"}, {"armv6l", "qemu", "hvm"}}}}
	if pl == nil {
		_, sc := placementtest.New(t)
		pl = placement.New(sc, discardLogger())
	}
	images, err := imagecache.NewFake(opts.Compute.InstancesPath)
	if err != nil {
		t.Fatal(err)
	}
	gopts := glance.DefaultClientOptions()
	gopts.RetryDelay = 10 * time.Millisecond
	gclient, err := glance.NewClient(gopts)
	if err != nil {
		t.Fatal(err)
	}
	deps := Deps{Conductor: c, Host: host, Hypervisor: virttest.NewFake(), Images: images, ImageService: gclient, Caster: &recordingCaster{},
		Network: newFakeNetwork(), Taps: netplugtest.NewFake(),
		ConnectPlacement: func(context.Context) (ReportClient, error) { return pl, nil }, Log: discardLogger()}
	for _, f := range tweak {
		f(&deps, &opts)
	}
	a, err := New(deps, opts)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestStartRegistersServiceAndNodeOnce(t *testing.T) {
	fc := newFakeConductor()
	fp, sc := placementtest.New(t)
	state := t.TempDir()
	a := testAgent(t, fc, state, placement.New(sc, discardLogger()))
	if err := a.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	svc := fc.Service("cmp1")
	if v, _ := ovo.Value[int64](svc, "version"); v != ServiceVersion {
		t.Errorf("service version %d", v)
	}
	if b, _ := ovo.Value[string](svc, "binary"); b != "nova-compute" {
		t.Errorf("binary %q", b)
	}
	cn := fc.ComputeNode("cmp1", "cmp1.example")
	if cn == nil {
		t.Fatalf("no compute node; nodes: %v", fc.ComputeNodes())
	}
	id, _ := ovo.Value[string](cn, "uuid")
	if id == "" || a.NodeUUID() != id {
		t.Fatalf("node uuid %q, agent says %q", id, a.NodeUUID())
	}
	if specs, _ := ovo.Value[[]*ovo.Object](cn, "supported_hv_specs"); len(specs) != 1 {
		t.Errorf("supported_hv_specs %v: want x86_64 only (nova skips architectures it does not know)", specs)
	}
	if r, _ := ovo.Value[float64](cn, "cpu_allocation_ratio"); r != 16 {
		t.Errorf("cpu_allocation_ratio %v", r)
	}
	if m, _ := ovo.Value[int64](cn, "memory_mb_used"); m != 512 {
		t.Errorf("memory_mb_used %d, want the reserved 512", m)
	}
	rp, ok := fp.Provider(id)
	if !ok || rp.Name != "cmp1.example" || rp.Inventories["VCPU"].AllocationRatio != 16 || rp.Inventories["MEMORY_MB"].Reserved != 512 {
		t.Fatalf("provider %+v", rp)
	}
	if !slices.Contains(rp.Traits, "COMPUTE_NODE") {
		t.Errorf("traits %v", rp.Traits)
	}
	// A restart: same records, same uuid, same provider, nothing written that did not change.
	writes := fp.Writes()
	b := testAgent(t, fc, state, placement.New(sc, discardLogger()))
	if err := b.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if b.NodeUUID() != id || len(fc.ComputeNodes()) != 1 || fc.Services() != 1 || fp.Providers() != 1 {
		t.Fatalf("restart: uuid %q vs %q, %d nodes, %d services, %d providers", b.NodeUUID(), id, len(fc.ComputeNodes()), fc.Services(), fp.Providers())
	}
	if fp.Writes() != writes {
		t.Errorf("restart wrote to placement %d times with nothing changed", fp.Writes()-writes)
	}
	if n := fc.Saves("ComputeNode"); n != 0 {
		t.Errorf("compute node saved %d times with nothing changed", n)
	}
	// A lost state_path: the existing record's uuid is adopted and kept again.
	c := testAgent(t, fc, t.TempDir(), nil)
	if err := c.Start(t.Context()); err != nil || c.NodeUUID() != id {
		t.Fatalf("adoption: %v, uuid %q want %q", err, c.NodeUUID(), id)
	}
}

// TestStartReadsHostBeforeRegistering: nova's Service.start runs init_host (the driver reads
// the host) before the Service record exists, so 'up' is followed by the hypervisor row at once.
func TestStartReadsHostBeforeRegistering(t *testing.T) {
	fc := newFakeConductor()
	a := testAgent(t, fc, t.TempDir(), nil)
	h := a.rt.hostInfo.(*fakeHost)
	var calls []string
	fc.OnCall(func(c string) { calls = append(calls, c) })
	h.onFacts = func() { calls = append(calls, "HostFacts") }
	if err := a.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	first := func(c string) int { return slices.Index(calls, c) }
	if first("HostFacts") < 0 || first("HostFacts") > first("Service.get_by_host_and_binary") ||
		first("Service.create") > first("ComputeNode.create") {
		t.Fatalf("start-up calls %v: want the host read first, then the service, then the node", calls)
	}
}

// TestServiceDeletedAndReAdded: after `openstack compute service delete`, a restart creates a
// new ComputeNode with a new uuid (as Zed's nova-compute does), never the kept one, whose
// soft-deleted row nova would revive with mapped = 1 and discover_hosts would then skip.
func TestServiceDeletedAndReAdded(t *testing.T) {
	fc := newFakeConductor()
	state := t.TempDir()
	a := testAgent(t, fc, state, nil)
	if err := a.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	old := a.NodeUUID()
	fc.DiscoverHosts() // nova-manage cell_v2 discover_hosts maps the node
	fc.DeleteService("cmp1")

	b := testAgent(t, fc, state, nil)
	if err := b.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	cn := fc.ComputeNode("cmp1", "cmp1.example")
	if cn == nil || fc.Service("cmp1") == nil {
		t.Fatalf("service or node not re-created: %d services, nodes %v", fc.Services(), fc.ComputeNodes())
	}
	id, _ := ovo.Value[string](cn, "uuid")
	if id == old || b.NodeUUID() != id {
		t.Fatalf("re-added node uuid %q (old %q, agent says %q): want a new uuid", id, old, b.NodeUUID())
	}
	if m, _ := ovo.Value[int64](cn, "mapped"); m != 0 {
		t.Errorf("re-added node mapped = %d: discover_hosts would skip it", m)
	}
	if kept, err := loadComputeID(state); err != nil || kept != id {
		t.Errorf("state_path keeps %q (%v), want the new uuid %q", kept, err, id)
	}
}

func TestHeartbeatCountsAndSurvivesConductorOutage(t *testing.T) {
	fc := newFakeConductor()
	a := testAgent(t, fc, t.TempDir(), nil)
	if err := a.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	count := func() int64 {
		svc := fc.Service("cmp1")
		if svc == nil {
			return 0
		}
		n, _ := ovo.Value[int64](svc, "report_count")
		return n
	}
	waitFor(t, func() bool { return count() >= 3 })
	fc.SetFail(rpc.ErrTimeout)
	time.Sleep(100 * time.Millisecond)
	stalled := count()
	fc.SetFail(nil)
	waitFor(t, func() bool { return count() >= stalled+2 })
	cancel()
	<-done
	if a.LastHeartbeat().IsZero() {
		t.Error("LastHeartbeat not recorded")
	}
	if err := a.Healthy(); err != nil {
		t.Errorf("Healthy: %v", err)
	}
}

func TestSetHostEnabledMovesDisabledTrait(t *testing.T) {
	fc := newFakeConductor()
	fp, sc := placementtest.New(t)
	a := testAgent(t, fc, t.TempDir(), placement.New(sc, discardLogger()))
	traits := func() []string { rp, _ := fp.Provider(a.NodeUUID()); return rp.Traits }
	if err := a.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	h := a.Endpoints()[0].Methods["set_host_enabled"]
	res, err := h(t.Context(), &rpc.Request{Method: "set_host_enabled", Args: map[string]json.RawMessage{"enabled": json.RawMessage("false")}})
	if err != nil || res != "disabled" {
		t.Fatalf("set_host_enabled(false) = %v, %v", res, err)
	}
	if !slices.Contains(traits(), "COMPUTE_STATUS_DISABLED") {
		t.Fatalf("traits %v", traits())
	}
	res, _ = h(t.Context(), &rpc.Request{Method: "set_host_enabled", Args: map[string]json.RawMessage{"enabled": json.RawMessage("true")}})
	if res != "enabled" || slices.Contains(traits(), "COMPUTE_STATUS_DISABLED") {
		t.Fatalf("enable: %v, traits %v", res, traits())
	}
	var re *rpc.RemoteError
	if _, err := h(t.Context(), &rpc.Request{Args: map[string]json.RawMessage{"enabled": json.RawMessage(`"yes"`)}}); !errors.As(err, &re) {
		t.Fatalf("bad argument: %v", err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestUsageCountsInstancesOnTheNode(t *testing.T) {
	fc := newFakeConductor()
	fl, _ := ovo.New("Flavor")
	if err := set(fl, map[string]any{"vcpus": 1, "memory_mb": 256, "root_gb": 1, "ephemeral_gb": 0, "swap": 0}); err != nil {
		t.Fatal(err)
	}
	inst, _ := ovo.New("Instance")
	if err := set(inst, map[string]any{"uuid": "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee", "vm_state": "active",
		"project_id": "p1", "flavor": fl, "host": "cmp1", "node": "cmp1.example"}); err != nil {
		t.Fatal(err)
	}
	fc.PutInstance(inst)
	// Another node's instance is not counted.
	other := inst.Clone()
	must(t, set(other, map[string]any{"uuid": "aaaaaaaa-bbbb-4ccc-8ddd-ffffffffffff", "node": "cmp1.other"}))
	fc.PutInstance(other)
	a := testAgent(t, fc, t.TempDir(), nil)
	if err := a.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	cn := fc.ComputeNode("cmp1", "cmp1.example")
	for field, want := range map[string]int64{"vcpus_used": 1, "memory_mb_used": 512 + 256, "local_gb_used": 1, "running_vms": 1} {
		if got, _ := ovo.Value[int64](cn, field); got != want {
			t.Errorf("%s = %d, want %d", field, got, want)
		}
	}
	stats, _ := ovo.Value[map[string]any](cn, "stats")
	if stats["num_instances"] != "1" || stats["num_vm_active"] != "1" || stats["num_proj_p1"] != "1" {
		t.Errorf("stats %v", stats)
	}
}

func TestGetHostUptime(t *testing.T) {
	a := testAgent(t, newFakeConductor(), t.TempDir(), nil)
	res, err := a.Endpoints()[0].Methods["get_host_uptime"](t.Context(), &rpc.Request{})
	if s, _ := res.(string); err != nil || !strings.Contains(s, "load average") {
		t.Fatalf("get_host_uptime = %q, %v", res, err)
	}
}
