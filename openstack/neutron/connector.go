package neutron

import (
	"context"
	"log/slog"
	"sync"

	"github.com/novalet/novalet/config"
	"github.com/novalet/novalet/netmodel"
)

// Connector is the network API a compute manager holds: it authenticates the [neutron]
// service user on first use and keeps the Client; a failure is retried at the next use
// (Keystone or Neutron may come up after novalet). Authentication runs outside the mutex, so a
// slow Keystone holds up only the callers that need the client, never one that already has it.
type Connector struct {
	connect func(ctx context.Context) (*Client, error)

	mu sync.Mutex
	c  *Client
}

// NewConnector connects with [neutron] of nova.conf.
func NewConnector(cfg config.Neutron, log *slog.Logger) *Connector {
	return NewConnectorFunc(func(ctx context.Context) (*Client, error) { return New(ctx, cfg, log) })
}

// NewConnectorFunc connects with connect (tests point it at a test server).
func NewConnectorFunc(connect func(ctx context.Context) (*Client, error)) *Connector {
	return &Connector{connect: connect}
}

// Client returns the connected client, connecting when there is none yet. Callers racing on
// the first connection may each authenticate; the first client stored is kept.
func (k *Connector) Client(ctx context.Context) (*Client, error) {
	k.mu.Lock()
	c := k.c
	k.mu.Unlock()
	if c != nil {
		return c, nil
	}
	c, err := k.connect(ctx)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.c == nil {
		k.c = c
	}
	return k.c, nil
}

// AllocateForInstance is Client.AllocateForInstance on the connected client.
func (k *Connector) AllocateForInstance(ctx context.Context, userToken string, inst netmodel.InstanceRef, requested []netmodel.RequestedNetwork) ([]netmodel.VIF, error) {
	c, err := k.Client(ctx)
	if err != nil {
		return nil, err
	}
	return c.AllocateForInstance(ctx, userToken, inst, requested)
}

// DeallocateForInstance is Client.DeallocateForInstance on the connected client.
func (k *Connector) DeallocateForInstance(ctx context.Context, instanceUUID string, vifs []netmodel.VIF) error {
	c, err := k.Client(ctx)
	if err != nil {
		return err
	}
	return c.DeallocateForInstance(ctx, instanceUUID, vifs)
}

// SetupInstanceNetworkOnHost is Client.SetupInstanceNetworkOnHost on the connected client.
func (k *Connector) SetupInstanceNetworkOnHost(ctx context.Context, inst netmodel.InstanceRef) error {
	c, err := k.Client(ctx)
	if err != nil {
		return err
	}
	return c.SetupInstanceNetworkOnHost(ctx, inst)
}

// PortsActive is Client.PortsActive on the connected client.
func (k *Connector) PortsActive(ctx context.Context, portIDs []string) (map[string]bool, error) {
	c, err := k.Client(ctx)
	if err != nil {
		return nil, err
	}
	return c.PortsActive(ctx, portIDs)
}
