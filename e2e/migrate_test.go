//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/novalet/novalet/internal/failpoint"
	"github.com/novalet/novalet/internal/remotefs"
	"github.com/novalet/novalet/internal/testenv"
)

// Resize and cold migration between two compute nodes (issue 14): host vm runs the novalet
// under test, host vm2 (controlplane/node.sh) runs the same binary in its own mount and UTS
// namespaces with its own libvirtd and state_path, and the disks travel over ssh as the nova
// user, as between two real hosts.

const node2 = "vm2"

// node2Dir is vm2's state_path as seen from host vm (node.sh bind-mounts it over /var/lib/nova).
var node2Dir = "/var/tmp/novalet-node/" + node2 + "/lib/nova/instances"

// startNode2 starts vm2 with novalet (the binary under test) and stops it at the end.
func startNode2(t *testing.T, agent string) {
	t.Helper()
	script := filepath.Join(testenv.RepoRoot(t), "controlplane", "node.sh")
	bin := testenv.Novalet(t)
	nodeSh := func(args ...string) error {
		cmd := exec.Command("bash", append([]string{script}, args...)...)
		cmd.Env = append(os.Environ(), "NOVALET_BIN="+bin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Logf("node.sh %s:\n%s", strings.Join(args, " "), tail(string(out), 30))
		}
		return err
	}
	_ = nodeSh("stop", node2)
	start := time.Now()
	if err := nodeSh("start", node2, "--agent", agent); err != nil {
		t.Fatalf("node.sh start %s: %v", node2, err)
	}
	t.Logf("node.sh start %s --agent %s: %v", node2, agent, time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile("/var/log/novalet-controlplane/" + node2 + "-" + agent + ".log")
			t.Logf("%s %s log:\n%s", node2, agent, tail(string(b), 80))
		}
		if err := nodeSh("stop", node2); err != nil {
			t.Errorf("node.sh stop %s: %v", node2, err)
		}
		// Decommissioned as an operator would: the service delete also removes the node,
		// its resource provider and its host mapping, so later tests see one host again.
		for _, r := range computeServices(t) {
			if r.Host != node2 {
				continue
			}
			if _, err := run(t, 2*time.Minute, "openstack", "compute", "service", "delete", fmt.Sprint(r.ID)); err != nil {
				t.Errorf("compute service delete %s (%v): %v", node2, r.ID, err)
			}
		}
	})
}

// node2Domains lists vm2's libvirt domains (its libvirtd's socket is under the node's state).
func node2Domains(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("virsh", "-c", "qemu:///system?socket=/var/tmp/novalet-node/"+node2+"/run/libvirt/libvirt-sock",
		"list", "--all", "--uuid").Output()
	if err != nil {
		t.Fatalf("virsh list on %s: %v", node2, err)
	}
	return strings.Fields(string(out))
}

func node2HasDomain(t *testing.T, id string) bool {
	for _, d := range node2Domains(t) {
		if d == id {
			return true
		}
	}
	return false
}

// ownedByNova reports whether the instance directory and its disk.info belong to the nova
// user (the disks themselves are libvirt's while the guest runs: dynamic_ownership).
func ownedByNova(t *testing.T, dir string) bool {
	t.Helper()
	u, err := user.Lookup("nova")
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	ok := true
	for _, p := range []string{dir, filepath.Join(dir, "disk.info")} {
		info, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st, _ := info.Sys().(*syscall.Stat_t); st == nil || int(st.Uid) != uid {
			t.Logf("%s is not nova's", p)
			ok = false
		}
	}
	return ok
}

// setComputeService enables or disables a host's nova-compute service in the scheduler.
func setComputeService(t *testing.T, host string, enable bool) {
	t.Helper()
	flag := "--disable"
	if enable {
		flag = "--enable"
	}
	if _, err := run(t, time.Minute, "openstack", "compute", "service", "set", flag, host, "nova-compute"); err != nil {
		t.Fatal(err)
	}
}

// TestMigrateBetweenNodes: novalet on both nodes; the source novalet is first killed -9
// during the disk copy of a cold migration (killDuringDiskCopy), and at the end the stopped
// server migrates and stays stopped (migrateStopped).
func TestMigrateBetweenNodes(t *testing.T) { migrateBetweenNodes(t, "novalet") }

// TestMigrateMixedWithNovaCompute: novalet on vm, Debian's nova-compute on vm2: the cold
// migration goes novalet -> nova-compute, the resize nova-compute -> novalet and its revert
// back, then the rest of the matrix (migrate_matrix_test.go): resize + confirm, resize +
// revert and cold migrate + confirm each way, so each side's wire and disk layout meets the
// real other.
func TestMigrateMixedWithNovaCompute(t *testing.T) { migrateBetweenNodes(t, "nova-compute") }

// migrateBetweenNodes: a server on test_net built on vm is cold-migrated to vm2 and confirmed (nothing
// left on vm), then resized back to vm (vm2 disabled in the scheduler) and reverted (nothing
// left on vm, the old flavor on vm2), then deleted (nothing left on vm2). After each move it answers SSH on
// its address, its port bound to the host it is on.
func migrateBetweenNodes(t *testing.T, agent2 string) {
	requireControlPlane(t)
	hostOnFlatNetwork(t)
	// With novalet on both nodes, the first migration is killed -9 during the disk copy.
	var env []string
	if agent2 == "novalet" {
		env = []string{failpoint.Env + "=resize.copied"}
	}
	n := startNovaletEnv(t, env)
	n.waitNotify(t, "READY=1", 3*time.Minute)
	startNode2(t, agent2)
	tempFlavor(t, "e2e-mig-small", "1", "384", "2")

	var created struct {
		ID string `json:"id"`
	}
	openstack(t, &created, computeAPI, "server", "create", "--flavor", "test_flavor", "--image", "guest", "--network", "test_net",
		"--key-name", "test-key", "--config-drive", "True", "--availability-zone", "nova:vm", "e2e-migrate")
	id := created.ID
	trackServer(t, id)
	settle(t, id, "ACTIVE", "active", 1)
	var addrs struct {
		Addresses map[string][]string `json:"addresses"`
	}
	openstack(t, &addrs, computeAPI, "server", "show", id)
	if len(addrs.Addresses["test_net"]) != 1 {
		t.Fatalf("addresses %v", addrs.Addresses)
	}
	addr := addrs.Addresses["test_net"][0]
	sshEcho(t, addr)
	// reachable checks that the server answers SSH on its address with its port bound to host
	// and up.
	reachable := func(host string) {
		t.Helper()
		ports := serverPorts(t, id)
		if len(ports) != 1 || ports[0].BindingHost != host {
			t.Errorf("ports %+v, want one bound to %s", ports, host)
		}
		start := time.Now()
		sshEcho(t, addr)
		t.Logf("ssh %s answered on %s after %v", addr, host, time.Since(start).Round(time.Millisecond))
		eventually(t, time.Minute, "port ACTIVE", func() bool {
			p := serverPorts(t, id)
			return len(p) == 1 && p[0].Status == "ACTIVE"
		})
	}
	dir, dir2 := filepath.Join(instancesPath, id), filepath.Join(node2Dir, id)
	if agent2 == "novalet" {
		killDuringDiskCopy(t, n, id, addr, reachable)
	}

	// Cold migration vm -> vm2, then confirm.
	start := time.Now()
	if _, err := run(t, 2*time.Minute, "openstack", "--os-compute-api-version=2.56", "server", "migrate", "--host", node2, id); err != nil {
		t.Fatal(err)
	}
	settle(t, id, "VERIFY_RESIZE", "resized", 1)
	t.Logf("cold migrate vm -> %s: %v to VERIFY_RESIZE", node2, time.Since(start).Round(time.Millisecond))
	if s := showServer(t, id); s.Host != node2 {
		t.Fatalf("host after migrate: %q, want %s", s.Host, node2)
	}
	if !node2HasDomain(t, id) || !exists(filepath.Join(dir2, "disk")) || !exists(filepath.Join(dir2, "disk.config")) {
		t.Errorf("on %s: domain %v, disk %v, disk.config %v", node2, node2HasDomain(t, id),
			exists(filepath.Join(dir2, "disk")), exists(filepath.Join(dir2, "disk.config")))
	}
	if !ownedByNova(t, dir2) {
		t.Errorf("files in %s on %s not all nova's", dir2, node2)
	}
	if !exists(dir+"_resize") || exists(dir) || !hasDomain(t, id) {
		t.Errorf("on vm before confirm: %s_resize %v, %s %v, domain %v", dir, exists(dir+"_resize"), dir, exists(dir), hasDomain(t, id))
	}
	checkEvents(t, id, "migrate", "compute_prep_resize", "compute_resize_instance", "compute_finish_resize")
	start = time.Now()
	serverAction(t, "resize", "confirm", id)
	settle(t, id, "ACTIVE", "active", 1)
	t.Logf("confirm: %v", time.Since(start).Round(time.Millisecond))
	if hasDomain(t, id) || exists(dir) || exists(dir+"_resize") {
		t.Errorf("left on vm after confirm: domain %v, %s %v, %s_resize %v", hasDomain(t, id), dir, exists(dir), dir, exists(dir+"_resize"))
	}
	if st, allocs, _ := migrationAllocations(t, id); st != "confirmed" || len(allocs) != 0 {
		t.Errorf("after confirm: migration %s, its allocations %v", st, allocs)
	}
	reachable(node2)
	if got, _, _ := guestDisk(t, addr); got != 1 {
		t.Errorf("before the resize the guest sees a %.2f GiB vda, want 1 (test_flavor)", got)
	}
	writeMark(t, addr, markOld, "old")

	// Resize vm2 -> vm (vm2 disabled in the scheduler so that the resize leaves it), then revert.
	setComputeService(t, node2, false)
	t.Cleanup(func() {
		_, _ = run(t, time.Minute, "openstack", "compute", "service", "set", "--enable", node2, "nova-compute")
	})
	start = time.Now()
	serverAction(t, "resize", "--flavor", "e2e-mig-small", id)
	settle(t, id, "VERIFY_RESIZE", "resized", 1)
	t.Logf("resize %s -> vm: %v to VERIFY_RESIZE", node2, time.Since(start).Round(time.Millisecond))
	setComputeService(t, node2, true)
	if s := showServer(t, id); s.Host != "vm" {
		t.Fatalf("host after resize: %q, want vm", s.Host)
	}
	if v, m := domainVCPUs(t, id); v != 1 || m != 384*1024 {
		t.Errorf("domain on vm after resize: %d vCPUs, %d KiB", v, m)
	}
	reachable("vm")
	checkGuestDisk(t, addr, "resized to e2e-mig-small", 2, false)
	writeMark(t, addr, markNew, "new")
	if !exists(dir2 + "_resize") {
		t.Errorf("%s_resize not kept on %s", dir2, node2)
	}
	start = time.Now()
	serverAction(t, "resize", "revert", id)
	settle(t, id, "ACTIVE", "active", 1)
	t.Logf("revert: %v", time.Since(start).Round(time.Millisecond))
	if s := showServer(t, id); s.Host != node2 {
		t.Errorf("host after revert: %q, want %s", s.Host, node2)
	}
	if f := serverFlavor(t, id); f != "test_flavor" {
		t.Errorf("flavor after revert: %q", f)
	}
	if hasDomain(t, id) || exists(dir) || exists(dir+"_resize") {
		t.Errorf("left on vm after revert: domain %v, %s %v, %s_resize %v", hasDomain(t, id), dir, exists(dir), dir, exists(dir+"_resize"))
	}
	if !node2HasDomain(t, id) || exists(dir2+"_resize") || !exists(filepath.Join(dir2, "disk")) {
		t.Errorf("on %s after revert: domain %v, _resize %v, disk %v", node2, node2HasDomain(t, id), exists(dir2+"_resize"),
			exists(filepath.Join(dir2, "disk")))
	}
	checkEvents(t, id, "revertResize", "compute_revert_resize", "compute_finish_revert_resize")
	reachable(node2)
	checkGuestDisk(t, addr, "reverted", 1, false)
	if st, allocs, _ := migrationAllocations(t, id); st != "reverted" || len(allocs) != 0 {
		t.Errorf("after revert: migration %s, its allocations %v", st, allocs)
	}

	if agent2 == "nova-compute" {
		matrixMoves(t, id, addr, reachable, leftOnNode(t, id))
	} else {
		migrateStopped(t, id)
	}

	deleteServer(t, id)
	leftOnNode(t, id)("vm")
	leftOnNode(t, id)(node2)
}

// TestRemoteFSTransports: both [libvirt] remote_filesystem_transport values against vm2's
// real sshd, run as the nova user as novalet runs them: the shared-path probe's file, a
// directory, a copy each way and the removals land on vm2 (owned by nova) and go again.
func TestRemoteFSTransports(t *testing.T) {
	requireControlPlane(t)
	startNode2(t, "novalet")
	u, err := user.Lookup("nova")
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	run := remotefs.Exec(&remotefs.User{UID: uid, GID: gid, Home: u.HomeDir})
	// a directory the nova user can reach and write (t.TempDir's parents are root's, 0700)
	work, err := os.MkdirTemp("", "e2e-remotefs-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(work) })
	if err := os.Chmod(work, 0o777); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(work, "disk")
	if err := os.WriteFile(src, []byte("qcow2 bytes"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, transport := range remotefs.Transports {
		t.Run(transport, func(t *testing.T) {
			fs, err := remotefs.New(transport, run)
			if err != nil {
				t.Fatal(err)
			}
			fs.Timeout = time.Minute
			ctx := t.Context()
			dir := filepath.Join(instancesPath, "e2e-remotefs-"+transport)
			onNode2 := filepath.Join(node2Dir, filepath.Base(dir))
			if err := fs.CreateDir(ctx, "127.0.0.2", dir); err != nil {
				t.Fatal(err)
			}
			if err := fs.CreateFile(ctx, "127.0.0.2", dir+"/probe.tmp"); err != nil {
				t.Fatal(err)
			}
			if !exists(onNode2+"/probe.tmp") || exists(dir) {
				t.Fatalf("probe on vm2 %v, on vm %v", exists(onNode2+"/probe.tmp"), exists(dir))
			}
			if err := fs.RemoveFile(ctx, "127.0.0.2", dir+"/probe.tmp"); err != nil || exists(onNode2+"/probe.tmp") {
				t.Fatalf("remove_file: %v, left %v", err, exists(onNode2+"/probe.tmp"))
			}
			if err := fs.CopyFile(ctx, src, remotefs.RemotePath("127.0.0.2", dir+"/disk"), false); err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(onNode2 + "/disk"); string(b) != "qcow2 bytes" {
				t.Fatalf("copied %q", b)
			}
			if !ownedByNovaPath(t, onNode2+"/disk") {
				t.Error("the copy on vm2 is not nova's")
			}
			back := filepath.Join(work, "back-"+transport)
			if err := fs.CopyFile(ctx, remotefs.RemotePath("127.0.0.2", dir+"/disk"), back, true); err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(back); string(b) != "qcow2 bytes" {
				t.Fatalf("copied back %q", b)
			}
			if err := fs.RemoveDir(ctx, "127.0.0.2", dir); err != nil || exists(onNode2) {
				t.Fatalf("remove_dir: %v, left %v", err, exists(onNode2))
			}
		})
	}
}

func ownedByNovaPath(t *testing.T, p string) bool {
	t.Helper()
	u, err := user.Lookup("nova")
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := info.Sys().(*syscall.Stat_t)
	return st != nil && strconv.Itoa(int(st.Uid)) == u.Uid
}

// killDuringDiskCopy is issue 14's kill -9 of the source during the disk copy: a cold
// migration to vm2 holds at resize.copied (the disks on vm2, vm's aside) and novalet is
// killed there. The restarted novalet does what nova's _init_instance does for
// resize_migrating: the directory comes back, the guest starts again and the task state is
// cleared; the migration stays "migrating" with its allocation on vm, as nova leaves it. A
// hard reboot then works and the server answers SSH on vm. The stale allocation is removed
// as an operator would (openstack resource provider allocation delete), and the copy on vm2
// is left for the next migration to overwrite, as nova leaves it.
func killDuringDiskCopy(t *testing.T, n *novalet, id, addr string, reachable func(host string)) {
	t.Helper()
	start := time.Now()
	if _, err := run(t, 2*time.Minute, "openstack", "--os-compute-api-version=2.56", "server", "migrate", "--host", node2, id); err != nil {
		t.Fatal(err)
	}
	n.killWhen(t, failpoint.Msg, func(rec map[string]any) bool {
		return rec["instance_uuid"] == id && rec["failpoint"] == "resize.copied"
	})
	settle(t, id, "ACTIVE", "active", 1)
	t.Logf("killed during the disk copy, recovered on vm: %v", time.Since(start).Round(time.Millisecond))
	if s := showServer(t, id); s.Host != "vm" {
		t.Fatalf("host after the recovery: %q, want vm", s.Host)
	}
	dir := filepath.Join(instancesPath, id)
	if !hasDomain(t, id) || !exists(filepath.Join(dir, "disk")) || exists(dir+"_resize") {
		t.Errorf("on vm after the recovery: domain %v, disk %v, %s_resize %v", hasDomain(t, id),
			exists(filepath.Join(dir, "disk")), dir, exists(dir+"_resize"))
	}
	st, allocs, mig := migrationAllocations(t, id)
	if st != "migrating" || len(allocs) == 0 {
		t.Errorf("the interrupted migration is %q with allocations %v, want migrating with its allocation on vm (nova leaves it so)", st, allocs)
	}
	if len(allocs) > 0 {
		if _, err := run(t, time.Minute, "openstack", "resource", "provider", "allocation", "delete", mig); err != nil {
			t.Error(err)
		}
	}
	sshEcho(t, addr)
	serverAction(t, "reboot", "--hard", id)
	settle(t, id, "ACTIVE", "active", 1)
	reachable("vm")
}

// migrateStopped: the stopped server (on vm2) is cold-migrated to vm and confirmed, and stays
// stopped throughout: VERIFY_RESIZE with power state shutdown, its domain on vm defined and
// shut off, SHUTOFF after the confirm with nothing left on vm2 (nova's finish_migration with
// power_on false, tempest's test_resize_server_from_stopped).
func migrateStopped(t *testing.T, id string) {
	t.Helper()
	serverAction(t, "stop", id)
	settle(t, id, "SHUTOFF", "stopped", 4)
	start := time.Now()
	if _, err := run(t, 2*time.Minute, "openstack", "--os-compute-api-version=2.56", "server", "migrate", "--host", "vm", id); err != nil {
		t.Fatal(err)
	}
	settle(t, id, "VERIFY_RESIZE", "resized", 4)
	t.Logf("stopped server migrated %s -> vm: %v to VERIFY_RESIZE", node2, time.Since(start).Round(time.Millisecond))
	if s := showServer(t, id); s.Host != "vm" {
		t.Fatalf("host after migrating the stopped server: %q, want vm", s.Host)
	}
	domState := func() string {
		out, _ := exec.Command("virsh", "-c", "qemu:///system", "domstate", id).Output()
		return strings.TrimSpace(string(out))
	}
	if st := domState(); st != "shut off" {
		t.Errorf("the stopped server's domain on vm is %q, want shut off", st)
	}
	serverAction(t, "resize", "confirm", id)
	settle(t, id, "SHUTOFF", "stopped", 4)
	if st := domState(); st != "shut off" {
		t.Errorf("after the confirm the domain on vm is %q, want shut off", st)
	}
	leftOnNode(t, id)(node2)
}
