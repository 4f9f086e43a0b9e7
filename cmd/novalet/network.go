package main

import (
	"context"
	"time"

	"github.com/novalet/novalet/agent"
	"github.com/novalet/novalet/config"
	"github.com/novalet/novalet/metrics"
	"github.com/novalet/novalet/netplug"
)

// taps adapts netplug to the agent's TapPlugger and counts the outcomes.
type taps struct {
	p netplug.Plugger
	m *metrics.Metrics
}

func (t taps) Plug(ctx context.Context, portID, networkID string, mtu int) error {
	err := t.p.Plug(ctx, netplug.VIF{PortID: portID, NetworkID: networkID, MTU: mtu})
	t.m.TapOperation(metrics.TapPlug, metrics.ResultOf(err))
	return err
}

func (t taps) Unplug(ctx context.Context, portID string) error {
	err := t.p.Unplug(ctx, portID)
	t.m.TapOperation(metrics.TapUnplug, metrics.ResultOf(err))
	return err
}

func (t taps) Taps(ctx context.Context) ([]string, error) {
	list, err := t.p.List(ctx)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(list))
	for _, tp := range list {
		names = append(names, tp.Name)
	}
	return names, nil
}

func (t taps) RemoveTap(ctx context.Context, name string) error {
	err := t.p.RemoveTap(ctx, name)
	t.m.TapOperation(metrics.TapUnplug, metrics.ResultOf(err))
	return err
}

var _ agent.TapPlugger = taps{}

// networkOptions maps nova.conf onto the agent's networking.
func networkOptions(cfg *config.Config) agent.NetworkOptions {
	d := cfg.Default
	return agent.NetworkOptions{
		Neutron:            cfg.Neutron,
		VIFPluggingTimeout: time.Duration(d.VIFPluggingTimeout) * time.Second,
		VIFPluggingIsFatal: d.VIFPluggingIsFatal,
		AvailabilityZone:   d.DefaultAvailabilityZone,
	}
}
