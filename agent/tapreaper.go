package agent

import (
	"context"
	"errors"
	"fmt"

	"github.com/novalet/novalet/metrics"
	"github.com/novalet/novalet/netplug"
	"github.com/novalet/novalet/rpc"
)

// The tap reaper removes tap<port[:11]> devices that belong to no instance of this host (a
// delete interrupted between destroy and unplug, a port deleted behind nova's back). It runs at
// start-up and every ReaperInterval; a tap is an orphan when no instance on this host has a VIF
// with that device name in its info cache.
//
// It never takes a live guest's tap, whatever the conductor says: a tap a process holds open
// (carrier) is left, and a pass is skipped whole when its view of the host cannot be trusted:
// an info cache that does not parse, or no instance listed while libvirt has instance domains
// (a wrong host name or cell would otherwise unplug every guest).

func (a *Agent) tapReaperLoop(ctx context.Context) {
	a.periodic(ctx, "reap_orphan_taps", a.c.net.ReaperInterval, func(ctx context.Context) error {
		_, err := a.reapTaps(ctx, nil)
		if errors.Is(err, errUntrustedCensus) {
			a.obs.OrphanKept("tap_pass", "census_untrusted")
		}
		return err
	})
}

// errUntrustedCensus: the reaper's view of which taps belong to an instance is incomplete.
var errUntrustedCensus = errors.New("tap census not trusted; nothing reaped")

// tapCensus returns the taps on the host and which of them belong to an instance here; insts
// are the host's instances when the caller has them already (nil: asked of the conductor).
func (a *Agent) tapCensus(ctx context.Context, insts []*instance) (taps []netplug.Tap, owned map[string]bool, err error) {
	taps, err = a.c.taps.List(ctx)
	if err != nil || len(taps) == 0 {
		return nil, nil, err
	}
	if insts == nil {
		if insts, err = a.hostInstances(ctx, rpc.NewAdminContext(nowUTC())); err != nil {
			return nil, nil, err
		}
	}
	owned = map[string]bool{}
	for _, inst := range insts {
		vifs, err := parseInstanceVIFs(inst)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: info cache: %w", errUntrustedCensus, err)
		}
		for _, v := range vifs {
			owned[v.TapName()] = true
		}
	}
	if len(insts) == 0 {
		doms, err := a.c.hv.List(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", errUntrustedCensus, err)
		}
		if len(doms) > 0 {
			return nil, nil, fmt.Errorf("%w: the conductor lists no instance on host %s but libvirt has %d domains (host renamed? wrong cell?)",
				errUntrustedCensus, a.opts.Host, len(doms))
		}
	}
	return taps, owned, nil
}

// reapTaps removes orphan taps and returns how many went. Taps of an instance being built are
// safe: the build saves the info cache before it plugs.
func (a *Agent) reapTaps(ctx context.Context, insts []*instance) (int, error) {
	taps, owned, err := a.tapCensus(ctx, insts)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, tp := range taps {
		name := tp.Name
		if owned[name] {
			continue
		}
		if tp.Carrier {
			a.log.Warn("a tap no instance here owns is held open by a process (a running guest?); left", "tap", name)
			a.obs.OrphanKept("tap", "held_open")
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
	taps, owned, err := a.tapCensus(ctx, nil)
	if err != nil {
		return metrics.TapCounts{}, err
	}
	var c metrics.TapCounts
	for _, tp := range taps {
		if owned[tp.Name] {
			c.Attached++
		} else {
			c.Orphaned++
		}
	}
	return c, nil
}
