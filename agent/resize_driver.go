package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/uuid"
	"github.com/novalet/novalet/imagecache"
	"github.com/novalet/novalet/internal/failpoint"
	"github.com/novalet/novalet/internal/remotefs"
	"github.com/novalet/novalet/netmodel"
	"github.com/novalet/novalet/openstack/glance"
	"github.com/novalet/novalet/rpc"
	"github.com/novalet/novalet/rpc/ovo"
	"github.com/novalet/novalet/virt"
)

// The libvirt driver's side of a same-host resize: migrate_disk_and_power_off,
// finish_migration, confirm_migration (_cleanup_resize) and finish_revert_migration.

// resizeDirSuffix is what nova appends to the instance directory the source keeps until the
// resize is confirmed or reverted.
const resizeDirSuffix = "_resize"

// resizeDir is <instances_path>/<uuid>_resize.
func (c *compute) resizeDir(uuid string) string { return c.instanceDir(uuid) + resizeDirSuffix }

// migratedFiles are the instance files nova's migrate_disk_and_power_off copies (the disks
// in the domain's XML, then disk.info); anything else is made again on the destination.
var migratedFiles = []struct{ name, format string }{{"disk", "qcow2"}, {virt.ConfigDriveFile, "raw"}}

// diskInfoEntry is one disk of the disk_info JSON string the source sends finish_resize.
type diskInfoEntry struct {
	Type                  string `json:"type"`
	Path                  string `json:"path"`
	VirtDiskSize          int64  `json:"virt_disk_size"`
	BackingFile           string `json:"backing_file"`
	DiskSize              int64  `json:"disk_size"`
	OverCommittedDiskSize int64  `json:"over_committed_disk_size"`
}

// migrateDiskAndPowerOff is the libvirt driver's migrate_disk_and_power_off: no shrinking;
// the instance path checked for sharing with the destination (_is_path_shared_with) and, when
// not shared, made there over ssh; the guest powered off and its taps removed; the instance
// directory renamed to <uuid>_resize and its disks (disk, disk.config) and disk.info copied
// back into a new one, on this host or on the destination (remotefs). It returns disk_info.
func (a *Agent) migrateDiskAndPowerOff(ctx context.Context, inst *instance, args resizeArgs, vifs []netmodel.VIF, log *slog.Logger) (string, error) {
	id := inst.uuid()
	cur, err := inst.flavor()
	if err != nil {
		return "", err
	}
	newRoot, _ := ovo.Value[int64](args.flavor, "root_gb")
	newEph, _ := ovo.Value[int64](args.flavor, "ephemeral_gb")
	if newRoot < int64(cur.RootGB) || newEph < int64(cur.EphemeralGB) {
		return "", &rollbackError{newFault("ResizeError", 500, nil, "Resize error: Unable to resize disk down.")}
	}
	dir, aside := a.c.instanceDir(id), a.c.resizeDir(id)
	dest := args.mig.str("dest_host")
	shared := a.isPathSharedWith(ctx, dest, dir, log)
	if !shared {
		if a.c.remote == nil {
			return "", &rollbackError{newFault("MigrationPreCheckError", 400, nil,
				"Migration pre-check error: no remote filesystem to copy disks to %s", dest)}
		}
		if err := a.c.remote.CreateDir(ctx, dest, dir); err != nil {
			return "", &rollbackError{newFault("ResizeError", 500, err, "Resize error: not able to execute ssh command: %v", err)}
		}
	}
	if err := a.powerOff(ctx, id, args.clean, log); err != nil {
		return "", fmt.Errorf("power off: %w", err)
	}
	a.unplugVIFs(ctx, vifs)

	disks, err := instanceDiskInfo(dir)
	if err != nil {
		return "", err
	}
	copyTo := ""
	if !shared {
		copyTo = dest
	}
	if err := os.RemoveAll(aside); err != nil {
		return "", fmt.Errorf("leftover %s: %w", aside, err)
	}
	if err := os.Rename(dir, aside); err != nil {
		return "", fmt.Errorf("move the instance directory aside: %w", err)
	}
	if err := a.copyInstanceFiles(ctx, copyTo, dir, aside, disks); err != nil {
		a.cleanupRemoteMigration(ctx, copyTo, dir, aside, log)
		return "", err
	}
	// The disks are on the destination and the source's are aside (the fault suite's kill -9
	// during the copy lands here).
	failpoint.Hold(ctx, log, "resize.copied")
	info, err := json.Marshal(disks)
	if err != nil {
		return "", err
	}
	log.Info("guest powered off and disks copied for the resize", "disks", len(disks), "dest_host", dest, "shared", shared)
	return string(info), nil
}

// instanceDiskInfo is the libvirt driver's _get_instance_disk_info for novalet's file disks,
// in the domain's order: the root disk, then the config drive.
func instanceDiskInfo(dir string) ([]diskInfoEntry, error) {
	var disks []diskInfoEntry
	for _, f := range migratedFiles {
		path := filepath.Join(dir, f.name)
		facts, err := imagecache.ReadDiskFacts(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("disk info of %s: %w", path, err)
		}
		e := diskInfoEntry{Type: f.format, Path: path, VirtDiskSize: facts.VirtualSize, DiskSize: facts.ActualSize}
		if f.format == "qcow2" && facts.BackingFile != "" {
			e.BackingFile = filepath.Base(facts.BackingFile)
		}
		if f.format == "qcow2" {
			e.OverCommittedDiskSize = max(0, facts.VirtualSize-facts.ActualSize)
		}
		disks = append(disks, e)
	}
	return disks, nil
}

// copyInstanceFiles copies the disks and disk.info from aside to dir, on host (over remotefs)
// or on this host when host is "" (a new dir, then nova's cp). The swap disk is never copied.
func (a *Agent) copyInstanceFiles(ctx context.Context, host, dir, aside string, disks []diskInfoEntry) error {
	if host == "" {
		return copyBack(dir, aside, disks)
	}
	type file struct {
		name     string
		compress bool
	}
	var files []file
	for _, d := range disks {
		// NO_COMPRESSION_TYPES: qcow2 goes as it is.
		files = append(files, file{filepath.Base(d.Path), d.Type != "qcow2"})
	}
	if _, err := os.Stat(filepath.Join(aside, "disk.info")); err == nil {
		files = append(files, file{"disk.info", true})
	}
	for _, f := range files {
		if f.name == "disk.swap" {
			continue
		}
		src, dst := filepath.Join(aside, f.name), remotefs.RemotePath(host, filepath.Join(dir, f.name))
		if err := a.c.remote.CopyFile(ctx, src, dst, f.compress); err != nil {
			return fmt.Errorf("copy %s to %s: %w", f.name, host, err)
		}
	}
	return nil
}

// cleanupRemoteMigration is the libvirt driver's _cleanup_remote_migration after a failed
// copy: the directory goes back where it was and, when the destination is another host, what
// was made there is removed. Failures are logged (nova ignores them).
func (a *Agent) cleanupRemoteMigration(ctx context.Context, host, dir, aside string, log *slog.Logger) {
	ctx = context.WithoutCancel(ctx)
	if _, err := os.Stat(aside); err != nil {
		return
	}
	if err := os.RemoveAll(dir); err != nil {
		log.Error("half-copied instance directory not removed", "path", dir, "error", err)
		return
	}
	if err := os.Rename(aside, dir); err != nil {
		log.Error("instance directory not moved back", "path", aside, "error", err)
		return
	}
	if host != "" {
		if err := a.c.remote.RemoveDir(ctx, host, dir); err != nil {
			log.Error("instance directory on the destination not removed", "host", host, "path", dir, "error", err)
		}
	}
}

// isPathSharedWith is the libvirt driver's _is_path_shared_with: the same address, or a file
// made on dest over ssh that this host then sees. Any failure means not shared.
func (a *Agent) isPathSharedWith(ctx context.Context, dest, path string, log *slog.Logger) bool {
	if dest == a.opts.Resources.MyIP {
		return true
	}
	if a.c.remote == nil {
		return false
	}
	probe := filepath.Join(path, strings.ReplaceAll(uuid.NewString(), "-", "")+".tmp")
	if err := a.c.remote.CreateFile(ctx, dest, probe); err != nil {
		log.Debug("instance path not shared with the destination", "dest_host", dest, "error", err)
		return false
	}
	if _, err := os.Stat(probe); err == nil {
		_ = os.Remove(probe)
		return true
	}
	if err := a.c.remote.RemoveFile(ctx, dest, probe); err != nil {
		log.Warn("shared-storage probe file not removed on the destination", "dest_host", dest, "path", probe, "error", err)
	}
	return false
}

// copyBack makes dir again and copies the disks and disk.info from aside into it.
func copyBack(dir, aside string, disks []diskInfoEntry) error {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return fmt.Errorf("instance directory: %w", err)
	}
	names := []string{"disk.info"}
	for _, d := range disks {
		names = append(names, filepath.Base(d.Path))
	}
	for _, name := range names {
		if err := copyFile(filepath.Join(aside, name), filepath.Join(dir, name)); err != nil {
			if name == "disk.info" && errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return fmt.Errorf("copy %s: %w", name, err)
		}
	}
	return nil
}

// copyFile is nova's local copy_image (cp): the file's bytes and mode.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, st.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}

// finishMigration is the libvirt driver's finish_migration: the root disk's backing file in
// this host's image cache (from Glance, or copied from the source host when Glance no longer
// has the image: _create_image's fallback_from_host), the copied root disk grown to the new
// flavor's root_gb (when the flavor changed), the config drive kept, the domain defined with
// the instance's (new) flavor, the taps made, and the guest started when it ran before; no
// wait for network-vif-plugged (vifs_already_plugged).
func (a *Agent) finishMigration(ctx context.Context, rc rpc.Context, inst *instance, source string, resized, powerOn bool, vifs []netmodel.VIF, log *slog.Logger) error {
	flavor, err := inst.flavor()
	if err != nil {
		return err
	}
	dir := a.c.instanceDir(inst.uuid())
	if source != a.opts.Host {
		if err := a.ensureBackingFile(ctx, rc, inst, source, log); err != nil {
			return err
		}
	}
	if resized && flavor.RootGB > 0 {
		if err := a.c.images.GrowDisk(ctx, dir, int64(flavor.RootGB)<<30); err != nil {
			return fmt.Errorf("grow the root disk: %w", err)
		}
	}
	if err := a.defineAndStart(ctx, inst, flavor, powerOn, vifs, false); err != nil {
		return err
	}
	log.Info("guest defined with the new flavor", "flavor", flavor.Name, "vcpus", flavor.VCPUs,
		"memory_mb", flavor.MemoryMB, "root_gb", flavor.RootGB, "started", powerOn)
	return nil
}

// ensureBackingFile makes sure the copied root disk's backing file exists here: the image
// cache fetches the instance's image from Glance; when Glance does not have it any more, the
// base file is copied from the source host (nova's copy_image with receive=True).
func (a *Agent) ensureBackingFile(ctx context.Context, rc rpc.Context, inst *instance, source string, log *slog.Logger) error {
	disk := filepath.Join(a.c.instanceDir(inst.uuid()), "disk")
	facts, err := imagecache.ReadDiskFacts(disk)
	if err != nil {
		return fmt.Errorf("root disk %s: %w", disk, err)
	}
	if facts.BackingFile == "" {
		return nil
	}
	imageID := inst.str("image_ref")
	endpoint, err := glance.Endpoint(a.c.opts.Glance, rc.ServiceCatalog)
	if err != nil {
		return err
	}
	base, err := a.c.images.Ensure(ctx, imagecache.Request{ImageID: imageID, Endpoint: endpoint,
		Token: rc.AuthToken(), GlobalRequestID: rc.GlobalRequestID()})
	if err == nil {
		if base != facts.BackingFile {
			log.Warn("the image cache's base is not the disk's backing file", "base", base, "backing_file", facts.BackingFile)
		}
		return nil
	}
	if !errors.Is(err, imagecache.ErrNotFound) || a.c.remote == nil {
		return imageFault(inst.uuid(), imageID, err)
	}
	if _, serr := os.Stat(facts.BackingFile); serr == nil {
		return nil
	}
	log.Info("image not in Glance; copying the base file from the source host", "image_id", imageID, "source", source)
	if cerr := a.c.remote.CopyFile(ctx, remotefs.RemotePath(source, facts.BackingFile), facts.BackingFile, true); cerr != nil {
		return fmt.Errorf("base file %s from %s (Glance: %v): %w", facts.BackingFile, source, err, cerr)
	}
	return nil
}

// defineAndStart defines the instance's domain from its directory and flavor, makes its taps,
// and starts it when asked, waiting until it runs. With waitVIFs, the ports Neutron does not
// report active are waited for (network-vif-plugged), the guest paused meanwhile, as nova's
// _create_guest_with_network does.
func (a *Agent) defineAndStart(ctx context.Context, inst *instance, flavor flavorInfo, powerOn bool, vifs []netmodel.VIF, waitVIFs bool) error {
	id := inst.uuid()
	var events map[string]<-chan extEvent
	if waitVIFs && powerOn {
		events = a.vifEvents(id, vifs)
		defer func() {
			for key := range events {
				a.c.events.forget(id, key)
			}
		}()
	}
	_, statErr := os.Stat(filepath.Join(a.c.instanceDir(id), virt.ConfigDriveFile))
	if len(vifs) > 0 {
		if err := a.plugVIFs(ctx, vifs); err != nil {
			return err
		}
	}
	xml, err := virt.BuildDomainXML(a.c.domainSpec(inst, flavor, inst.str("image_ref"), statErr == nil, vifs))
	if err != nil {
		return err
	}
	if err := a.c.hv.Define(ctx, xml); err != nil {
		return fmt.Errorf("define domain: %w", err)
	}
	if !powerOn {
		return nil
	}
	if err := a.c.hv.Start(ctx, id, len(events) > 0); err != nil && !errors.Is(err, virt.ErrConflict) {
		return fmt.Errorf("start domain: %w", err)
	}
	if len(events) > 0 {
		if err := a.waitVIFEvents(ctx, id, events); err != nil {
			return err
		}
		if err := a.c.hv.Resume(ctx, id); err != nil {
			return fmt.Errorf("resume domain: %w", err)
		}
	}
	return a.waitForPower(ctx, id, virt.PowerRunning)
}

// cleanupResize is the libvirt driver's _cleanup_resize: the directory kept aside goes and,
// when the instance now lives on another host, the old domain is undefined; after a resize on
// this host the domain, already the resized one, stays.
func (a *Agent) cleanupResize(ctx context.Context, inst *instance, log *slog.Logger) error {
	uuid := inst.uuid()
	if err := os.RemoveAll(a.c.resizeDir(uuid)); err != nil {
		return fmt.Errorf("remove %s: %w", a.c.resizeDir(uuid), err)
	}
	if inst.str("host") != a.opts.Host {
		if err := a.destroyDomain(ctx, uuid, log); err != nil {
			return fmt.Errorf("undefine the source domain: %w", err)
		}
		// nova's unplug_vifs here is os-vif's linux_bridge unplug, which does nothing; the
		// taps went at migrate_disk_and_power_off. A tap of the same name may now be the
		// destination's (two nodes in one network namespace): it is not touched.
	}
	return nil
}

// finishRevertMigration is the libvirt driver's finish_revert_migration: the directory kept
// aside replaces the resized one, and the domain is defined again with the instance's
// (restored) flavor and started when it ran before the resize.
func (a *Agent) finishRevertMigration(ctx context.Context, inst *instance, powerOn bool, vifs []netmodel.VIF, waitVIFs bool, log *slog.Logger) error {
	id := inst.uuid()
	dir, aside := a.c.instanceDir(id), a.c.resizeDir(id)
	if _, err := os.Stat(aside); err == nil {
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("remove the resized instance directory: %w", err)
		}
		if err := os.Rename(aside, dir); err != nil {
			return fmt.Errorf("move the instance directory back: %w", err)
		}
	}
	flavor, err := inst.flavor()
	if err != nil {
		return err
	}
	if err := a.defineAndStart(ctx, inst, flavor, powerOn, vifs, waitVIFs); err != nil {
		return err
	}
	log.Info("guest back on its old flavor", "flavor", flavor.Name, "started", powerOn)
	return nil
}
