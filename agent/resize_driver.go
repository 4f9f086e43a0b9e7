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

	"github.com/novalet/novalet/netmodel"
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

// migrateDiskAndPowerOff is the libvirt driver's migrate_disk_and_power_off for a destination
// on this host (dest_host is my_ip, so the path counts as shared): no shrinking, the guest
// powered off and its taps removed, the instance directory renamed to <uuid>_resize and its
// disks copied back into a new one. It returns disk_info.
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
	if dest := args.mig.str("dest_host"); dest != a.opts.Resources.MyIP {
		return "", &rollbackError{newFault("ResizeError", 500, nil,
			"Resize error: novalet moves disks only on this host (%s), not to %s", a.opts.Resources.MyIP, dest)}
	}
	if err := a.powerOff(ctx, id, args.clean, log); err != nil {
		return "", fmt.Errorf("power off: %w", err)
	}
	a.unplugVIFs(ctx, vifs)

	dir, aside := a.c.instanceDir(id), a.c.resizeDir(id)
	var disks []diskInfoEntry
	for _, f := range migratedFiles {
		st, err := os.Stat(filepath.Join(dir, f.name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("disk info: %w", err)
		}
		disks = append(disks, diskInfoEntry{Type: f.format, Path: filepath.Join(dir, f.name), DiskSize: st.Size(),
			VirtDiskSize: st.Size()})
	}
	if err := os.RemoveAll(aside); err != nil {
		return "", fmt.Errorf("leftover %s: %w", aside, err)
	}
	if err := os.Rename(dir, aside); err != nil {
		return "", fmt.Errorf("move the instance directory aside: %w", err)
	}
	if err := copyBack(dir, aside, disks); err != nil {
		// _cleanup_remote_migration: the directory goes back where it was.
		if rerr := os.RemoveAll(dir); rerr != nil {
			log.Error("half-copied instance directory not removed", "path", dir, "error", rerr)
		} else if rerr := os.Rename(aside, dir); rerr != nil {
			log.Error("instance directory not moved back", "path", aside, "error", rerr)
		}
		return "", err
	}
	info, err := json.Marshal(disks)
	if err != nil {
		return "", err
	}
	log.Info("guest powered off and disks copied for the resize", "disks", len(disks))
	return string(info), nil
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

// finishMigration is the libvirt driver's finish_migration on this host: the copied root disk
// grown to the new flavor's root_gb (when the flavor changed), the config drive kept, the
// domain defined again with the instance's (new) flavor, the taps made, and the guest started
// when it ran before; no wait for network-vif-plugged (vifs_already_plugged).
func (a *Agent) finishMigration(ctx context.Context, inst *instance, resized, powerOn bool, vifs []netmodel.VIF, log *slog.Logger) error {
	flavor, err := inst.flavor()
	if err != nil {
		return err
	}
	dir := a.c.instanceDir(inst.uuid())
	if resized && flavor.RootGB > 0 {
		if err := a.c.images.GrowDisk(ctx, dir, int64(flavor.RootGB)<<30); err != nil {
			return fmt.Errorf("grow the root disk: %w", err)
		}
	}
	if err := a.defineAndStart(ctx, inst, flavor, powerOn, vifs); err != nil {
		return err
	}
	log.Info("guest defined with the new flavor", "flavor", flavor.Name, "vcpus", flavor.VCPUs,
		"memory_mb", flavor.MemoryMB, "root_gb", flavor.RootGB, "started", powerOn)
	return nil
}

// defineAndStart defines the instance's domain from its directory and flavor, makes its taps,
// and starts it when asked, waiting until it runs.
func (a *Agent) defineAndStart(ctx context.Context, inst *instance, flavor flavorInfo, powerOn bool, vifs []netmodel.VIF) error {
	id := inst.uuid()
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
	if err := a.c.hv.Start(ctx, id, false); err != nil && !errors.Is(err, virt.ErrConflict) {
		return fmt.Errorf("start domain: %w", err)
	}
	return a.waitForPower(ctx, id, virt.PowerRunning)
}

// cleanupResize is the libvirt driver's _cleanup_resize for a resize on this host: the
// directory kept aside goes; the domain, already the resized one, stays.
func (a *Agent) cleanupResize(uuid string) error {
	if err := os.RemoveAll(a.c.resizeDir(uuid)); err != nil {
		return fmt.Errorf("remove %s: %w", a.c.resizeDir(uuid), err)
	}
	return nil
}

// finishRevertMigration is the libvirt driver's finish_revert_migration: the directory kept
// aside replaces the resized one, and the domain is defined again with the instance's
// (restored) flavor and started when it ran before the resize.
func (a *Agent) finishRevertMigration(ctx context.Context, inst *instance, powerOn bool, vifs []netmodel.VIF, log *slog.Logger) error {
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
	if err := a.defineAndStart(ctx, inst, flavor, powerOn, vifs); err != nil {
		return err
	}
	log.Info("guest back on its old flavor", "flavor", flavor.Name, "started", powerOn)
	return nil
}
