package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/novalet/novalet/imagecache"
	"github.com/novalet/novalet/rpc"
)

// The image cache manager is nova's _run_image_cache_manager_pass, every [image_cache]
// manager_interval: the images of this host's instances (image_ref, kernel_id, ramdisk_id of
// every instance not deleted, soft-deleted ones included, as nova's filter has it) are in use,
// and the image cache prunes the other base files per [image_cache]
// remove_unused_base_images and remove_unused_original_minimum_age_seconds. The cache itself
// counts each removed file into the metrics (its Observer); the pass is timed as a periodic task.

// imageCacheManagerTask names the pass in the periodic-task metrics, as nova names it.
const imageCacheManagerTask = "run_image_cache_manager_pass"

func (a *Agent) imageCacheManagerLoop(ctx context.Context) {
	if a.c == nil {
		return
	}
	a.periodic(ctx, imageCacheManagerTask, a.c.opts.ImageCacheManagerInterval, func(ctx context.Context) error {
		_, err := a.runImageCacheManagerPass(ctx)
		return err
	})
}

// runImageCacheManagerPass is one pass. If this host's instances cannot be listed, nothing is
// pruned: an empty in-use set would make every base file look unused.
func (a *Agent) runImageCacheManagerPass(ctx context.Context) (imagecache.PruneResult, error) {
	insts, err := a.hostInstances(ctx, rpc.NewAdminContext(nowUTC()))
	if err != nil {
		return imagecache.PruneResult{}, fmt.Errorf("image cache manager: not pruning: %w", err)
	}
	inUse := imagesInUse(insts)
	start := time.Now()
	res, err := a.c.images.Prune(ctx, inUse, start)
	if err != nil {
		return res, fmt.Errorf("image cache manager: %w", err)
	}
	log := a.log.Debug
	if len(res.Removed) > 0 {
		log = a.log.Info
	}
	log("image cache manager pass done", "instances", len(insts), "images_in_use", len(inUse),
		"removed", len(res.Removed), "freed_bytes", res.FreedBytes, "bases_in_use", res.InUse,
		"bases_too_young", res.TooYoung, "took", time.Since(start).Round(time.Millisecond).String())
	return res, nil
}

// imagesInUse is the set of image ids the instances use: image_ref, kernel_id and ramdisk_id.
func imagesInUse(insts []*instance) map[string]bool {
	inUse := make(map[string]bool, len(insts))
	for _, inst := range insts {
		for _, key := range []string{"image_ref", "kernel_id", "ramdisk_id"} {
			if id := inst.str(key); id != "" {
				inUse[id] = true
			}
		}
	}
	return inUse
}
