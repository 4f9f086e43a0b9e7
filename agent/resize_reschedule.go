package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/novalet/novalet/rpc"
)

// conductorMigrateTarget is nova-conductor's ComputeTaskManager at the version that carries
// host_list (migrate_server 1.20).
var conductorMigrateTarget = rpc.Target{Topic: "conductor", Namespace: "compute_task", Version: "1.20"}

// defaultLongRPCTimeout is nova's [DEFAULT] long_rpc_timeout.
const defaultLongRPCTimeout = 1800 * time.Second

// rescheduleResize is nova's _reschedule_resize_or_reraise after a failed prep_resize: when
// the scheduler left retry information in the filter properties, the task state goes back to
// resize_prep and the conductor is asked (migrate_server, a call, as
// compute_task_api.resize_instance makes it) to try the alternate hosts; the failure here is
// recorded as the instance's fault and the operation ends without error. Without retry
// information, or when the conductor refuses (no alternate left), it returns false and the
// failure is the operation's (a refused reschedule records its own fault first, as nova does).
func (a *Agent) rescheduleResize(ctx context.Context, rc rpc.Context, inst *instance, args resizeArgs, cause error, log *slog.Logger) bool {
	retry, _ := args.filterProperties["retry"].(map[string]any)
	if retry == nil || a.c.caster == nil {
		log.Debug("Retry info not present, will not reschedule")
		return false
	}
	log.Debug("rescheduling the resize", "attempt", retry["num_attempts"])
	err := a.save(ctx, rc, inst, map[string]any{"task_state": taskResizePrep}, anyTask)
	if err == nil {
		retry["exc"] = []any{excLine(cause)}
		timeout := a.opts.LongRPCTimeout
		if timeout <= 0 {
			timeout = defaultLongRPCTimeout
		}
		_, err = a.c.caster.Call(ctx, conductorMigrateTarget, rc, "migrate_server", map[string]any{
			"instance": inst.obj, "scheduler_hint": map[string]any{"filter_properties": args.filterProperties},
			"live": false, "rebuild": false, "flavor": args.flavor, "block_migration": nil,
			"disk_over_commit": nil, "reservations": nil, "clean_shutdown": true,
			"request_spec": rawOrNull(args.requestSpec), "host_list": rawOrNull(args.hostList),
		}, rpc.CallOptions{Timeout: timeout, CallMonitorTimeout: a.opts.ConductorTimeout})
	}
	if err != nil {
		log.Error("Error trying to reschedule", "error", err)
		a.addFault(ctx, rc, inst.uuid(), err, "")
		return false
	}
	log.Warn("the resize failed on this host and was rescheduled", "error", cause)
	a.addFault(ctx, rc, inst.uuid(), cause, "")
	return true
}

// excLine is traceback.format_exception_only's one line for err: nova's exception class
// (NovaException for what novalet raises without one) and the message.
func excLine(err error) string {
	class := "NovaException"
	var fe *faultError
	if errors.As(err, &fe) {
		class = fe.class
	}
	return fmt.Sprintf("nova.exception.%s: %s\n", class, err)
}
