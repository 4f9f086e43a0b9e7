package agent

import (
	"context"
	"errors"
	"log/slog"

	"github.com/novalet/novalet/rpc"
)

// opFunc is the body of an instance operation, run under the instance's lock.
type opFunc func(ctx context.Context, rc rpc.Context, inst *instance, log *slog.Logger) (any, error)

// instanceOp runs an instance operation with nova's decorators around it: wrap_instance_event
// (the action event named compute_<method>, unless event is ""), wrap_instance_fault (a fault
// for any failure but a vanished instance), reverts_task_state (task_state back to None on
// failure, unless the task state moved on under us), and @utils.synchronized(uuid).
func (a *Agent) instanceOp(ctx context.Context, req *rpc.Request, event string, fn opFunc) (any, error) {
	inst, err := decodeInstance(req.Args["instance"])
	if err != nil {
		return nil, rpc.NovaError("InvalidInput", req.Method+": "+err.Error(), map[string]any{"code": 400})
	}
	rc := req.Context
	uuid := inst.uuid()
	log := a.log.With("instance_uuid", uuid, "request_id", rc.RequestID(), "operation", req.Method)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.c.opts.OperationTimeout)
	defer cancel()
	if event != "" {
		a.eventStart(ctx, rc, uuid, event)
	}
	done := a.operation(req.Method)
	result, err := a.locked(ctx, rc, inst, log, fn)
	done(err)
	if err != nil {
		log.Error("operation failed", "error", err)
		if !errors.Is(err, errGone) {
			a.addFault(ctx, rc, uuid, err, "")
		}
	}
	if event != "" {
		a.eventFinish(ctx, rc, uuid, event, err)
	}
	if err != nil && !errors.Is(err, errGone) && !errors.Is(err, errUnexpectedTaskState) {
		if serr := a.save(ctx, rc, inst, map[string]any{"task_state": nil}, anyTask); serr != nil {
			log.Warn("task state not reverted", "error", serr)
		}
	}
	return result, rpcError(err)
}

func (a *Agent) locked(ctx context.Context, rc rpc.Context, inst *instance, log *slog.Logger, fn opFunc) (any, error) {
	unlock, err := a.c.locks.lock(ctx, inst.uuid())
	if err != nil {
		return nil, err
	}
	defer unlock()
	return fn(ctx, rc, inst, log)
}

// rpcError gives a failure the shape nova-api understands: a nova exception class it knows.
func rpcError(err error) error {
	if err == nil {
		return nil
	}
	var re *rpc.RemoteError
	if errors.As(err, &re) {
		return err
	}
	var fe *faultError
	if errors.As(err, &fe) {
		return rpc.NovaError(fe.class, fe.message, map[string]any{"code": fe.code})
	}
	switch {
	case errors.Is(err, errGone):
		return rpc.NovaError("InstanceNotFound", err.Error(), map[string]any{"code": 404})
	case errors.Is(err, errUnexpectedTaskState):
		return rpc.NovaError("UnexpectedTaskStateError", err.Error(), map[string]any{"code": 500})
	}
	return rpc.NovaError("NovaException", err.Error(), nil)
}
