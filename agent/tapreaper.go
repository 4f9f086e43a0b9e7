package agent

import (
	"context"

	"github.com/novalet/novalet/metrics"
	"github.com/novalet/novalet/rpc"
)

// The tap reaper removes tap<port[:11]> devices that belong to no instance of this host (a
// delete interrupted between destroy and unplug, a port deleted behind nova's back). It runs at
// start-up and every ReaperInterval; a tap is an orphan when no instance on this host has a VIF
// with that device name in its info cache.

func (a *Agent) tapReaperLoop(ctx context.Context) {
	a.periodic(ctx, "reap_orphan_taps", a.c.net.ReaperInterval, func(ctx context.Context) error {
		_, err := a.reapTaps(ctx, nil)
		return err
	})
}

// tapCensus returns the taps on the host and which of them belong to an instance here; insts
// are the host's instances when the caller has them already (nil: asked of the conductor).
func (a *Agent) tapCensus(ctx context.Context, insts []*instance) (all []string, owned map[string]bool, err error) {
	taps, err := a.c.taps.List(ctx)
	if err != nil || len(taps) == 0 {
		return nil, nil, err
	}
	for _, tp := range taps {
		all = append(all, tp.Name)
	}
	if insts == nil {
		if insts, err = a.hostInstances(ctx, rpc.NewAdminContext(nowUTC())); err != nil {
			return nil, nil, err
		}
	}
	owned = map[string]bool{}
	for _, inst := range insts {
		for _, v := range instanceVIFs(inst) {
			owned[v.TapName()] = true
		}
	}
	return all, owned, nil
}

// reapTaps removes orphan taps and returns how many went. Taps of an instance being built are
// safe: the build saves the info cache before it plugs.
func (a *Agent) reapTaps(ctx context.Context, insts []*instance) (int, error) {
	all, owned, err := a.tapCensus(ctx, insts)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, name := range all {
		if owned[name] {
			continue
		}
		a.log.Warn("removing a tap that belongs to no instance on this host", "tap", name)
		err := a.c.taps.RemoveTap(ctx, name)
		a.obs.TapOperation(metrics.TapUnplug, metrics.ResultOf(err))
		if err != nil {
			a.log.Error("orphan tap not removed", "tap", name, "error", err)
			continue
		}
		a.obs.OrphanReaped("tap")
		n++
	}
	return n, nil
}

// TapCounts reports attached and orphaned taps for the metrics.
func (a *Agent) TapCounts(ctx context.Context) (metrics.TapCounts, error) {
	all, owned, err := a.tapCensus(ctx, nil)
	if err != nil {
		return metrics.TapCounts{}, err
	}
	var c metrics.TapCounts
	for _, name := range all {
		if owned[name] {
			c.Attached++
		} else {
			c.Orphaned++
		}
	}
	return c, nil
}
