package agent

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/novalet/novalet/metrics"
	"github.com/novalet/novalet/netmodel"
	"github.com/novalet/novalet/rpc"
	"github.com/novalet/novalet/rpc/ovo"
	"github.com/novalet/novalet/virt"
)

// buildRequest is build_and_run_instance's arguments, decoded.
type buildRequest struct {
	inst             *instance
	image            map[string]any
	filterProperties map[string]any
	adminPassword    string
	files            []injectedFile
	requested        []netmodel.RequestedNetwork
	securityGroups   []string
	vifs             []netmodel.VIF             // allocated during this build, for clean-up
	raw              map[string]json.RawMessage // for a reschedule, passed on as received
}

func decodeBuild(req *rpc.Request) (*buildRequest, error) {
	inst, err := decodeInstance(req.Args["instance"])
	if err != nil {
		return nil, err
	}
	b := &buildRequest{inst: inst, raw: req.Args}
	if err := decodeOptional(req.Args["image"], &b.image); err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	if err := decodeOptional(req.Args["filter_properties"], &b.filterProperties); err != nil {
		return nil, fmt.Errorf("filter_properties: %w", err)
	}
	if err := decodeOptional(req.Args["admin_password"], &b.adminPassword); err != nil {
		return nil, fmt.Errorf("admin_password: %w", err)
	}
	if err := decodeOptional(req.Args["security_groups"], &b.securityGroups); err != nil {
		return nil, fmt.Errorf("security_groups: %w", err)
	}
	if b.files, err = decodeInjectedFiles(req.Args["injected_files"]); err != nil {
		return nil, err
	}
	if raw := req.Args["requested_networks"]; len(raw) > 0 && string(raw) != "null" {
		list, err := ovo.Decode(raw)
		if err != nil {
			return nil, fmt.Errorf("requested_networks: %w", err)
		}
		objs, _ := ovo.Value[[]*ovo.Object](list, "objects")
		for _, o := range objs {
			var r netmodel.RequestedNetwork
			r.NetworkID, _ = ovo.Value[string](o, "network_id")
			r.PortID, _ = ovo.Value[string](o, "port_id")
			r.Address, _ = ovo.Value[string](o, "address")
			b.requested = append(b.requested, r)
		}
	}
	return b, nil
}

// decodeInjectedFiles reads injected_files, [[path, base64 contents], ...] (nova's
// _decode_files).
func decodeInjectedFiles(raw json.RawMessage) ([]injectedFile, error) {
	var files [][]string
	if err := decodeOptional(raw, &files); err != nil {
		return nil, fmt.Errorf("injected_files: %w", err)
	}
	var out []injectedFile
	for _, f := range files {
		if len(f) != 2 {
			return nil, errors.New("injected_files: each entry must be [path, base64 contents]")
		}
		data, err := base64.StdEncoding.DecodeString(f[1])
		if err != nil {
			return nil, fmt.Errorf("injected_files %s: %w", f[0], err)
		}
		out = append(out, injectedFile{Path: f[0], Contents: data})
	}
	return out, nil
}

func decodeOptional(raw json.RawMessage, v any) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	return json.Unmarshal(raw, v)
}

// noAllocate is `--nic none`: one request for network "none".
func noAllocate(reqs []netmodel.RequestedNetwork) bool {
	return len(reqs) == 1 && reqs[0].NetworkID == "none"
}

// castBuildAndRunInstance is the RPC handler of the cast nova-conductor sends to the chosen
// host. As nova's manager (utils.spawn_n), it starts the build in the background and returns,
// so a build never holds an RPC worker: with every worker busy in builds, the
// network-vif-plugged events the builds wait for could not be read. Shutdown waits for
// background work (Drain).
func (a *Agent) castBuildAndRunInstance(ctx context.Context, req *rpc.Request) (any, error) {
	if _, err := decodeBuild(req); err != nil {
		return nil, rpc.NovaError("InvalidInput", "build_and_run_instance: "+err.Error(), map[string]any{"code": 400})
	}
	a.background(func() {
		if _, err := a.buildAndRunInstance(context.WithoutCancel(ctx), req); err != nil {
			a.log.Error("build_and_run_instance ended in error", "error", err, "request_id", req.Context.RequestID())
		}
	})
	return nil, nil
}

// buildAndRunInstance runs one build to its end, serialised per instance and bounded by
// max_concurrent_builds.
func (a *Agent) buildAndRunInstance(ctx context.Context, req *rpc.Request) (any, error) {
	b, err := decodeBuild(req)
	if err != nil {
		return nil, rpc.NovaError("InvalidInput", "build_and_run_instance: "+err.Error(), map[string]any{"code": 400})
	}
	rc := req.Context
	uuid := b.inst.uuid()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.c.opts.OperationTimeout)
	defer cancel()
	unlock, err := a.c.locks.lock(ctx, uuid)
	if err != nil {
		return nil, err
	}
	defer unlock()
	release, err := a.c.acquireBuild(ctx)
	if err != nil {
		return nil, err
	}
	defer release()

	const event = "compute__do_build_and_run_instance"
	a.eventStart(ctx, rc, uuid, event)
	done := a.operation("build_and_run_instance")
	done(a.doBuild(ctx, rc, b))
	a.eventFinish(ctx, rc, uuid, event, nil)
	a.resourcesChanged()
	return nil, nil
}

// doBuild is nova's _do_build_and_run_instance: every failure ends here, recorded on the
// instance (fault, error state) or handed back to the conductor for a reschedule.
func (a *Agent) doBuild(ctx context.Context, rc rpc.Context, b *buildRequest) error {
	inst, uuid := b.inst, b.inst.uuid()
	log := a.log.With("instance_uuid", uuid, "request_id", rc.RequestID())
	err := a.save(ctx, rc, inst, map[string]any{"vm_state": vmBuilding, "task_state": nil},
		expectTask{taskScheduling, nil})
	if err != nil {
		log.Info("not building: the instance changed before the build began", "error", err)
		return err
	}
	err = a.buildAndRun(ctx, rc, b, log)
	if err == nil {
		return nil
	}
	a.cleanupNetworks(ctx, uuid, b.vifs, log)
	var fe *faultError
	switch {
	case errors.Is(err, errGone):
		log.Info("instance disappeared during build", "error", err)
		return err
	case errors.As(err, &fe) && fe.class == "BuildAbortException":
		log.Error("build aborted", "error", err)
		a.addFault(ctx, rc, uuid, err, "")
		a.setBuildError(ctx, rc, inst, log)
		return err
	}
	reason := err.Error()
	if retry, ok := b.filterProperties["retry"].(map[string]any); ok {
		log.Warn("build failed; rescheduling", "error", err)
		if rerr := a.reschedule(ctx, rc, b, retry, reason); rerr == nil {
			return err
		} else {
			log.Error("reschedule failed", "error", rerr)
		}
	} else {
		log.Error("build failed; no retry information, not rescheduling", "error", err)
	}
	a.addFault(ctx, rc, uuid, newFault("RescheduledException", 500, err,
		"Build of instance %s was re-scheduled: %s", uuid, reason), reason)
	a.setBuildError(ctx, rc, inst, log)
	return err
}

// setBuildError is nova's _nil_out_instance_obj_host_and_node + _set_instance_obj_error_state.
func (a *Agent) setBuildError(ctx context.Context, rc rpc.Context, inst *instance, log *slog.Logger) {
	if err := a.save(ctx, rc, inst, map[string]any{"host": nil, "node": nil, "vm_state": vmError, "task_state": nil}, anyTask); err != nil {
		log.Error("could not set the instance to error", "error", err)
	}
}

// buildAndRun is nova's _build_and_run_instance: claim, networks, block devices, spawn, and
// the final state. Errors are *faultError for what must not be rescheduled.
func (a *Agent) buildAndRun(ctx context.Context, rc rpc.Context, b *buildRequest, log *slog.Logger) error {
	inst := b.inst
	uuid := inst.uuid()
	if err := a.hypervisorConnected(); err != nil {
		log.Error("build refused: no connection to libvirt", "error", err)
		return a.errHypervisorUnavailable(err)
	}
	if err := inst.setSysmeta(map[string]string{"boot_roles": strings.Join(rc.Roles(), ",")}); err != nil {
		return err
	}
	// The claim: with Placement, nova's claim only tags the instance with this host and node.
	if err := a.save(ctx, rc, inst, map[string]any{"host": a.opts.Host,
		"launched_on": a.opts.Host, "node": a.NodeName()}, anyTask); err != nil {
		return err
	}
	if err := a.save(ctx, rc, inst, map[string]any{"vm_state": vmBuilding, "task_state": taskNetworking}, taskNone); err != nil {
		return err
	}
	if !noAllocate(b.requested) {
		start := time.Now()
		vifs, err := a.allocateNetworks(ctx, rc, inst, b)
		a.phase(metrics.PhaseNetwork, start)
		if err != nil {
			if errors.Is(err, errGone) {
				return err
			}
			log.Error("network allocation failed", "error", err)
			return newFault("BuildAbortException", 500, err,
				"Build of instance %s aborted: Failed to allocate the network(s), not rescheduling.", uuid)
		}
		b.vifs = vifs
		if err := inst.setSysmeta(map[string]string{"network_allocated": "True"}); err != nil {
			return err
		}
	}
	if err := a.save(ctx, rc, inst, map[string]any{"task_state": taskBlockDeviceMapping, "root_device_name": "/dev/vda"}, anyTask); err != nil {
		return err
	}
	if err := a.save(ctx, rc, inst, map[string]any{"vm_state": vmBuilding, "task_state": taskSpawning},
		expectTask{taskBlockDeviceMapping}); err != nil {
		return err
	}
	in := spawnInput{Image: b.image, AdminPass: b.adminPassword, Files: b.files, VIFs: b.vifs,
		ConfigDrive: needsConfigDrive(inst, b.image, a.c.opts.ForceConfigDrive)}
	if len(b.vifs) > 0 {
		nd, err := netmodel.NetworkDataJSON(b.vifs)
		if err != nil {
			return err
		}
		in.NetData = nd
	}
	if err := a.spawn(ctx, rc, inst, in); err != nil {
		var fe *faultError
		if errors.As(err, &fe) && fe.class == "VirtualInterfaceCreateException" {
			// nova aborts (no reschedule) with this reason; the cause says which port.
			return newFault("BuildAbortException", 500, err,
				"Build of instance %s aborted: Failed to allocate the network(s), not rescheduling. %s", uuid, fe.message)
		}
		return err
	}
	if err := inst.setSysmeta(map[string]string{"network_allocated": ""}); err != nil {
		return err
	}
	err := a.save(ctx, rc, inst, afterSpawn(inst, in.ConfigDrive, virt.PowerRunning), expectTask{taskSpawning})
	if err != nil {
		// Deleted (or changed) while spawning: the guest must not outlive the build, as in
		// nova's _build_resources cleanup; a queued delete then finds nothing left to do.
		if cerr := a.removeInstanceFromHost(context.WithoutCancel(ctx), uuid, log); cerr != nil {
			log.Error("guest of an abandoned build not removed", "error", cerr)
		}
		return err
	}
	log.Info("instance built", "node", a.NodeName())
	a.updateSchedulerInstanceInfo(ctx, rc, inst)
	return nil
}

// afterSpawn is what nova's _update_instance_after_spawn writes: the power state, active, no
// task, launched_at, and config_drive "True" when the spawn made a config drive the record
// does not show yet (configdrive.update_instance), so a later spawn of the launched instance
// (a rebuild) makes one again.
func afterSpawn(inst *instance, configDrive bool, st virt.PowerState) map[string]any {
	f := map[string]any{"power_state": int64(st), "vm_state": vmActive, "task_state": nil, "launched_at": nowField()}
	if configDrive && !hasConfigDrive(inst) {
		f["config_drive"] = "True"
	}
	return f
}
