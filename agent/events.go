package agent

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/novalet/novalet/rpc"
	"github.com/novalet/novalet/rpc/ovo"
)

// Instance action events and faults: what `openstack server event list` and the server's
// fault show (nova's wrap_instance_event and add_instance_fault_from_exc).

// eventStart records the start of event (e.g. "compute_stop_instance") on the action nova-api
// created with the request's id. A failure is logged, not fatal: nova's wrapper lets the
// operation run even when the event cannot be written.
func (a *Agent) eventStart(ctx context.Context, rc rpc.Context, uuid, event string) {
	_, err := a.svc.objs.classAction(ctx, rc, "InstanceActionEvent", "event_start",
		[]any{uuid, event}, map[string]any{"want_result": false, "host": a.opts.Host})
	if err != nil {
		a.log.Warn("instance action event start not recorded", "instance_uuid", uuid, "event", event,
			"request_id", rc.RequestID(), "error", err)
	}
}

// eventFinish records the end of event: Success when opErr is nil, else Error with the
// failure's message and trace.
func (a *Agent) eventFinish(ctx context.Context, rc rpc.Context, uuid, event string, opErr error) {
	var excVal, excTB any
	if opErr != nil {
		excVal = faultMessage(opErr)
		excTB = faultDetails(opErr)
	}
	_, err := a.svc.objs.classAction(ctx, rc, "InstanceActionEvent", "event_finish_with_failure",
		[]any{uuid, event}, map[string]any{"exc_val": excVal, "exc_tb": excTB, "want_result": false})
	if err != nil {
		a.log.Warn("instance action event finish not recorded", "instance_uuid", uuid, "event", event,
			"request_id", rc.RequestID(), "error", err)
	}
}

// faultError is a failure with the message nova would show in the instance's fault: the
// message of the nova exception it stands for, and its HTTP-ish code.
type faultError struct {
	class   string // nova exception class, e.g. "BuildAbortException"
	message string
	code    int
	err     error
}

func (e *faultError) Error() string { return e.message }
func (e *faultError) Unwrap() error { return e.err }

func newFault(class string, code int, err error, format string, args ...any) *faultError {
	return &faultError{class: class, code: code, message: fmt.Sprintf(format, args...), err: err}
}

// faultMessage is what the fault's message field says.
func faultMessage(err error) string {
	var fe *faultError
	if errors.As(err, &fe) {
		return fe.message
	}
	return err.Error()
}

func faultCode(err error) int {
	var fe *faultError
	if errors.As(err, &fe) && fe.code != 0 {
		return fe.code
	}
	return 500
}

// faultDetails is the fault's details: nova stores a traceback for code-500 faults; novalet
// stores the full error chain and the goroutine that saw it, the nearest Go equivalent.
func faultDetails(err error) string {
	if faultCode(err) != 500 {
		return ""
	}
	return fmt.Sprintf("%s\n\n%s", err, debug.Stack())
}

// addFault records an InstanceFault for err (nova's add_instance_fault_from_exc). message
// overrides the message when not empty.
func (a *Agent) addFault(ctx context.Context, rc rpc.Context, uuid string, err error, message string) {
	if message == "" {
		message = faultMessage(err)
	}
	reason := "NovaException"
	var fe *faultError
	if errors.As(err, &fe) {
		reason = fe.class
	}
	a.obs.InstanceFault(reason)
	fault, ferr := ovo.New("InstanceFault")
	if ferr == nil {
		ferr = set(fault, map[string]any{
			"instance_uuid": uuid, "code": int64(faultCode(err)), "message": truncateRunes(message, 255),
			"details": faultDetails(err), "host": a.opts.Host,
		})
	}
	if ferr == nil {
		_, ferr = a.svc.objs.action(ctx, rc, fault, "create", nil, nil)
	}
	if ferr != nil {
		a.log.Error("instance fault not recorded", "instance_uuid", uuid, "request_id", rc.RequestID(),
			"fault", message, "error", ferr)
	}
}

func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}
