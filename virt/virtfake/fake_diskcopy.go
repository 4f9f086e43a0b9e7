package virtfake

import (
	"context"
	"fmt"
	"os"

	"github.com/novalet/novalet/virt"
)

// CopyDisk implements virt.Hypervisor: the fake copies the disk's source file byte for byte
// (the fake's qcow2 overlays are headers naming their backing file, so this is what a shallow
// copy of them is), with libvirtd's refusals: a shut-off domain, an unknown target, an
// existing destination.
func (f *Fake) CopyDisk(ctx context.Context, id, target, dst string) error {
	if err := f.begin(ctx, "CopyDisk"); err != nil {
		return err
	}
	defer f.mu.Unlock()
	d, err := f.domain("CopyDisk", id)
	if err != nil {
		return err
	}
	if d.state != virt.PowerRunning && d.state != virt.PowerPaused {
		return fmt.Errorf("virtfake: CopyDisk %s: domain is not running: %w", id, virt.ErrConflict)
	}
	src := ""
	if d.def.Devices != nil {
		for _, disk := range d.def.Devices.Disks {
			if disk.Target != nil && disk.Target.Dev == target && disk.Source != nil && disk.Source.File != nil {
				src = disk.Source.File.File
			}
		}
	}
	if src == "" {
		return fmt.Errorf("virtfake: CopyDisk %s: no disk %s: %w", id, target, virt.ErrNotFound)
	}
	if _, err := os.Lstat(dst); err == nil {
		return fmt.Errorf("virtfake: CopyDisk %s: %s exists: %w", id, dst, virt.ErrConflict)
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("virtfake: CopyDisk %s: %w: %w", id, virt.ErrInvalid, err)
	}
	if err := os.WriteFile(dst, data, 0o600); err != nil {
		_ = os.Remove(dst)
		return fmt.Errorf("virtfake: CopyDisk %s: %w", id, err)
	}
	return nil
}

// AbortDiskCopy implements virt.Hypervisor. The fake's copies end within CopyDisk, so there
// is never one to abort.
func (f *Fake) AbortDiskCopy(ctx context.Context, id, target string) error {
	if err := f.begin(ctx, "AbortDiskCopy"); err != nil {
		return err
	}
	defer f.mu.Unlock()
	_, err := f.domain("AbortDiskCopy", id)
	return err
}
