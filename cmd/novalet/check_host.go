package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/novalet/novalet/config"
	"github.com/novalet/novalet/virt"
)

// checkDriver checks the hypervisor [DEFAULT] compute_driver selects: libvirtd, or nothing
// for fake.FakeDriver, whose instances live in memory (libvirtd need not run).
func checkDriver(ctx context.Context, cfg *config.Config) row {
	name, err := computeDriver(cfg.Default.ComputeDriver)
	if err != nil {
		return fail("compute driver", err, "set [DEFAULT] compute_driver = libvirt.LibvirtDriver")
	}
	if name == driverFake {
		return ok("compute driver", "%s: instances are kept in memory; libvirt is not used", name)
	}
	return checkLibvirt(ctx, cfg)
}

func checkLibvirt(ctx context.Context, cfg *config.Config) row {
	const name = "libvirt"
	uri := libvirtURI(cfg.Libvirt)
	conn, err := virt.Open(ctx, uri)
	if err != nil {
		return fail(name, fmt.Errorf("%s: %w", uri, err), "start libvirtd and virtlogd (Debian: libvirt-daemon-system), or set [libvirt] connection_uri")
	}
	defer conn.Close()
	v, err := conn.Version(ctx)
	if err != nil {
		return fail(name, fmt.Errorf("%s: %w", uri, err), "check libvirtd's log")
	}
	if err := conn.CheckVirtType(ctx, cfg.Libvirt.VirtType); err != nil {
		fix := "install qemu-system-x86 and restart libvirtd"
		if cfg.Libvirt.VirtType == "kvm" {
			fix = "this host cannot run KVM guests: set [libvirt] virt_type = qemu"
		}
		return fail(name, fmt.Errorf("%s: virt_type %s: %w", uri, cfg.Libvirt.VirtType, err), fix)
	}
	return ok(name, "%s: %s; virt_type %s usable", uri, v, cfg.Libvirt.VirtType)
}

// libvirtURI is nova's choice: [libvirt] connection_uri, else qemu:///system for qemu and kvm.
func libvirtURI(l config.Libvirt) string {
	if l.ConnectionURI != "" {
		return l.ConnectionURI
	}
	switch l.VirtType {
	case "lxc":
		return "lxc:///"
	case "parallels":
		return "parallels:///system"
	}
	return "qemu:///system"
}

func checkInstancesPath(cfg *config.Config) row {
	const name = "instances_path"
	dir := cfg.Default.InstancesPath
	st, err := os.Stat(dir)
	if err != nil {
		return fail(name, err, fmt.Sprintf("mkdir -p %s", dir))
	}
	if !st.IsDir() {
		return fail(name, fmt.Errorf("%s is not a directory", dir), "set [DEFAULT] instances_path to a directory")
	}
	probe, err := os.CreateTemp(dir, ".novalet-check-*")
	if err != nil {
		return fail(name, fmt.Errorf("%s is not writable: %w", dir, err), "run novalet as root or fix the directory's owner")
	}
	probe.Close()
	os.Remove(probe.Name())
	var fs unix.Statfs_t
	if err := unix.Statfs(dir, &fs); err != nil {
		return fail(name, fmt.Errorf("statfs %s: %w", dir, err), "check the file system")
	}
	freeMB := int64(fs.Bavail) * int64(fs.Bsize) >> 20
	if freeMB < int64(cfg.Novalet.MinFreeDiskMB) {
		return fail(name, fmt.Errorf("%s has %d MiB free, below [novalet] min_free_disk_mb = %d", dir, freeMB, cfg.Novalet.MinFreeDiskMB),
			"free space under "+filepath.Dir(dir)+" or move instances_path")
	}
	return ok(name, "%s writable, %d MiB free", dir, freeMB)
}
