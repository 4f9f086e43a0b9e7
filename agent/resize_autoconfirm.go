package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/novalet/novalet/rpc"
	"github.com/novalet/novalet/rpc/ovo"
)

// unconfirmedResizesLoop is nova's _poll_unconfirmed_resizes: with a positive
// resize_confirm_window, the resizes and cold migrations finished on this host (the
// destination) longer ago than the window are confirmed as if the user had asked.
func (a *Agent) unconfirmedResizesLoop(ctx context.Context) {
	if a.c.opts.ResizeConfirmWindow <= 0 {
		return
	}
	a.periodic(ctx, "poll_unconfirmed_resizes", a.c.opts.UnconfirmedResizesInterval, a.pollUnconfirmedResizes)
}

// pollUnconfirmedResizes confirms each overdue migration. A migration whose instance is gone,
// in error, or not resized and idle goes to status error; one whose instance is being deleted
// or is still finishing is left for the next pass; a confirm that cannot start (the source
// host down) is retried on the next pass. One failure does not stop the others.
func (a *Agent) pollUnconfirmedResizes(ctx context.Context) error {
	rc := rpc.NewAdminContext(nowUTC())
	window := a.c.opts.ResizeConfirmWindow
	raw, err := a.svc.objs.classAction(ctx, rc, "MigrationList", "get_unconfirmed_by_dest_compute",
		[]any{window, a.opts.Host}, map[string]any{"use_slave": true})
	if err != nil {
		return fmt.Errorf("MigrationList.get_unconfirmed_by_dest_compute: %w", err)
	}
	list, err := decodeObject(raw)
	if err != nil || list == nil {
		return err
	}
	objs, _ := ovo.Value[[]*ovo.Object](list, "objects")
	if len(objs) > 0 {
		a.log.Info("found unconfirmed migrations older than the confirm window", "migration_count", len(objs), "confirm_window", window)
	}
	for _, o := range objs {
		a.autoConfirm(ctx, rc, &migration{obj: o})
	}
	return nil
}

func (a *Agent) autoConfirm(ctx context.Context, rc rpc.Context, m *migration) {
	id := m.str("instance_uuid")
	log := a.log.With("instance_uuid", id, "migration_uuid", m.uuid(), "request_id", rc.RequestID())
	toError := func(reason string) {
		log.Warn("setting migration to error", "migration_id", m.id(), "reason", reason)
		if err := a.saveMigration(ctx, rc, m, map[string]any{"status": "error"}); err != nil {
			log.Error("migration not set to error", "error", err)
		}
	}
	log.Info("automatically confirming migration", "migration_id", m.id())
	raw, err := a.svc.objs.classAction(ctx, rc, "Instance", "get_by_uuid", []any{id},
		map[string]any{"expected_attrs": []any{"metadata", "system_metadata"}, "use_slave": true})
	if err != nil {
		if errors.Is(classifyInstanceError(err), errGone) {
			toError(fmt.Sprintf("Instance %s not found", id))
			return
		}
		log.Info("error auto-confirming resize; will retry later", "error", err)
		return
	}
	obj, err := decodeObject(raw)
	if err != nil || obj == nil {
		log.Info("error auto-confirming resize; will retry later", "error", fmt.Errorf("instance %s: %w", id, err))
		return
	}
	inst := &instance{obj: obj}
	vm, task := inst.str("vm_state"), inst.str("task_state")
	switch {
	case vm == vmError:
		toError("In ERROR state")
		return
	case task == taskDeleting || task == taskSoftDeleting:
		log.Debug("instance being deleted or soft deleted during resize confirmation; skipping")
		return
	case task == taskResizeFinish:
		log.Debug("instance still resizing during resize confirmation; skipping")
		return
	case vm != vmResized || task != "":
		toError(fmt.Sprintf("In states %s/%s, not RESIZED/None", vm, pyNone(task)))
		return
	}
	if err := a.apiConfirmResize(ctx, rc, inst, m); err != nil {
		log.Info("error auto-confirming resize; will retry later", "error", err)
	}
}

// apiConfirmResize is nova-api's compute_api.confirm_resize with the migration given: the
// source host must be up, then the migration goes to confirming, the action confirmResize
// is recorded, and confirm_resize is cast to the source, which cleans up and confirms.
func (a *Agent) apiConfirmResize(ctx context.Context, rc rpc.Context, inst *instance, m *migration) error {
	if cross, _ := ovo.Value[bool](m.obj, "cross_cell_move"); cross {
		return errors.New("cross-cell resize is not supported by novalet; confirm it through the API")
	}
	source := m.str("source_compute")
	up, err := a.serviceIsUp(ctx, rc, source)
	if err != nil {
		return err
	}
	if !up {
		return fmt.Errorf("compute service of %s is unavailable at this time", source)
	}
	if err := a.saveMigration(ctx, rc, m, map[string]any{"status": "confirming"}); err != nil {
		return err
	}
	if _, err := a.svc.objs.classAction(ctx, rc, "InstanceAction", "action_start", []any{inst.uuid(), "confirmResize"},
		map[string]any{"want_result": false}); err != nil {
		return fmt.Errorf("confirmResize action not recorded: %w", err)
	}
	return a.c.caster.Cast(ctx, computeTarget(source), rc, "confirm_resize",
		map[string]any{"instance": inst.obj, "migration": m.obj})
}

// serviceIsUp is Service.get_by_compute_host and the servicegroup db driver's is_up: the
// last heartbeat (last_seen_up, else created_at) within service_down_time.
func (a *Agent) serviceIsUp(ctx context.Context, rc rpc.Context, host string) (bool, error) {
	raw, err := a.svc.objs.classAction(ctx, rc, "Service", "get_by_compute_host", []any{host}, nil)
	if err != nil {
		return false, fmt.Errorf("Service.get_by_compute_host %s: %w", host, err)
	}
	svc, err := decodeObject(raw)
	if err != nil || svc == nil {
		return false, fmt.Errorf("Service.get_by_compute_host %s: %w", host, err)
	}
	beat, ok := ovo.Value[time.Time](svc, "last_seen_up")
	if !ok || beat.IsZero() {
		beat, _ = ovo.Value[time.Time](svc, "created_at")
	}
	down := a.c.opts.ServiceDownTime
	if down <= 0 {
		down = 60 * time.Second // nova's default service_down_time
	}
	elapsed := nowUTC().Sub(beat)
	return elapsed.Abs() <= down, nil
}

// pyNone renders an empty task_state as Python prints None.
func pyNone(s string) string {
	if s == "" {
		return "None"
	}
	return s
}
