//go:build component

package virt_test

import (
	"context"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"libvirt.org/go/libvirtxml"

	"github.com/novalet/novalet/internal/testenv"
	"github.com/novalet/novalet/virt"
	"github.com/novalet/novalet/virt/virttest"
)

// privateLibvirtd is a libvirtd of the test's own, which the test may stop and start: a
// session daemon run as user nova with its socket, state, logs and domains under one
// directory, so the shared libvirtd at /run/libvirt that other tests use is never touched.
// Its guests run as nova and QEMU TCG.
type privateLibvirtd struct {
	dir  string
	uid  uint32
	gid  uint32
	gids []uint32
	cmd  *exec.Cmd
	done chan error
}

// privateLibvirtdUser owns the private daemon: Debian's nova user, in group libvirt.
const privateLibvirtdUser = "nova"

func startPrivateLibvirtd(t *testing.T) *privateLibvirtd {
	t.Helper()
	testenv.RequireRoot(t)
	if _, err := exec.LookPath("libvirtd"); err != nil {
		if _, err := os.Stat("/usr/sbin/libvirtd"); err != nil {
			t.Fatalf("libvirtd not installed: %v", err)
		}
	}
	u, err := user.Lookup(privateLibvirtdUser)
	if err != nil {
		t.Fatalf("user %s (the private libvirtd's owner): %v", privateLibvirtdUser, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	p := &privateLibvirtd{uid: uint32(uid), gid: uint32(gid)}
	groups, _ := u.GroupIds()
	for _, g := range groups {
		if n, err := strconv.Atoi(g); err == nil {
			p.gids = append(p.gids, uint32(n))
		}
	}
	// Not t.TempDir(): its 0700 parent would keep user nova out.
	p.dir, err = os.MkdirTemp("/var/tmp", "nlv-") // short: QEMU monitor socket paths must fit in 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(p.dir) })
	for _, d := range []string{"r", "c", "k", "d", "i"} {
		if err := os.MkdirAll(filepath.Join(p.dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := chownTree(p.dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p.start(t)
	t.Cleanup(func() {
		p.stop(t)
		// The session's virtlogd, spawned on demand by libvirtd.
		if raw, err := os.ReadFile(filepath.Join(p.dir, "r", "libvirt", "virtlogd.pid")); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(raw))); err == nil && pid > 1 {
				_ = syscall.Kill(pid, syscall.SIGTERM)
			}
		}
	})
	return p
}

func chownTree(root string, uid, gid int) error {
	return filepath.Walk(root, func(path string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, uid, gid)
	})
}

// socket is the daemon's read-write socket.
func (p *privateLibvirtd) socket() string {
	return filepath.Join(p.dir, "r", "libvirt", "libvirt-sock")
}

// URI connects to the private daemon.
func (p *privateLibvirtd) URI() string { return "qemu:///session?socket=" + p.socket() }

// start runs libvirtd and waits until its socket exists.
func (p *privateLibvirtd) start(t *testing.T) {
	t.Helper()
	_ = os.Remove(p.socket())
	log, err := os.OpenFile(filepath.Join(p.dir, "libvirtd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	cmd := exec.Command("/usr/sbin/libvirtd")
	cmd.Dir = p.dir
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + p.dir, "USER=" + privateLibvirtdUser,
		"XDG_RUNTIME_DIR=" + filepath.Join(p.dir, "r"), "XDG_CONFIG_HOME=" + filepath.Join(p.dir, "c"),
		"XDG_CACHE_HOME=" + filepath.Join(p.dir, "k"), "XDG_DATA_HOME=" + filepath.Join(p.dir, "d"),
		"LIBVIRT_LOG_OUTPUTS=3:stderr"}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: p.uid, Gid: p.gid, Groups: p.gids}, Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start private libvirtd: %v", err)
	}
	p.cmd, p.done = cmd, make(chan error, 1)
	go func() { p.done <- cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(p.socket()); err == nil {
			return
		}
		select {
		case err := <-p.done:
			p.cmd = nil
			out, _ := os.ReadFile(filepath.Join(p.dir, "libvirtd.log"))
			t.Fatalf("private libvirtd exited at start: %v\n%s", err, out)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("private libvirtd's socket %s did not appear within 60s", p.socket())
		}
	}
}

// stop ends libvirtd (SIGTERM, SIGKILL after 30 s) and waits for it.
func (p *privateLibvirtd) stop(t *testing.T) {
	t.Helper()
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Errorf("private libvirtd ignored SIGTERM for 30s; killed")
	}
	p.cmd = nil
}

// TestConnReconnectsAfterLibvirtdRestart runs the connection conformance test on *virt.Conn
// with a private libvirtd stopped and started again: the close callback reports the loss,
// calls fail with ErrDisconnected, the connection reopens by itself, and a lifecycle
// subscription made before the restart receives the events of a guest started after it.
func TestConnReconnectsAfterLibvirtdRestart(t *testing.T) {
	base := virttest.GuestBase(t)
	p := startPrivateLibvirtd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	c, err := virt.Open(ctx, p.URI(), virt.WithNamePrefix(virttest.ListedPrefix))
	if err != nil {
		t.Fatalf("open %s: %v", p.URI(), err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	instances := filepath.Join(p.dir, "i")
	virttest.RunConnection(t, c, virttest.Outage{
		Break:   func(t *testing.T) { p.stop(t) },
		Restore: func(t *testing.T) { p.start(t) },
	}, func(t *testing.T, name, id string) string {
		return sessionDomainXML(t, base, instances, name, id, int(p.uid), int(p.gid))
	})
	if t.Failed() {
		out, _ := os.ReadFile(filepath.Join(p.dir, "libvirtd.log"))
		t.Logf("private libvirtd log (tail):\n%s", tail(string(out), 40))
	}
}

// sessionDomainXML is the conformance guest on an overlay owned by the daemon's user.
func sessionDomainXML(t *testing.T, base, instances, name, id string, uid, gid int) string {
	t.Helper()
	spec := virttest.TestSpec(name, id, instances)
	if err := os.MkdirAll(spec.InstanceDir, 0o755); err != nil {
		t.Fatal(err)
	}
	disk := filepath.Join(spec.InstanceDir, virt.DiskFile)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", disk).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img create overlay: %v\n%s", err, out)
	}
	if err := chownTree(spec.InstanceDir, uid, gid); err != nil {
		t.Fatal(err)
	}
	d, err := virt.BuildDomain(spec)
	if err != nil {
		t.Fatal(err)
	}
	d.Features.TCG = &libvirtxml.DomainFeatureTCG{TBCache: &libvirtxml.DomainFeatureTCGTBCache{Unit: "MiB", Size: 32}}
	x, err := d.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
