package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/novalet/novalet/internal/failpoint"

	"github.com/novalet/novalet/imagecache"
	"github.com/novalet/novalet/metrics"
	"github.com/novalet/novalet/netmodel"
	"github.com/novalet/novalet/openstack/glance"
	"github.com/novalet/novalet/rpc"
	"github.com/novalet/novalet/virt"
)

// undoStack runs the undo steps of a failed operation in reverse order.
type undoStack []func(context.Context)

func (u *undoStack) push(f func(context.Context)) { *u = append(*u, f) }

func (u undoStack) run(ctx context.Context) {
	for i := len(u) - 1; i >= 0; i-- {
		u[i](ctx)
	}
}

// runIfFailed runs the undo steps when *err is set, on a context of their own (2 minutes)
// that outlives the caller's: deferred at the top of an operation that pushes steps.
func (u *undoStack) runIfFailed(ctx context.Context, err *error) {
	if *err == nil {
		return
	}
	cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	u.run(cleanup)
}

// spawnInput is what the driver's spawn needs besides the instance.
type spawnInput struct {
	Image     map[string]any // the image dict nova-api sent
	AdminPass string
	Files     []injectedFile
	VIFs      []netmodel.VIF
	NetData   []byte // config drive network_data.json
	// ConfigDrive asks for a config drive (the caller's needsConfigDrive).
	ConfigDrive bool
}

// instanceDir is <instances_path>/<uuid>.
func (c *compute) instanceDir(uuid string) string { return filepath.Join(c.opts.InstancesPath, uuid) }

// spawn is the libvirt driver's spawn for an image-backed instance: image, overlay disk,
// config drive, domain definition, start, wait for it to run. On failure everything it made is
// undone before it returns.
func (a *Agent) spawn(ctx context.Context, rc rpc.Context, inst *instance, in spawnInput) (err error) {
	c := a.c
	uuid := inst.uuid()
	log := a.log.With("instance_uuid", uuid, "request_id", rc.RequestID())
	var undo undoStack
	defer undo.runIfFailed(ctx, &err)

	flavor, err := inst.flavor()
	if err != nil {
		return newFault("BuildAbortException", 500, err, "Build of instance %s aborted: %v", uuid, err)
	}
	if flavor.EphemeralGB > 0 || flavor.SwapMB > 0 {
		return newFault("BuildAbortException", 500, nil,
			"Build of instance %s aborted: flavor %s has ephemeral or swap disks, which novalet does not create yet", uuid, flavor.Name)
	}
	imageID, _ := in.Image["id"].(string)
	if imageID == "" {
		imageID = inst.str("image_ref")
	}
	if imageID == "" {
		return newFault("BuildAbortException", 500, nil, "Build of instance %s aborted: volume-backed instances are not supported by novalet yet", uuid)
	}

	// Interest in network-vif-plugged first: the linuxbridge agent reports a port up as soon
	// as its tap exists. Then the taps, before the image, the overlay, the config drive and the
	// domain, so the agent's detection and Neutron's event overlap them (nova allocates and
	// plugs while it prepares the disk); the wait comes after the paused start, as before.
	events := a.vifEvents(uuid, in.VIFs)
	defer func() {
		for key := range events {
			c.events.forget(uuid, key)
		}
	}()
	if len(in.VIFs) > 0 {
		if err := a.plugVIFs(ctx, in.VIFs); err != nil {
			return err
		}
		undo.push(func(ctx context.Context) { a.unplugVIFs(ctx, in.VIFs) })
	}

	dir := c.instanceDir(uuid)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("instance directory: %w", err)
	}
	undo.push(func(context.Context) {
		if err := os.RemoveAll(dir); err != nil {
			log.Error("instance directory not removed", "path", dir, "error", err)
		}
	})

	phase := time.Now()
	endpoint, err := glance.Endpoint(c.opts.Glance, rc.ServiceCatalog)
	if err != nil {
		return err
	}
	base, err := c.images.Ensure(ctx, imagecache.Request{ImageID: imageID, Endpoint: endpoint,
		Token: rc.AuthToken(), GlobalRequestID: rc.GlobalRequestID()})
	if err != nil {
		return imageFault(uuid, imageID, err)
	}
	log.Debug("image ready", "image_id", imageID, "took", time.Since(phase))
	failpoint.Hold(ctx, log, "build.image")
	a.phase(metrics.PhaseImage, phase)
	phase = time.Now()

	if _, err := c.images.CreateOverlay(ctx, base, dir, int64(flavor.RootGB)<<30); err != nil {
		return imageFault(uuid, imageID, err)
	}
	// An unshelve's disk, made on the shelve snapshot, moves onto the original image.
	if inst.str("vm_state") == vmShelvedOffloaded {
		if err := a.rebaseOntoOriginalImage(ctx, rc, inst, dir, endpoint, log); err != nil {
			return err
		}
	}
	configDrive := in.ConfigDrive
	if configDrive {
		files, err := configDriveFiles(inst, configDriveInput{AdminPass: in.AdminPass, Files: in.Files,
			NetworkData: in.NetData, DHCPDomain: c.opts.DHCPDomain, DefaultAZ: c.opts.DefaultAZ})
		if err != nil {
			return newFault("BuildAbortException", 500, err, "Build of instance %s aborted: %v", uuid, err)
		}
		if _, err := c.images.BuildConfigDrive(ctx, dir, files); err != nil {
			return fmt.Errorf("config drive: %w", err)
		}
	}

	a.phase(metrics.PhaseDisk, phase)
	failpoint.Hold(ctx, log, "build.disk")
	phase = time.Now()
	xml, err := virt.BuildDomainXML(c.domainSpec(inst, flavor, imageID, configDrive, in.VIFs))
	if err != nil {
		return newFault("BuildAbortException", 500, err, "Build of instance %s aborted: %v", uuid, err)
	}
	if err := c.hv.Define(ctx, xml); err != nil {
		return fmt.Errorf("define domain: %w", err)
	}
	a.phase(metrics.PhaseDefine, phase)
	undo.push(func(ctx context.Context) { a.destroyDomain(ctx, uuid, log) })
	failpoint.Hold(ctx, log, "build.defined")
	// The start phase is the domain's start (paused when VIF events are awaited) plus, after
	// the wait, its resume until it runs; the wait is its own phase.
	phase = time.Now()
	if err := c.hv.Start(ctx, uuid, len(events) > 0); err != nil {
		return fmt.Errorf("start domain: %w", err)
	}
	started := time.Since(phase)
	failpoint.Hold(ctx, log, "build.started")
	if len(events) > 0 {
		wait := time.Now()
		if err := a.waitVIFEvents(ctx, uuid, events); err != nil {
			return err
		}
		a.phase(metrics.PhaseVIFWait, wait)
		phase = time.Now()
		if err := c.hv.Resume(ctx, uuid); err != nil {
			return fmt.Errorf("resume domain: %w", err)
		}
	}
	if err := a.waitForPower(ctx, uuid, virt.PowerRunning); err != nil {
		return err
	}
	if len(events) > 0 {
		started += time.Since(phase)
	} else {
		started = time.Since(phase)
	}
	a.obs.ObserveSpawnPhase(metrics.PhaseStart, started)
	return nil
}

// imageFault turns an image-cache error into nova's exception: a bad image or a flavor too
// small aborts the build (ImageUnacceptable, FlavorDiskSmallerThanImage); anything else is a
// plain failure that may be rescheduled.
func imageFault(uuid, imageID string, err error) error {
	var small *imagecache.DiskTooSmallError
	switch {
	case errors.As(err, &small):
		return newFault("BuildAbortException", 500, err, "Build of instance %s aborted: %s", uuid, small.Error())
	case errors.Is(err, imagecache.ErrCorrupt), errors.Is(err, imagecache.ErrInvalid):
		return newFault("BuildAbortException", 500, err, "Build of instance %s aborted: Image %s is unacceptable: %v", uuid, imageID, err)
	}
	return err
}

// waitForPower waits until the domain reaches want (nova's _wait_for_boot): at the domain's
// lifecycle event, or at the latest at the next poll.
func (a *Agent) waitForPower(ctx context.Context, uuid string, want virt.PowerState) error {
	_, err := virt.WaitForState(ctx, a.c.hv, uuid, a.c.pollInterval(bootPoll), want)
	return err
}

// destroyDomain stops and undefines the instance's domain, tolerating one that is already off
// or gone.
func (a *Agent) destroyDomain(ctx context.Context, uuid string, log *slog.Logger) error {
	if err := a.c.hv.Destroy(ctx, uuid); err != nil && !errors.Is(err, virt.ErrConflict) && !errors.Is(err, virt.ErrNotFound) {
		log.Error("domain not destroyed", "error", err)
		return err
	}
	if err := a.c.hv.Undefine(ctx, uuid); err != nil && !errors.Is(err, virt.ErrNotFound) {
		log.Error("domain not undefined", "error", err)
		return err
	}
	return nil
}
