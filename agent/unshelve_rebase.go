package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/novalet/novalet/imagecache"
	"github.com/novalet/novalet/rpc"
)

// rebaseOntoOriginalImage is nova 26.2.2's _rebase_original_qcow2_image, which the libvirt
// driver's _create_and_inject_local_root runs after creating the root disk whenever the
// instance is SHELVED_OFFLOADED (an unshelve: the disk was made on the shelve snapshot) and
// the image backend is Qcow2 (novalet's only one). The disk's backing file becomes the base of
// the instance's original image (system_metadata image_base_image_ref), fetched into the cache
// if need be, so the shelve snapshot, which unshelve then deletes, backs nothing. When Glance
// no longer has the original image, the disk is flattened instead. (nova crashes on an
// instance without image_base_image_ref; novalet flattens.)
func (a *Agent) rebaseOntoOriginalImage(ctx context.Context, rc rpc.Context, inst *instance, dir, endpoint string, log *slog.Logger) error {
	c := a.c
	original := inst.sysmeta()["image_base_image_ref"]
	base := ""
	switch {
	case original == "":
		log.Warn("no image_base_image_ref to rebase the unshelved disk onto; flattening it")
	case !isUUID(original):
		return fmt.Errorf("image_base_image_ref %q is not an image UUID", original)
	default:
		var err error
		base, err = c.images.Ensure(ctx, imagecache.Request{ImageID: original, Endpoint: endpoint,
			Token: rc.AuthToken(), GlobalRequestID: rc.GlobalRequestID()})
		if errors.Is(err, imagecache.ErrNotFound) {
			log.Warn("Current disk image is created on top of a snapshot image and cannot be rebased to original image "+
				"because it is no longer available in the image service, disk will be consequently flattened.",
				"image_id", original)
			base = ""
		} else if err != nil {
			return fmt.Errorf("original image %s for the rebase: %w", original, err)
		}
	}
	log.Info("Rebasing disk image.", "backing_file", base)
	if err := c.images.RebaseDisk(ctx, dir, base); err != nil {
		return fmt.Errorf("rebase the unshelved disk: %w", err)
	}
	return nil
}
