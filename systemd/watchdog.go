package systemd

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// WatchdogInterval returns the watchdog timeout systemd set for this process (WatchdogSec=,
// passed as WATCHDOG_USEC), or 0 when the watchdog is off or WATCHDOG_PID names another
// process. The variables are left in place; children never ping because NotifyAccess=main.
func WatchdogInterval() (time.Duration, error) {
	d, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		return 0, fmt.Errorf("%w: watchdog: %w", ErrInvalid, err)
	}
	return d, nil
}

// Watchdog keeps systemd's watchdog fed while, and only while, the daemon is healthy. A wedged
// main loop must not be hidden by a separate goroutine that keeps pinging, so every ping is
// gated on Healthy.
//
// systemd arms the watchdog when start-up completes (after READY=1), so run it after Ready.
type Watchdog struct {
	Notifier Notifier
	// Interval is systemd's timeout (from WatchdogInterval); pings go out every Interval/2, as
	// sd_watchdog_enabled(3) recommends, so one late tick does not trip it.
	Interval time.Duration
	// Healthy reports whether the main loops (RPC consumers, heartbeat, periodic tasks) are alive.
	// It is called once per tick on the watchdog goroutine; if it hangs, pings stop and systemd
	// restarts the daemon, which is the right outcome for a hang.
	Healthy func() error
	Logger  *slog.Logger
}

// Run pings until ctx ends and then returns nil. It returns at once when Interval is zero
// (watchdog disabled). Failed pings are logged, not fatal: the next tick tries again, and if the
// manager really is gone there is nobody left to restart us anyway.
func (w Watchdog) Run(ctx context.Context) error {
	if w.Interval <= 0 {
		return nil
	}
	if w.Notifier == nil || w.Healthy == nil {
		return fmt.Errorf("%w: watchdog needs a Notifier and a Healthy function", ErrInvalid)
	}
	log := w.Logger
	if log == nil {
		log = slog.Default()
	}
	period := pingPeriod(w.Interval)
	log.Info("systemd watchdog enabled", "timeout", w.Interval, "period", period)

	ticker := time.NewTicker(period)
	defer ticker.Stop()
	var unhealthy, failing bool
	for {
		// The first check runs immediately, so a fresh READY is followed by a ping at once.
		if err := w.Healthy(); err != nil {
			if !unhealthy {
				log.Warn("systemd watchdog: withholding pings, daemon unhealthy", "error", err)
			}
			unhealthy = true
		} else {
			if unhealthy {
				log.Info("systemd watchdog: daemon healthy again, resuming pings")
			}
			unhealthy = false
			if err := w.ping(ctx, period); err != nil && ctx.Err() == nil {
				if !failing {
					log.Warn("systemd watchdog: ping failed", "error", err)
				}
				failing = true
			} else {
				failing = false
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
			// select picks at random when both are ready; do not check health once cancelled.
			if ctx.Err() != nil {
				return nil
			}
		}
	}
}

// ping is bounded by the period too, so a stuck send cannot delay the next health check.
func (w Watchdog) ping(ctx context.Context, period time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, period)
	defer cancel()
	return w.Notifier.Watchdog(ctx)
}

func pingPeriod(interval time.Duration) time.Duration { return interval / 2 }
