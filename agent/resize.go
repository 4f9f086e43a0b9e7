package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/novalet/novalet/netmodel"
	"github.com/novalet/novalet/rpc"
	"github.com/novalet/novalet/rpc/ovo"
)

// Resize: nova 26.2.2's traditional resize with the libvirt driver, for the one case a single
// novalet host meets: the same host as source and destination (nova-api's
// allow_resize_to_same_host). The conductor has moved the instance's allocations to the
// migration consumer and the scheduler has claimed the new flavor for the instance; then
// prep_resize (dest) → resize_instance (source) → finish_resize (dest), each a cast, leave the
// instance resized (VERIFY_RESIZE); confirm_resize (source) or revert_resize (dest) →
// finish_revert_resize (source) end it.

// nova's task and vm states of a resize.
const (
	vmResized           = "resized"
	taskResizePrep      = "resize_prep"
	taskResizeMigrating = "resize_migrating"
	taskResizeMigrated  = "resize_migrated"
	taskResizeFinish    = "resize_finish"
	taskResizeReverting = "resize_reverting"
	sysmetaOldVMState   = "old_vm_state"
)

// rollbackError is nova's InstanceFaultRollback: the instance goes back to the vm_state it
// had (not error), and the inner exception is what the fault and the caller see.
type rollbackError struct{ inner error }

func (e *rollbackError) Error() string { return e.inner.Error() }
func (e *rollbackError) Unwrap() error { return e.inner }

// errorOutInstance is nova's _error_out_instance_on_exception(instance_state=state): on a
// rollback the instance gets state back and no task; on anything else vm_state error (the
// task state is left to reverts_task_state, where there is one). A vanished instance is left.
func (a *Agent) errorOutInstance(ctx context.Context, rc rpc.Context, inst *instance, state string, err error, log *slog.Logger) {
	if errors.Is(err, errGone) {
		return
	}
	var rb *rollbackError
	fields := map[string]any{"vm_state": vmError}
	if errors.As(err, &rb) {
		fields = map[string]any{"vm_state": state, "task_state": nil}
	}
	if serr := a.save(ctx, rc, inst, fields, anyTask); serr != nil {
		log.Error("instance state not set after a failed resize step", "error", serr)
	}
}

// bindPortsHere is nova's migrate_instance_finish for an instance arriving on (or coming back
// to) this host: its ports' binding:host_id becomes this host; then, as get_instance_nw_info
// does, each VIF's active flag is Neutron's port status again (a rebound port is down until
// this host's agent sees its tap), saved in the info cache when it changed.
func (a *Agent) bindPortsHere(ctx context.Context, rc rpc.Context, inst *instance, vifs []netmodel.VIF, log *slog.Logger) ([]netmodel.VIF, error) {
	if len(vifs) == 0 {
		return vifs, nil
	}
	ref := netmodel.InstanceRef{UUID: inst.uuid(), ProjectID: inst.str("project_id"), AvailabilityZone: inst.str("availability_zone"),
		Hostname: inst.str("hostname"), Host: a.opts.Host}
	if err := a.c.network.SetupInstanceNetworkOnHost(ctx, ref); err != nil {
		return vifs, fmt.Errorf("bind ports to %s: %w", a.opts.Host, err)
	}
	ids := make([]string, len(vifs))
	for i, v := range vifs {
		ids[i] = v.ID
	}
	up, err := a.c.network.PortsActive(ctx, ids)
	if err != nil {
		log.Warn("port status not read; the info cache is used as it is", "error", err)
		return vifs, nil
	}
	out := slices.Clone(vifs)
	changed := false
	for i := range out {
		if out[i].Active != up[out[i].ID] {
			out[i].Active, changed = up[out[i].ID], true
		}
	}
	if changed {
		if err := a.saveInfoCache(ctx, rc, inst, out); err != nil {
			log.Warn("info cache not saved", "error", err)
		}
	}
	log.Info("ports bound to this host", "ports", len(out))
	return out, nil
}

// resizeArgs are the arguments of the resize casts novalet acts on.
type resizeArgs struct {
	mig         *migration
	flavor      *ovo.Object // prep_resize, resize_instance: the new flavor
	image       json.RawMessage
	requestSpec json.RawMessage
	clean       bool
	diskInfo    string // finish_resize
	// prep_resize: the scheduler's filter properties (their retry makes a failure
	// reschedulable) and the alternate hosts, passed back to the conductor as received.
	filterProperties map[string]any
	hostList         json.RawMessage
}

func decodeResizeArgs(req *rpc.Request, needFlavor bool) (resizeArgs, error) {
	r := resizeArgs{image: req.Args["image"], requestSpec: req.Args["request_spec"], clean: cleanShutdownArg(req),
		hostList: req.Args["host_list"]}
	if raw := req.Args["filter_properties"]; len(raw) > 0 && string(raw) != "null" {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&r.filterProperties); err != nil {
			return r, fmt.Errorf("filter_properties: %w", err)
		}
	}
	var err error
	if r.mig, err = decodeMigration(req.Args["migration"]); err != nil {
		return r, err
	}
	if needFlavor {
		raw := req.Args["flavor"]
		if len(raw) == 0 {
			return r, errors.New("flavor: missing")
		}
		if r.flavor, err = ovo.Decode(raw); err != nil || r.flavor.Name() != "Flavor" {
			return r, fmt.Errorf("flavor: not a Flavor object (%v)", err)
		}
	}
	if err := decodeOptional(req.Args["disk_info"], &r.diskInfo); err != nil {
		return r, fmt.Errorf("disk_info: %w", err)
	}
	return r, nil
}

// moveOp is instanceOp for the resize methods, with errors_out_migration around it.
func (a *Agent) moveOp(ctx context.Context, req *rpc.Request, needFlavor bool,
	fn func(context.Context, rpc.Context, *instance, resizeArgs, *slog.Logger) error) (any, error) {
	args, err := decodeResizeArgs(req, needFlavor)
	if err != nil {
		return nil, rpc.NovaError("InvalidInput", req.Method+": "+err.Error(), map[string]any{"code": 400})
	}
	return a.instanceOp(ctx, req, "compute_"+req.Method, func(ctx context.Context, rc rpc.Context, inst *instance, log *slog.Logger) (any, error) {
		log = log.With("migration_uuid", args.mig.uuid())
		err := fn(ctx, rc, inst, args, log)
		if err != nil {
			a.errorOutMigration(ctx, rc, args.mig, log)
			var rb *rollbackError
			if errors.As(err, &rb) {
				return nil, rb.inner
			}
		}
		return nil, err
	})
}

// computeTarget is compute.<host> at the version nova sends its casts.
func computeTarget(host string) rpc.Target {
	return rpc.Target{Topic: ComputeTopic, Server: host, Version: "6.0"}
}

func (a *Agent) prepResize(ctx context.Context, req *rpc.Request) (any, error) {
	return a.moveOp(ctx, req, true, a.doPrepResize)
}

// doPrepResize is nova's prep_resize and _prep_resize on the destination: the move claim,
// then resize_instance cast to the source. A failure gives the allocations back to the
// instance, then goes back to the conductor for an alternate host when the scheduler allows
// a retry (resize_reschedule.go); otherwise it is the operation's failure.
func (a *Agent) doPrepResize(ctx context.Context, rc rpc.Context, inst *instance, args resizeArgs, log *slog.Logger) error {
	state := inst.str("vm_state")
	err := a.prepResizeClaim(ctx, rc, inst, args, log)
	if err == nil {
		return nil
	}
	if rerr := a.revertAllocation(ctx, inst, args.mig, log); rerr != nil {
		log.Error("allocations not given back to the instance", "error", rerr)
	}
	if a.rescheduleResize(ctx, rc, inst, args, err, log) {
		return nil
	}
	a.errorOutInstance(ctx, rc, inst, state, err, log)
	return err
}

func (a *Agent) prepResizeClaim(ctx context.Context, rc rpc.Context, inst *instance, args resizeArgs, log *slog.Logger) error {
	host := inst.str("host")
	if host == "" {
		return newFault("MigrationError", 500, nil, "Migration error: Instance has no source host")
	}
	newID, _ := ovo.Value[int64](args.flavor, "id")
	if host == a.opts.Host && newID == inst.int("instance_type_id") {
		// A cold migration to this host: libvirt cannot (supports_migrate_to_same_host False).
		return &rollbackError{newFault("UnableToMigrateToSelf", 400, nil,
			"Unable to migrate instance (%s) to current host (%s).", inst.uuid(), a.opts.Host)}
	}
	if err := inst.setSysmeta(map[string]string{sysmetaOldVMState: inst.str("vm_state")}); err != nil {
		return err
	}
	if err := a.save(ctx, rc, inst, map[string]any{"new_flavor": args.flavor}, anyTask); err != nil {
		return err
	}
	// rt.resize_claim: the migration names this host, and the instance its migration context.
	if err := a.saveMigration(ctx, rc, args.mig, map[string]any{"dest_compute": a.opts.Host,
		"dest_node": a.nodeName(), "dest_host": a.opts.Resources.MyIP, "status": "pre-migrating"}); err != nil {
		return err
	}
	mc, err := newMigrationContext(inst, args.mig)
	if err != nil {
		return err
	}
	if err := a.save(ctx, rc, inst, map[string]any{"migration_context": mc}, anyTask); err != nil {
		return err
	}
	log.Info("resize claimed; asking the source to migrate the disks", "source", host)
	return a.c.caster.Cast(ctx, computeTarget(host), rc, "resize_instance", map[string]any{
		"instance": inst.obj, "migration": args.mig.obj, "image": args.image, "flavor": args.flavor,
		"clean_shutdown": args.clean, "request_spec": args.requestSpec})
}

// nodeName is this host's one node (nova's nodename).
func (a *Agent) nodeName() string { return a.opts.Host }

func (a *Agent) resizeInstance(ctx context.Context, req *rpc.Request) (any, error) {
	return a.moveOp(ctx, req, true, a.doResizeInstance)
}

// doResizeInstance is nova's resize_instance and _resize_instance on the source: power off,
// move the disks aside for the destination, and cast finish_resize to it.
func (a *Agent) doResizeInstance(ctx context.Context, rc rpc.Context, inst *instance, args resizeArgs, log *slog.Logger) error {
	state := inst.str("vm_state")
	err := a.resizeOnSource(ctx, rc, inst, args, log)
	if err == nil {
		return nil
	}
	a.errorOutInstance(ctx, rc, inst, state, err, log)
	if rerr := a.revertAllocation(ctx, inst, args.mig, log); rerr != nil {
		log.Error("allocations not given back to the instance", "error", rerr)
	}
	return err
}

func (a *Agent) resizeOnSource(ctx context.Context, rc rpc.Context, inst *instance, args resizeArgs, log *slog.Logger) error {
	if err := a.saveMigration(ctx, rc, args.mig, map[string]any{"status": "migrating"}); err != nil {
		return err
	}
	if err := a.save(ctx, rc, inst, map[string]any{"task_state": taskResizeMigrating}, expectTask{taskResizePrep}); err != nil {
		return err
	}
	vifs, err := parseInstanceVIFs(inst)
	if err != nil {
		return err
	}
	diskInfo, err := a.migrateDiskAndPowerOff(ctx, inst, args, vifs, log)
	if err != nil {
		return err
	}
	// nova's migrate_instance_start comes here: it activates port bindings on the destination
	// where they exist, which only a live migration makes; a cold move's ports are rebound by
	// the destination's finish_resize (bindPortsHere).
	if err := a.saveMigration(ctx, rc, args.mig, map[string]any{"status": "post-migrating"}); err != nil {
		return err
	}
	if err := a.save(ctx, rc, inst, map[string]any{"host": args.mig.str("dest_compute"), "node": args.mig.str("dest_node"),
		"old_flavor": inst.flavorObject("flavor"), "task_state": taskResizeMigrated}, expectTask{taskResizeMigrating}); err != nil {
		return err
	}
	log.Info("disks migrated; asking the destination to finish", "dest", args.mig.str("dest_compute"))
	return a.c.caster.Cast(ctx, computeTarget(args.mig.str("dest_compute")), rc, "finish_resize", map[string]any{
		"instance": inst.obj, "migration": args.mig.obj, "image": args.image, "disk_info": diskInfo,
		"request_spec": args.requestSpec})
}

func (a *Agent) finishResize(ctx context.Context, req *rpc.Request) (any, error) {
	return a.moveOp(ctx, req, false, a.doFinishResize)
}

// doFinishResize is nova's finish_resize and _finish_resize on the destination: the new
// flavor becomes the instance's, the driver brings the guest up with it, and the instance is
// resized (VERIFY_RESIZE). On failure the migration's allocations are deleted (the instance
// keeps the new flavor's) and the instance is in error with its old flavor.
func (a *Agent) doFinishResize(ctx context.Context, rc rpc.Context, inst *instance, args resizeArgs, log *slog.Logger) error {
	err := a.finishResizeOnDest(ctx, rc, inst, args, log)
	if err == nil {
		return nil
	}
	a.errorOutInstance(ctx, rc, inst, "", err, log)
	if derr := a.deleteAllocationAfterMove(ctx, args.mig); derr != nil {
		log.Error("allocations of the migration not deleted", "error", derr)
	}
	return err
}

func (a *Agent) finishResizeOnDest(ctx context.Context, rc rpc.Context, inst *instance, args resizeArgs, log *slog.Logger) error {
	oldFlavor := inst.flavorObject("flavor")
	oldVM := inst.sysmeta()[sysmetaOldVMState]
	if oldVM == "" {
		oldVM = vmActive
	}
	changed := map[string]any{"old_flavor": oldFlavor}
	resized := false
	if oldID, newID := args.mig.int("old_instance_type_id"), args.mig.int("new_instance_type_id"); oldID != newID {
		newFlavor := inst.flavorObject("new_flavor")
		if newFlavor == nil {
			return errors.New("instance has no new_flavor to resize to")
		}
		for k, v := range flavorFields(newFlavor) {
			changed[k] = v
		}
		resized = true
	}
	changed["task_state"] = taskResizeFinish
	if err := a.save(ctx, rc, inst, changed, expectTask{taskResizeMigrated}); err != nil {
		return err
	}
	vifs, err := parseInstanceVIFs(inst)
	if err != nil {
		return err
	}
	source := args.mig.str("source_compute")
	if source != a.opts.Host {
		// setup_networks_on_host and migrate_instance_finish: the ports follow the instance
		// here; get_instance_nw_info then reads their status again.
		if vifs, err = a.bindPortsHere(ctx, rc, inst, vifs, log); err != nil {
			return err
		}
	}
	if err := a.finishMigration(ctx, rc, inst, source, resized, oldVM != vmStopped, vifs, log); err != nil {
		if resized && oldFlavor != nil {
			if serr := set(inst.obj, flavorFields(oldFlavor)); serr != nil {
				log.Error("old flavor not restored", "error", serr)
			}
		}
		return err
	}
	if err := a.saveMigration(ctx, rc, args.mig, map[string]any{"status": "finished"}); err != nil {
		return err
	}
	if err := a.save(ctx, rc, inst, map[string]any{"vm_state": vmResized, "task_state": nil, "launched_at": nowField()},
		expectTask{taskResizeFinish}); err != nil {
		return err
	}
	log.Info("instance resized; waiting for confirm or revert")
	a.updateSchedulerInstanceInfo(ctx, rc, inst)
	return nil
}

func (m *migration) int(field string) int64 { n, _ := ovo.Value[int64](m.obj, field); return n }
