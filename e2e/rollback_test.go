//go:build e2e

package e2e

import (
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Rolling a node back (issue 16, item 7): novalet boots a server, the operator stops novalet and
// starts Debian's nova-compute again, which runs as user nova. nova-compute stops, starts and
// deletes that server; this works only because what novalet wrote under state_path and
// instances_path belongs to nova. Then nova-compute stops and novalet takes the host back.

// novaIDs is user nova's uid and gid.
func novaIDs(t *testing.T) (uint32, uint32) {
	t.Helper()
	u, err := user.Lookup("nova")
	if err != nil {
		t.Fatalf("user nova: %v (Debian's nova-common creates it)", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return uint32(uid), uint32(gid)
}

// requireNovaOwned fails for each path that is not owned by uid:gid.
func requireNovaOwned(t *testing.T, uid, gid uint32, paths ...string) {
	t.Helper()
	for _, p := range paths {
		fi, err := os.Lstat(p)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		st := fi.Sys().(*syscall.Stat_t)
		if st.Uid != uid || st.Gid != gid {
			t.Errorf("%s is owned by %d:%d, want nova (%d:%d)", p, st.Uid, st.Gid, uid, gid)
		}
	}
}

func TestRollbackToDebianNovaCompute(t *testing.T) {
	requireControlPlane(t)
	host, _ := os.Hostname()
	uid, gid := novaIDs(t)

	// A fresh image, so that its base file is downloaded by novalet in this test.
	img := uploadImage(t, "e2e-rollback-"+strconv.FormatInt(time.Now().Unix(), 10), guestImage(t), "qcow2")
	n := startNovalet(t)
	n.waitNotify(t, "READY=1", 3*time.Minute)
	// --host: another node (controlplane/node.sh) may be up; the server must be this host's.
	var created struct {
		ID string `json:"id"`
	}
	openstack(t, &created, computeAPI, "server", "create", "--flavor", "test_flavor", "--image", img,
		"--nic", "none", "--host", host, "e2e-rollback")
	id := created.ID
	trackServer(t, id)
	s := waitStatus(t, id, bootTimeout, "ACTIVE", "ERROR")
	if s.Status != "ACTIVE" || s.Host != host {
		t.Fatalf("novalet did not build the server: %s on %q, fault %v", s.Status, s.Host, s.Fault)
	}
	n.stop(t)

	// What nova-compute, as user nova, must be able to write: state_path, compute_id (nova
	// 2023.1 reads and writes it as nova), instances_path, _base (its .part downloads), the
	// instance directory and disk.info. Not the disk and its base file: libvirt's DAC driver
	// gives the whole backing chain to qemu.conf's user while a guest runs and does not give a
	// base file back, under nova-compute as under novalet (nova touches base files through
	// privsep and ignores EACCES). Not console.log either: virtlogd's.
	statePath := filepath.Dir(instancesPath)
	dir := filepath.Join(instancesPath, id)
	if !exists(baseFile(img)) {
		t.Errorf("no base file %s for image %s", baseFile(img), img)
	}
	requireNovaOwned(t, uid, gid, statePath, filepath.Join(statePath, "compute_id"), instancesPath,
		filepath.Join(instancesPath, "_base"), dir, filepath.Join(dir, "disk.info"))
	if t.Failed() {
		t.FailNow()
	}

	debian := startDebianNovaCompute(t)
	eventually(t, 3*time.Minute, "Debian's nova-compute up", func() bool { return hostState(t, host) == "up" })
	s = showServer(t, id)
	if s.Status != "ACTIVE" || s.Host != host {
		t.Fatalf("server under nova-compute: %+v", s)
	}
	serverAction(t, "stop", id)
	settle(t, id, "SHUTOFF", "stopped", 4)
	serverAction(t, "start", id)
	settle(t, id, "ACTIVE", "active", 1)
	for _, action := range []string{"stop", "start"} {
		checkEvent(t, id, action, "compute_"+action+"_instance")
	}
	deleteServer(t, id)
	if hasDomain(t, id) || exists(dir) {
		t.Error("nova-compute's delete left the domain or the instance directory")
	}
	if lines := debian.logLines(t, "Permission denied", "PermissionError"); len(lines) > 0 {
		t.Errorf("nova-compute met files it may not write:\n%s", tail(strings.Join(lines, "\n"), 20))
	}
	debian.stop(t)

	// novalet is back, and finds the node as nova-compute left it.
	n = startNovalet(t)
	n.waitNotify(t, "READY=1", 3*time.Minute)
	eventually(t, 90*time.Second, "novalet up again", func() bool { return hostState(t, host) == "up" })
	if got := countRows(t, "compute", "service", "list", "--service", "nova-compute", "--host", host); got != 1 {
		t.Errorf("%d nova-compute services of host %s after the round trip, want 1", got, host)
	}
}
