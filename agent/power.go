package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/novalet/novalet/internal/failpoint"

	"github.com/novalet/novalet/rpc"
	"github.com/novalet/novalet/virt"
)

// Power operations: stop, start, reboot, pause/unpause, suspend/resume, with the state
// sequence nova 26.2.2's ComputeManager writes for each.

// nova's task states for these operations (nova/compute/task_states.py).
const (
	taskPoweringOff       = "powering-off"
	taskPoweringOn        = "powering-on"
	taskRebooting         = "rebooting"
	taskRebootPending     = "reboot_pending"
	taskRebootStarted     = "reboot_started"
	taskRebootingHard     = "rebooting_hard"
	taskRebootPendingHard = "reboot_pending_hard"
	taskRebootStartedHard = "reboot_started_hard"
	taskPausing           = "pausing"
	taskUnpausing         = "unpausing"
	taskSuspending        = "suspending"
	taskResuming          = "resuming"
)

// shutdownRetryInterval is nova's SHUTDOWN_RETRY_INTERVAL: the power button is pressed again
// this often while waiting for a clean shutdown.
const shutdownRetryInterval = 10 * time.Second

// Waits for a power state end at the domain's lifecycle event (virt.WaitForState); the state
// is also re-read this often, the safety net for a lost event.
const (
	bootPoll     = 250 * time.Millisecond // waitForPower
	shutdownPoll = 500 * time.Millisecond // cleanShutdown
)

// pollInterval is def unless the tests set powerPoll.
func (c *compute) pollInterval(def time.Duration) time.Duration {
	if c.powerPoll > 0 {
		return c.powerPoll
	}
	return def
}

// powerState is nova's _get_power_state: the hypervisor's view, NOSTATE for a missing domain.
func (a *Agent) powerState(ctx context.Context, uuid string) (virt.PowerState, error) {
	st, err := a.c.hv.State(ctx, uuid)
	if errors.Is(err, virt.ErrNotFound) {
		return virt.PowerNoState, nil
	}
	return st, err
}

func (a *Agent) stopInstance(ctx context.Context, req *rpc.Request) (any, error) {
	clean := true
	if raw := req.Args["clean_shutdown"]; len(raw) > 0 {
		_ = json.Unmarshal(raw, &clean)
	}
	return a.instanceOp(ctx, req, "compute_stop_instance", func(ctx context.Context, rc rpc.Context, inst *instance, log *slog.Logger) (any, error) {
		return nil, a.doStop(ctx, rc, inst, clean, log)
	})
}

// doStop is nova's do_stop_instance.
func (a *Agent) doStop(ctx context.Context, rc rpc.Context, inst *instance, clean bool, log *slog.Logger) error {
	current, err := a.powerState(ctx, inst.uuid())
	if err != nil {
		return err
	}
	expected := expectTask{taskPoweringOff}
	if current == virt.PowerNoState || current == virt.PowerShutdown || current == virt.PowerCrashed {
		expected = append(expected, nil)
	}
	if err := a.powerOff(ctx, inst.uuid(), clean, log); err != nil {
		return err
	}
	failpoint.Hold(ctx, log, "stop.off")
	st, err := a.powerState(ctx, inst.uuid())
	if err != nil {
		return err
	}
	return a.save(ctx, rc, inst, map[string]any{"power_state": int64(st), "vm_state": vmStopped, "task_state": nil}, expected)
}

// powerOff is the libvirt driver's power_off: with clean, press the power button (again every
// shutdownRetryInterval) and wait up to shutdown_timeout for the guest to go; then, or without
// clean, pull the plug.
func (a *Agent) powerOff(ctx context.Context, uuid string, clean bool, log *slog.Logger) error {
	if clean {
		done, err := a.cleanShutdown(ctx, uuid, a.c.opts.ShutdownTimeout)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		log.Info("guest did not shut down in time; destroying it", "timeout", a.c.opts.ShutdownTimeout)
	}
	err := a.c.hv.Destroy(ctx, uuid)
	if errors.Is(err, virt.ErrConflict) {
		return nil // already off
	}
	return err
}

// cleanShutdown presses the ACPI button and waits for the domain to stop; it reports whether
// it did within timeout.
func (a *Agent) cleanShutdown(ctx context.Context, uuid string, timeout time.Duration) (bool, error) {
	st, err := a.powerState(ctx, uuid)
	if err != nil {
		return false, err
	}
	if st == virt.PowerShutdown || st == virt.PowerNoState || st == virt.PowerCrashed {
		return true, nil
	}
	// Like nova, press the button whatever the state (a paused guest just cannot answer it)
	// and keep pressing: a guest may miss the first press while booting. Between presses,
	// wait for the stop, which ends the wait as soon as the guest is off.
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if err := a.c.hv.Shutdown(ctx, uuid); err != nil && !errors.Is(err, virt.ErrConflict) {
			a.log.Warn("power button not pressed", "instance_uuid", uuid, "error", err)
		}
		wctx, cancel := context.WithTimeout(ctx, min(shutdownRetryInterval, time.Until(deadline)))
		_, err := virt.WaitForState(wctx, a.c.hv, uuid, a.c.pollInterval(shutdownPoll),
			virt.PowerShutdown, virt.PowerNoState, virt.PowerCrashed)
		cancel()
		switch {
		case err == nil, errors.Is(err, virt.ErrNotFound): // a missing domain is NOSTATE
			return true, nil
		case ctx.Err() != nil:
			return false, ctx.Err()
		case wctx.Err() == nil:
			return false, err
		}
		// Time to press again, or to give up.
	}
	return false, nil
}

func (a *Agent) startInstance(ctx context.Context, req *rpc.Request) (any, error) {
	return a.instanceOp(ctx, req, "compute_start_instance", func(ctx context.Context, rc rpc.Context, inst *instance, log *slog.Logger) (any, error) {
		return nil, a.doStart(ctx, rc, inst, log)
	})
}

// doStart is nova's start_instance body. Starting a SHELVED instance (the conductor's
// unshelve of one not offloaded) also deletes its shelve snapshot and the shelved keys.
func (a *Agent) doStart(ctx context.Context, rc rpc.Context, inst *instance, log *slog.Logger) error {
	if err := a.powerOn(ctx, inst.uuid()); err != nil {
		return err
	}
	st, err := a.powerState(ctx, inst.uuid())
	if err != nil {
		return err
	}
	sm := inst.sysmeta()
	if snap := sm["shelved_image_id"]; snap != "" {
		a.deleteShelvedSnapshot(ctx, rc, snap, log)
	}
	for k := range shelvedKeys {
		if _, ok := sm[k]; ok {
			if err := inst.setSysmeta(shelvedKeys); err != nil {
				return err
			}
			break
		}
	}
	return a.save(ctx, rc, inst, map[string]any{"power_state": int64(st), "vm_state": vmActive, "task_state": nil}, expectTask{taskPoweringOn})
}

// powerOn starts a shut-off domain (restoring a managed save) and waits for it to run; a
// running one is left alone; a paused one is resumed.
func (a *Agent) powerOn(ctx context.Context, uuid string) error {
	st, err := a.powerState(ctx, uuid)
	if err != nil {
		return err
	}
	switch st {
	case virt.PowerRunning:
		return nil
	case virt.PowerPaused:
		if err := a.c.hv.Resume(ctx, uuid); err != nil {
			return err
		}
	case virt.PowerNoState:
		return fmt.Errorf("domain of instance %s is not defined on this host: %w", uuid, virt.ErrNotFound)
	default:
		if err := a.c.hv.Start(ctx, uuid, false); err != nil && !errors.Is(err, virt.ErrConflict) {
			return err
		}
	}
	return a.waitForPower(ctx, uuid, virt.PowerRunning)
}

func (a *Agent) rebootInstance(ctx context.Context, req *rpc.Request) (any, error) {
	var rebootType string
	_ = json.Unmarshal(req.Args["reboot_type"], &rebootType)
	hard := rebootType == "HARD"
	return a.instanceOp(ctx, req, "compute_reboot_instance", func(ctx context.Context, rc rpc.Context, inst *instance, log *slog.Logger) (any, error) {
		return nil, a.doReboot(ctx, rc, inst, hard, log)
	})
}

// doReboot is nova's _reboot_instance.
func (a *Agent) doReboot(ctx context.Context, rc rpc.Context, inst *instance, hard bool, log *slog.Logger) error {
	uuid := inst.uuid()
	pending, started, states := taskRebootPending, taskRebootStarted, expectTask{taskRebooting, taskRebootPending, taskRebootStarted}
	if hard {
		pending, started, states = taskRebootPendingHard, taskRebootStartedHard, expectTask{taskRebootingHard, taskRebootPendingHard, taskRebootStartedHard}
	}
	st, err := a.powerState(ctx, uuid)
	if err != nil {
		return err
	}
	if err := a.save(ctx, rc, inst, map[string]any{"task_state": pending, "power_state": int64(st)}, states); err != nil {
		return err
	}
	if err := a.save(ctx, rc, inst, map[string]any{"task_state": started}, expectTask{pending}); err != nil {
		return err
	}
	rebootErr := a.reboot(ctx, uuid, hard, log)
	st, err = a.powerState(ctx, uuid)
	if err != nil {
		return err
	}
	if rebootErr != nil {
		if st != virt.PowerRunning {
			if serr := a.save(ctx, rc, inst, map[string]any{"vm_state": vmError}, anyTask); serr != nil {
				log.Error("could not set the instance to error", "error", serr)
			}
			return rebootErr
		}
		// nova: a failed reboot of a guest that still runs is a fault, not an error state.
		log.Warn("reboot failed but the guest is running", "error", rebootErr)
		a.addFault(ctx, rc, uuid, rebootErr, "")
	}
	return a.save(ctx, rc, inst, map[string]any{"power_state": int64(st), "vm_state": vmActive, "task_state": nil}, anyTask)
}

// reboot is the libvirt driver's reboot: soft = power button, wait up to
// wait_soft_reboot_seconds for the guest to power off, boot it again; a guest that does not
// comply gets a hard reboot, as does a hard request: power cycle the domain.
func (a *Agent) reboot(ctx context.Context, uuid string, hard bool, log *slog.Logger) error {
	if !hard {
		done, err := a.cleanShutdown(ctx, uuid, a.c.opts.SoftRebootTimeout)
		if err != nil {
			return err
		}
		if done {
			return a.powerOn(ctx, uuid)
		}
		log.Info("guest did not power off for a soft reboot; rebooting it hard", "timeout", a.c.opts.SoftRebootTimeout)
	}
	if err := a.c.hv.Destroy(ctx, uuid); err != nil && !errors.Is(err, virt.ErrConflict) {
		return err
	}
	failpoint.Hold(ctx, log, "reboot.destroyed")
	return a.powerOn(ctx, uuid)
}

func (a *Agent) pauseInstance(ctx context.Context, req *rpc.Request) (any, error) {
	return a.simplePowerOp(ctx, req, "compute_pause_instance", taskPausing, vmPaused, func(ctx context.Context, uuid string) error {
		return a.c.hv.Pause(ctx, uuid)
	})
}

func (a *Agent) unpauseInstance(ctx context.Context, req *rpc.Request) (any, error) {
	return a.simplePowerOp(ctx, req, "compute_unpause_instance", taskUnpausing, vmActive, func(ctx context.Context, uuid string) error {
		return a.c.hv.Resume(ctx, uuid)
	})
}

// simplePowerOp runs one hypervisor call and records vm_state and the resulting power state.
func (a *Agent) simplePowerOp(ctx context.Context, req *rpc.Request, event, task, vmState string, call func(context.Context, string) error) (any, error) {
	return a.instanceOp(ctx, req, event, func(ctx context.Context, rc rpc.Context, inst *instance, log *slog.Logger) (any, error) {
		if err := call(ctx, inst.uuid()); err != nil {
			return nil, err
		}
		st, err := a.powerState(ctx, inst.uuid())
		if err != nil {
			return nil, err
		}
		return nil, a.save(ctx, rc, inst, map[string]any{"power_state": int64(st), "vm_state": vmState, "task_state": nil}, expectTask{task})
	})
}

func (a *Agent) suspendInstance(ctx context.Context, req *rpc.Request) (any, error) {
	return a.instanceOp(ctx, req, "compute_suspend_instance", func(ctx context.Context, rc rpc.Context, inst *instance, log *slog.Logger) (any, error) {
		if err := inst.setSysmeta(map[string]string{"old_vm_state": inst.str("vm_state")}); err != nil {
			return nil, err
		}
		if err := a.c.hv.Suspend(ctx, inst.uuid()); err != nil {
			return nil, err
		}
		failpoint.Hold(ctx, log, "suspend.saved")
		st, err := a.powerState(ctx, inst.uuid())
		if err != nil {
			return nil, err
		}
		return nil, a.save(ctx, rc, inst, map[string]any{"power_state": int64(st), "vm_state": vmSuspended, "task_state": nil}, expectTask{taskSuspending})
	})
}

func (a *Agent) resumeInstance(ctx context.Context, req *rpc.Request) (any, error) {
	return a.instanceOp(ctx, req, "compute_resume_instance", func(ctx context.Context, rc rpc.Context, inst *instance, log *slog.Logger) (any, error) {
		if err := a.powerOn(ctx, inst.uuid()); err != nil {
			return nil, err
		}
		st, err := a.powerState(ctx, inst.uuid())
		if err != nil {
			return nil, err
		}
		old := inst.sysmeta()["old_vm_state"]
		if old == "" {
			old = vmActive
		}
		if err := inst.setSysmeta(map[string]string{"old_vm_state": ""}); err != nil {
			return nil, err
		}
		return nil, a.save(ctx, rc, inst, map[string]any{"power_state": int64(st), "vm_state": old, "task_state": nil}, expectTask{taskResuming})
	})
}
