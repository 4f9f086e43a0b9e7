package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/novalet/novalet/imagecache"
	"github.com/novalet/novalet/netmodel"
	"github.com/novalet/novalet/openstack/glance"
	"github.com/novalet/novalet/rpc"
	"github.com/novalet/novalet/virt"
)

// Rescue and unrescue: nova 26.2.2's rescue_instance / unrescue_instance with the libvirt
// driver's rescue under them. nova-api has set task_state rescuing (unrescuing). The guest is
// powered off, its definition kept in unrescue.xml, and it boots again from disk.rescue (an
// overlay on the rescue image): in a legacy rescue as its first disk, with its own disk second
// and a config drive carrying the rescue password; in a stable device rescue (the rescue image
// has hw_rescue_device or hw_rescue_bus, rescue_stable.go) as an extra device after all of its
// own. A rescue kernel and ramdisk (rescue_kernel.go) boot the guest when configured.
// Unrescue defines the kept definition back and removes the rescue files.

// nova's rescue states (nova/compute/vm_states.py, task_states.py).
const (
	vmRescued      = "rescued"
	taskRescuing   = "rescuing"
	taskUnrescuing = "unrescuing"
)

// unrescueXMLFile holds the instance's domain definition while it is rescued.
const unrescueXMLFile = "unrescue.xml"

func (a *Agent) rescueInstance(ctx context.Context, req *rpc.Request) (any, error) {
	var password, imageRef string
	var clean *bool
	for key, dst := range map[string]any{"rescue_password": &password, "rescue_image_ref": &imageRef, "clean_shutdown": &clean} {
		if raw := req.Args[key]; len(raw) > 0 {
			if err := json.Unmarshal(raw, dst); err != nil {
				return nil, rpc.NovaError("InvalidInput", "rescue_instance: "+key+": "+err.Error(), map[string]any{"code": 400})
			}
		}
	}
	// The image id becomes a URL path and a cache file name.
	if imageRef != "" && !isUUID(imageRef) {
		return nil, rpc.NovaError("InvalidInput", "rescue_instance: rescue_image_ref must be an image UUID", map[string]any{"code": 400})
	}
	return a.instanceOp(ctx, req, "compute_rescue_instance", func(ctx context.Context, rc rpc.Context, inst *instance, log *slog.Logger) (any, error) {
		return nil, a.doRescue(ctx, rc, inst, password, imageRef, clean == nil || *clean, log)
	})
}

// doRescue is nova's rescue_instance body.
func (a *Agent) doRescue(ctx context.Context, rc rpc.Context, inst *instance, password, imageRef string, clean bool, log *slog.Logger) error {
	uuid := inst.uuid()
	log.Info("rescuing")
	if password == "" {
		var err error
		if password, err = generatePassword(a.c.opts.PasswordLength); err != nil {
			return err
		}
	}
	imageID := rescueImageRef(inst, imageRef)
	if imageID == "" {
		return newFault("InstanceNotRescuable", 400, nil, "Instance %s cannot be rescued: it has no image to rescue it with (volume-backed)", uuid)
	}
	log = log.With("rescue_image_id", imageID)
	// nova's ImageMeta.from_image_ref: the rescue image's record, read before anything changes.
	greq, err := a.glanceRequest(rc, imageID)
	if err != nil {
		return err
	}
	img, err := a.c.glance.Image(ctx, greq)
	if errors.Is(err, glance.ErrNotFound) {
		return newFault("ImageNotFound", 404, err, "Image %s could not be found.", imageID)
	}
	if err != nil {
		return fmt.Errorf("rescue image %s: %w", imageID, err)
	}

	err = a.powerOff(ctx, uuid, clean, log)
	if err == nil {
		err = a.driverRescue(ctx, rc, inst, img, password, log)
	}
	if err != nil {
		// nova: any failure of the power-off or the driver puts the instance in error.
		log.Error("error trying to rescue instance", "error", err)
		if serr := a.save(ctx, rc, inst, map[string]any{"vm_state": vmError}, anyTask); serr != nil && !errors.Is(serr, errGone) {
			log.Error("could not set the instance to error", "error", serr)
		}
		return newFault("InstanceNotRescuable", 400, err, "Instance %s cannot be rescued: Driver Error: %v", uuid, err)
	}
	st, err := a.powerState(ctx, uuid)
	if err != nil {
		return err
	}
	return a.save(ctx, rc, inst, map[string]any{"vm_state": vmRescued, "task_state": nil, "power_state": int64(st),
		"launched_at": nowField()}, expectTask{taskRescuing})
}

// rescueImageRef is nova's _get_rescue_image choice: the image asked for, else the image the
// instance's image was made from (system_metadata image_base_image_ref), else its image.
func rescueImageRef(inst *instance, asked string) string {
	if asked != "" {
		return asked
	}
	if base := inst.sysmeta()["image_base_image_ref"]; base != "" {
		return base
	}
	return inst.str("image_ref")
}

// driverRescue is the libvirt driver's rescue, legacy or stable (rescue_stable.go) as the
// rescue image asks. A failure undoes what it did, so the instance keeps its own definition
// (a hard reboot then boots its own disk).
func (a *Agent) driverRescue(ctx context.Context, rc rpc.Context, inst *instance, img *glance.Image, password string, log *slog.Logger) (err error) {
	c := a.c
	uuid := inst.uuid()
	dir := c.instanceDir(uuid)
	// nova's rescue_images: the rescue image's id (always set: the manager read its record,
	// so [libvirt] rescue_image_id is never reached), and [libvirt] rescue_kernel_id /
	// rescue_ramdisk_id, else the instance's own kernel_id / ramdisk_id.
	imageID := img.ID
	kernelID, ramdiskID := c.opts.RescueKernelID, c.opts.RescueRamdiskID
	if kernelID == "" {
		kernelID = inst.str("kernel_id")
	}
	if ramdiskID == "" {
		ramdiskID = inst.str("ramdisk_id")
	}
	var undo undoStack
	defer undo.runIfFailed(ctx, &err)
	flavor, err := inst.flavor()
	if err != nil {
		return err
	}
	var stable *virt.RescueDevice
	if isStableRescue(img) {
		log.Info("attempting a stable device rescue")
		if stable, err = stableRescueDevice(img.Properties, c.opts.Domain.VirtType, c.opts.Domain.MachineType); err != nil {
			return err
		}
		// nova reads the instance's own image (ImageMeta.from_image_ref) for its mapping.
		if ref := inst.str("image_ref"); ref != "" {
			greq, err := a.glanceRequest(rc, ref)
			if err != nil {
				return err
			}
			if _, err := c.glance.Image(ctx, greq); err != nil {
				if errors.Is(err, glance.ErrNotFound) {
					return fmt.Errorf("Image %s could not be found.", ref)
				}
				return fmt.Errorf("image %s: %w", ref, err)
			}
		}
	} else {
		log.Info("attempting rescue")
	}

	original, err := c.hv.DomainXML(ctx, uuid)
	if err != nil {
		return fmt.Errorf("read the domain definition: %w", err)
	}
	keep := filepath.Join(dir, unrescueXMLFile)
	if err := os.WriteFile(keep, []byte(original), 0o644); err != nil {
		return fmt.Errorf("keep the domain definition: %w", err)
	}
	undo.push(func(context.Context) {
		if err := removeRescueFiles(dir); err != nil {
			log.Error("rescue files not removed", "error", err)
		}
	})

	endpoint, err := glance.Endpoint(c.opts.Glance, rc.ServiceCatalog)
	if err != nil {
		return err
	}
	base, err := c.images.Ensure(ctx, imagecache.Request{ImageID: imageID, Endpoint: endpoint,
		Token: rc.AuthToken(), GlobalRequestID: rc.GlobalRequestID()})
	if err != nil {
		return fmt.Errorf("rescue image %s: %w", imageID, err)
	}
	// The rescue disk has the rescue image's size: nova creates it without a size.
	if _, err := c.images.CreateOverlayAs(ctx, base, dir, virt.RescueDiskFile, 0); err != nil {
		return fmt.Errorf("rescue disk: %w", err)
	}
	hasKernel, hasRamdisk, err := a.rescueBootFiles(ctx, rc, dir, endpoint, kernelID, ramdiskID)
	if err != nil {
		return err
	}

	vifs := instanceVIFs(inst)
	configDrive := needsConfigDrive(inst, instanceImageMeta(inst), c.opts.ForceConfigDrive)
	if configDrive {
		in := configDriveInput{AdminPass: password, DHCPDomain: c.opts.DHCPDomain, DefaultAZ: c.opts.DefaultAZ}
		if len(vifs) > 0 {
			if in.NetworkData, err = netmodel.NetworkDataJSON(vifs); err != nil {
				return err
			}
		}
		files, err := configDriveFiles(inst, in)
		if err != nil {
			return err
		}
		if _, err := c.images.BuildConfigDriveAs(ctx, dir, virt.RescueConfigDriveFile, files); err != nil {
			return fmt.Errorf("rescue config drive: %w", err)
		}
	}

	// A stable rescue keeps the instance's own config drive in the domain; nova still writes
	// disk.config.rescue (its post-XML callback), unused, and so does novalet.
	spec := c.domainSpec(inst, flavor, inst.str("image_ref"), configDrive, vifs)
	spec.Rescue, spec.StableRescue = stable == nil, stable
	spec.RescueKernel, spec.RescueRamdisk = hasKernel, hasRamdisk
	xml, err := virt.BuildDomainXML(spec)
	if err != nil {
		return err
	}
	// nova's _destroy then _create_guest: the domain stays defined, its definition is
	// replaced, and the rescue guest starts (no wait for VIF events).
	if err := c.hv.Destroy(ctx, uuid); err != nil && !errors.Is(err, virt.ErrConflict) {
		return fmt.Errorf("destroy the guest: %w", err)
	}
	if err := c.hv.Define(ctx, xml); err != nil {
		return fmt.Errorf("define the rescue domain: %w", err)
	}
	undo.push(func(ctx context.Context) {
		if err := c.hv.Destroy(ctx, uuid); err != nil && !errors.Is(err, virt.ErrConflict) {
			log.Error("rescue guest not destroyed", "error", err)
		}
		if err := c.hv.Define(ctx, original); err != nil {
			log.Error("the instance's own domain definition not restored", "error", err)
		}
	})
	if err := c.hv.Start(ctx, uuid, false); err != nil {
		return fmt.Errorf("start the rescue guest: %w", err)
	}
	log.Info("instance rescued", "config_drive", configDrive, "stable", stable != nil)
	return nil
}

// instanceImageMeta is the part of instance.image_meta (the image properties kept in
// system_metadata) that nova's configdrive.required_by reads.
func instanceImageMeta(inst *instance) map[string]any {
	props := map[string]any{}
	if v := inst.sysmeta()["image_img_config_drive"]; v != "" {
		props["img_config_drive"] = v
	}
	return map[string]any{"properties": props}
}

func (a *Agent) unrescueInstance(ctx context.Context, req *rpc.Request) (any, error) {
	return a.instanceOp(ctx, req, "compute_unrescue_instance", func(ctx context.Context, rc rpc.Context, inst *instance, log *slog.Logger) (any, error) {
		log.Info("unrescuing")
		if err := a.driverUnrescue(ctx, inst.uuid(), log); err != nil {
			// nova's _error_out_instance_on_exception.
			if serr := a.save(ctx, rc, inst, map[string]any{"vm_state": vmError}, anyTask); serr != nil && !errors.Is(serr, errGone) {
				log.Error("could not set the instance to error", "error", serr)
			}
			return nil, err
		}
		st, err := a.powerState(ctx, inst.uuid())
		if err != nil {
			return nil, err
		}
		// Active whatever the instance was before the rescue, as nova.
		return nil, a.save(ctx, rc, inst, map[string]any{"vm_state": vmActive, "task_state": nil, "power_state": int64(st)},
			expectTask{taskUnrescuing})
	})
}

// driverUnrescue is the libvirt driver's unrescue: the rescue guest goes, the kept definition
// comes back and starts, and the rescue files are removed.
func (a *Agent) driverUnrescue(ctx context.Context, uuid string, log *slog.Logger) error {
	c := a.c
	dir := c.instanceDir(uuid)
	original, err := os.ReadFile(filepath.Join(dir, unrescueXMLFile))
	if err != nil {
		return fmt.Errorf("the domain definition kept at rescue: %w", err)
	}
	if err := c.hv.Destroy(ctx, uuid); err != nil && !errors.Is(err, virt.ErrConflict) {
		return fmt.Errorf("destroy the rescue guest: %w", err)
	}
	if err := c.hv.Define(ctx, string(original)); err != nil {
		return fmt.Errorf("define the instance's domain: %w", err)
	}
	if err := c.hv.Start(ctx, uuid, false); err != nil {
		return fmt.Errorf("start the guest: %w", err)
	}
	if err := removeRescueFiles(dir); err != nil {
		return err
	}
	log.Info("instance unrescued")
	return nil
}

// removeRescueFiles removes unrescue.xml and every <dir>/*.rescue, files or directories.
func removeRescueFiles(dir string) error {
	if err := os.Remove(filepath.Join(dir, unrescueXMLFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", unrescueXMLFile, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("instance directory: %w", err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".rescue") {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return fmt.Errorf("remove %s: %w", e.Name(), err)
			}
		}
	}
	return nil
}
