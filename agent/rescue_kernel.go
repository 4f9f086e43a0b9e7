package agent

import (
	"context"
	"fmt"

	"github.com/novalet/novalet/imagecache"
	"github.com/novalet/novalet/rpc"
	"github.com/novalet/novalet/virt"
)

// rescueBootFiles is the kernel and ramdisk part of nova's _create_image(suffix=".rescue"):
// with a kernel id, the kernel is fetched as is into the image cache (fetch_raw_image) and
// copied to kernel.rescue, and with a ramdisk id as well, the ramdisk to ramdisk.rescue. It
// reports which the domain boots: the kernel when fetched, the ramdisk whenever there is a
// ramdisk id (nova's _set_guest_for_rescue; without a kernel, the guest then fails to start,
// as nova's does).
func (a *Agent) rescueBootFiles(ctx context.Context, rc rpc.Context, dir, endpoint, kernelID, ramdiskID string) (kernel, ramdisk bool, err error) {
	if kernelID == "" {
		return false, ramdiskID != "", nil
	}
	for _, f := range []struct{ id, name string }{{kernelID, virt.RescueKernelFile}, {ramdiskID, virt.RescueRamdiskFile}} {
		if f.id == "" {
			continue
		}
		// An id becomes a URL path and a cache file name.
		if !isUUID(f.id) {
			return false, false, fmt.Errorf("rescue %s image %q is not an image UUID", f.name, f.id)
		}
		base, err := a.c.images.Ensure(ctx, imagecache.Request{ImageID: f.id, Endpoint: endpoint,
			Token: rc.AuthToken(), GlobalRequestID: rc.GlobalRequestID(), Raw: true})
		if err != nil {
			return false, false, fmt.Errorf("rescue %s image %s: %w", f.name, f.id, err)
		}
		if _, err := a.c.images.CopyAs(ctx, base, dir, f.name); err != nil {
			return false, false, fmt.Errorf("%s: %w", f.name, err)
		}
	}
	return true, ramdiskID != "", nil
}
