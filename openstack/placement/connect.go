package placement

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/gophercloud/gophercloud/v2"

	"github.com/novalet/novalet/config"
	"github.com/novalet/novalet/openstack/keystone"
)

// Connect authenticates the [placement] service user and finds Placement's endpoint, as nova's
// report client does with keystoneauth.
func Connect(ctx context.Context, ks config.Keystone, log *slog.Logger) (*Client, error) {
	pc, err := keystone.NewServiceSession(ctx, "placement", ks)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPlacement, err)
	}
	url, err := keystone.Endpoint(pc, ks.Adapter, "placement")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPlacement, err)
	}
	return New(&gophercloud.ServiceClient{ProviderClient: pc, Endpoint: url}, log), nil
}
