//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/novalet/novalet/internal/failpoint"
	"github.com/novalet/novalet/internal/testenv"
)

// Two fault cases of the suite (faults_test.go) that take something away from under a build
// and give it back: the broker, and the instances_path filesystem's free space.

// faultBrokerRestart holds a build after its domain definition, restarts RabbitMQ (every
// connection drops, every non-durable queue is gone), then lets the build go on: it ends
// ACTIVE, the service stays up, and a second build after the restart reaches novalet through
// the queues it declared again.
func faultBrokerRestart(t *testing.T) string {
	release := filepath.Join(t.TempDir(), "release")
	n := startNovaletEnv(t, []string{failpoint.Env + "=build.defined=" + release})
	n.waitNotify(t, "READY=1", 3*time.Minute)
	id := createServers(t, "e2e-fault-broker", "guest", 1)[0]
	eventually(t, 3*time.Minute, "the build held after its domain definition", func() bool {
		for _, r := range n.logRecords(t, failpoint.Msg) {
			if r["instance_uuid"] == id {
				return true
			}
		}
		return false
	})

	t0 := time.Now()
	testenv.RabbitMQCtl(t, "stop_app")
	testenv.RabbitMQCtl(t, "start_app")
	testenv.RabbitMQCtl(t, "await_startup", "--timeout", "60")
	outage := time.Since(t0).Round(time.Second)
	if err := os.WriteFile(release, nil, 0o600); err != nil {
		t.Fatal(err)
	}

	s := waitStatus(t, id, 3*time.Minute, "ACTIVE", "ERROR")
	if s.Status != "ACTIVE" || s.TaskState != nil {
		t.Errorf("the build held over the broker restart ended %s, task %v (fault %v), want ACTIVE", s.Status, s.TaskState, s.Fault)
	}
	checkHypervisorAgrees(t, s)
	second := buildsAndDeletes(t, "e2e-fault-broker2", "after the broker restart")
	eventually(t, 2*time.Minute, "compute service up after the broker restart", func() bool { return hostState(t, testHost) == "up" })
	deleteServer(t, id)
	n.stop(t)
	return fmt.Sprintf("held build %s after a %s restart; next build %s", s.Status, outage, second)
}

// fullLeft is what faultDiskFull leaves free on instances_path (the 10 MiB), less
// than the guest image, so the build's download into _base runs out of space.
const fullLeft = 10 << 20

// faultDiskFull mounts a small filesystem of its own on instances_path (filling the host's
// root filesystem would stop RabbitMQ and MariaDB too), fills it to leave 10 MiB and builds:
// the build ends in ERROR with a fault and leaves no partial download, directory, domain or
// allocation. Once the space is freed, a build goes ACTIVE. The census runs on the small
// filesystem; it is unmounted when the case ends.
func faultDiskFull(t *testing.T) string {
	mountSmallInstancesPath(t, 3<<30)
	n := startNovalet(t)
	n.waitNotify(t, "READY=1", 3*time.Minute)

	filler := filepath.Join(instancesPath, "e2e-filler")
	var st syscall.Statfs_t
	if err := syscall.Statfs(instancesPath, &st); err != nil {
		t.Fatal(err)
	}
	avail := int64(st.Bavail) * st.Bsize
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Fallocate(int(f.Fd()), 0, 0, avail-fullLeft); err != nil {
		f.Close()
		t.Fatalf("fallocate %d bytes: %v", avail-fullLeft, err)
	}
	f.Close()
	if err := syscall.Statfs(instancesPath, &st); err != nil {
		t.Fatal(err)
	}
	left := int64(st.Bavail) * st.Bsize

	id := createServers(t, "e2e-fault-full", "guest", 1)[0]
	s := settledServer(t, id)
	if s.Status != "ERROR" || s.Fault == nil {
		t.Errorf("a build with %d MiB free ended %s (fault %v), want ERROR with a fault", left>>20, s.Status, s.Fault)
	}
	// novalet checks the free space before it downloads (or meets ENOSPC while it writes).
	if b, _ := os.ReadFile(n.log); !strings.Contains(string(b), "no space") {
		t.Error("novalet's log never names the cause (no space)")
	}
	deleteServer(t, id)

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	freed := buildsAndDeletes(t, "e2e-fault-freed", "once instances_path had space again")
	n.stop(t)
	return fmt.Sprintf("%d MiB free: %s with a fault; freed: %s", left>>20, s.Status, freed)
}

// mountSmallInstancesPath mounts a fresh ext4 filesystem of size bytes (a sparse loop file
// under /var/tmp) on instances_path, with the directory's owner and mode, for the rest of the
// test. No server may be on the host meanwhile: what is under the mount point is hidden.
func mountSmallInstancesPath(t *testing.T, size int64) {
	t.Helper()
	fi, err := os.Stat(instancesPath)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("/var/tmp", "e2e-smallfs-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	img := filepath.Join(dir, "fs.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, size); err != nil {
		t.Fatal(err)
	}
	for _, c := range [][]string{{"mkfs.ext4", "-q", "-F", img}, {"mount", "-o", "loop", img, instancesPath}} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(c, " "), err, out)
		}
	}
	t.Cleanup(func() {
		// The loop device goes with the last unmount (mount -o loop sets autoclear).
		if out, err := exec.Command("umount", instancesPath).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v\n%s", instancesPath, err, out)
			_ = exec.Command("umount", "-l", instancesPath).Run()
		}
	})
	sys := fi.Sys().(*syscall.Stat_t)
	if err := os.Chown(instancesPath, int(sys.Uid), int(sys.Gid)); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(instancesPath, fi.Mode().Perm()); err != nil {
		t.Fatal(err)
	}
	_ = os.Remove(filepath.Join(instancesPath, "lost+found"))
}

// faultLibvirtdRestart restarts libvirtd (scripts/parts.sh restart-libvirtd) under a running
// novalet with one running guest: the guest goes on running in the same QEMU process (QEMU
// outlives libvirtd), novalet reconnects by itself, the service ends enabled, and the server
// still stops and starts.
func faultLibvirtdRestart(t *testing.T) string {
	n := startNovalet(t)
	n.waitNotify(t, "READY=1", 3*time.Minute)
	id := createServers(t, "e2e-fault-lvrestart", "guest", 1)[0]
	waitStatus(t, id, 3*time.Minute, "ACTIVE")
	name := domainName(t, id)
	before := qemuPID(t, name)
	if before == "" {
		t.Fatalf("no QEMU pid file for %s", name)
	}

	t0 := time.Now()
	parts(t, "restart-libvirtd")
	eventually(t, 2*time.Minute, "novalet reconnected to libvirt", func() bool {
		return len(n.logRecords(t, "connection to libvirt restored")) > 0
	})
	took := time.Since(t0).Round(time.Second)
	if after := qemuPID(t, name); after != before {
		t.Errorf("the guest's QEMU process changed over the libvirtd restart: pid %s, then %q", before, after)
	}
	s := showServer(t, id)
	if s.Status != "ACTIVE" {
		t.Errorf("after the libvirtd restart the server is %s (fault %v)", s.Status, s.Fault)
	}
	checkHypervisorAgrees(t, s)
	eventually(t, 2*time.Minute, "service up and enabled", func() bool {
		r := serviceStatus(t, testHost)
		return r.State == "up" && r.Status == "enabled"
	})
	serverAction(t, "stop", id)
	settle(t, id, "SHUTOFF", "stopped", 4)
	serverAction(t, "start", id)
	settle(t, id, "ACTIVE", "active", 1)
	deleteServer(t, id)
	n.stop(t)
	return fmt.Sprintf("reconnected %s after the restart; guest kept its QEMU; then SHUTOFF→ACTIVE", took)
}

// domainName is the libvirt name of the instance's domain.
func domainName(t *testing.T, id string) string {
	t.Helper()
	out, err := exec.Command("virsh", "-c", "qemu:///system", "domname", id).Output()
	if err != nil {
		t.Fatalf("virsh domname %s: %v", id, err)
	}
	return strings.TrimSpace(string(out))
}
