package agent

import (
	"context"
	"fmt"
	"os/exec"
	"time"

	"github.com/novalet/novalet/rpc"
)

// uptimeTimeout bounds the `uptime` command.
const uptimeTimeout = 10 * time.Second

// getHostUptime is what `openstack hypervisor show` asks of the node: the libvirt driver
// answers with the output of `env LANG=C uptime`.
func (a *Agent) getHostUptime(ctx context.Context, _ *rpc.Request) (any, error) {
	ctx, cancel := context.WithTimeout(ctx, uptimeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "uptime")
	cmd.Env = []string{"LANG=C", "PATH=/usr/bin:/bin"}
	out, err := cmd.Output()
	if err != nil {
		return nil, rpc.NovaError("NovaException", fmt.Sprintf("uptime failed: %v", err), nil)
	}
	return string(out), nil
}
