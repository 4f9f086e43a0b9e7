//go:build e2e

// Package e2e drives novalet against the project's loopback Zed control plane
// (controlplane/start.sh) with the `openstack` CLI and nova-manage, as an operator would.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/novalet/novalet/internal/testenv"
)

// adminEnv is controlplane/admin-openrc.
var adminEnv = []string{
	"OS_PROJECT_DOMAIN_NAME=Default", "OS_USER_DOMAIN_NAME=Default", "OS_PROJECT_NAME=admin",
	"OS_USERNAME=admin", "OS_PASSWORD=000000", "OS_AUTH_URL=http://controller:5000/v3",
	"OS_IDENTITY_API_VERSION=3", "OS_IMAGE_API_VERSION=2", "OS_REGION_NAME=RegionOne",
	"no_proxy=controller,localhost,127.0.0.1", "NO_PROXY=controller,localhost,127.0.0.1",
}

// computeConf is the compute node's nova.conf the control plane bring-up writes.
const computeConf = "/etc/nova/nova.conf"

func run(t *testing.T, timeout time.Duration, name string, args ...string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), adminEnv...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, &cmdError{args: append([]string{name}, args...), err: err, stderr: stderr.String()}
	}
	return out, nil
}

type cmdError struct {
	args   []string
	err    error
	stderr string
}

func (e *cmdError) Error() string {
	return strings.Join(e.args, " ") + ": " + e.err.Error() + ": " + strings.TrimSpace(e.stderr)
}

// openstack runs the CLI with -f json and decodes the answer into out.
func openstack(t *testing.T, out any, args ...string) {
	t.Helper()
	b, err := run(t, 2*time.Minute, "openstack", append(args, "-f", "json")...)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("openstack %v: %v\n%s", args, err, b)
	}
}

// requireControlPlane fails unless Keystone answers and Debian's nova-compute is not running
// (novalet takes the host's place), and makes sure the fixtures the tests use exist.
func requireControlPlane(t *testing.T) {
	t.Helper()
	testenv.RequireRoot(t)
	c, err := net.DialTimeout("tcp", "127.0.0.1:5000", 3*time.Second)
	if err != nil {
		t.Fatal("the control plane is not running (Keystone :5000): run `make controlplane`")
	}
	c.Close()
	if _, err := os.Stat(computeConf); err != nil {
		t.Fatalf("%s missing: run `make controlplane`", computeConf)
	}
	if pid := hostNovaCompute(); pid != "" {
		t.Fatalf("Debian's nova-compute is running as this host's compute service (pid %s): stop it first (controlplane/stop.sh nova-compute)", pid)
	}
	testenv.ControlPlaneFixtures(t)
}

// hostNovaCompute returns the PID of a Debian nova-compute serving this host: one in this
// mount namespace that reads /etc/nova/nova.conf. Another node's (controlplane/node.sh, its
// own mount namespace) and a bench's fake nodes (their own config files) do not count.
func hostNovaCompute() string {
	out, _ := exec.Command("pgrep", "-f", "bin/nova-compute").Output()
	self, _ := os.Readlink("/proc/self/ns/mnt")
	for _, pid := range strings.Fields(string(out)) {
		if ns, err := os.Readlink("/proc/" + pid + "/ns/mnt"); err != nil || ns != self {
			continue
		}
		raw, err := os.ReadFile("/proc/" + pid + "/cmdline")
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
		ownConf := slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--config-file") })
		if !ownConf || slices.Contains(args, computeConf) || slices.Contains(args, "--config-file="+computeConf) {
			return pid
		}
	}
	return ""
}

// novalet is a running `novalet run` with a NOTIFY_SOCKET the test reads.
type novalet struct {
	cmd    *exec.Cmd
	notify *net.UnixConn
	log    string
	start  time.Time
	exited chan error
}

// startNovalet runs novalet on the compute nova.conf; extra, when given, is INI text written to
// a second --config-file that overrides it (as a drop-in would).
func startNovalet(t *testing.T, extra ...string) *novalet {
	t.Helper()
	return startNovaletEnv(t, nil, extra...)
}

// startNovaletEnv is startNovalet with env added to the process's environment (e.g.
// NOVALET_FAILPOINTS).
func startNovaletEnv(t *testing.T, env []string, extra ...string) *novalet {
	t.Helper()
	dir := t.TempDir()
	// --use-json: the tests read records back as JSON lines (configWarnings, logRecords); without
	// it novalet prints oslo.log's text format on stdout, as nova-compute does.
	args := []string{"run", "--use-json", "--config-file", computeConf}
	if len(extra) > 0 {
		p := filepath.Join(dir, "override.conf")
		if err := os.WriteFile(p, []byte(strings.Join(extra, "\n")), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--config-file", p)
	}
	sock := filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "novalet.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(testenv.Novalet(t), args...)
	cmd.Env = append(append(os.Environ(), env...), "NOTIFY_SOCKET="+sock)
	cmd.Stdout, cmd.Stderr = logf, logf
	n := &novalet{cmd: cmd, notify: conn, log: logPath, start: time.Now(), exited: make(chan error, 1)}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { n.exited <- cmd.Wait(); logf.Close() }()
	t.Cleanup(func() {
		n.stop(t)
		conn.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("novalet log:\n%s", tail(string(b), 60))
		}
	})
	return n
}

// waitNotify waits for a sd_notify message containing want.
func (n *novalet) waitNotify(t *testing.T, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 4096)
	for time.Now().Before(deadline) {
		n.notify.SetReadDeadline(time.Now().Add(time.Second))
		k, _, err := n.notify.ReadFromUnix(buf)
		if err == nil && strings.Contains(string(buf[:k]), want) {
			return
		}
		select {
		case err := <-n.exited:
			n.exited <- err
			t.Fatalf("novalet exited before %q: %v", want, err)
		default:
		}
	}
	t.Fatalf("no %q from novalet within %s", want, timeout)
}

// stop sends SIGTERM and waits for a clean exit (idempotent).
func (n *novalet) stop(t *testing.T) {
	t.Helper()
	if n.cmd.ProcessState != nil {
		return
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-n.exited:
		n.exited <- err
		if err != nil {
			t.Errorf("novalet exit after SIGTERM: %v", err)
		}
	case <-time.After(90 * time.Second):
		_ = n.cmd.Process.Kill()
		t.Error("novalet did not stop within 90s of SIGTERM")
	}
}

// configWarnings lists the options novalet warned about at start-up as unknown or deprecated,
// sorted.
func (n *novalet) configWarnings(t *testing.T) []string { return n.configRecords(t, "config") }

// configRecords lists the options of the start-up records with message msg, sorted.
func (n *novalet) configRecords(t *testing.T, msg string) []string {
	t.Helper()
	b, err := os.ReadFile(n.log)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		var rec struct {
			Msg    string `json:"msg"`
			Option string `json:"option"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == msg {
			out = append(out, rec.Option)
		}
	}
	sort.Strings(out)
	return out
}

func tail(s string, lines int) string {
	l := strings.Split(s, "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

// eventually polls cond until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(time.Second)
	}
	return time.Since(start)
}
