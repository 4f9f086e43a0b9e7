// Package testenv locates the real parts that component and wire tests run against
// (RabbitMQ, libvirtd, Debian's Python OpenStack modules, the test guest image).
//
// A missing part is a test failure with a message that says how to provide it, never a skip:
// a real-component test that does not run proves nothing.
package testenv

import (
	"context"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// Env variables that override the defaults `scripts/parts.sh start` provides.
const (
	EnvTransportURL = "NOVALET_TEST_TRANSPORT_URL"
	EnvLibvirtURI   = "NOVALET_TEST_LIBVIRT_URI"
	EnvGuestDir     = "NOVALET_TEST_GUEST_DIR"
)

// DefaultTransportURL is the broker and user that scripts/parts.sh creates.
const DefaultTransportURL = "rabbit://novalet:novalet-test@127.0.0.1:5672/"

// Python is Debian's interpreter: the one that has python3-nova and python3-oslo.messaging.
const Python = "/usr/bin/python3"

// RepoRoot returns the module root (the directory holding go.mod).
func RepoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("testenv: cannot locate source file")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// TransportURL returns the RabbitMQ transport_url for tests and fails the test when the
// broker does not accept TCP connections.
func TransportURL(t testing.TB) string {
	t.Helper()
	raw := os.Getenv(EnvTransportURL)
	if raw == "" {
		raw = DefaultTransportURL
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("testenv: bad %s %q: %v", EnvTransportURL, raw, err)
	}
	requireTCP(t, "RabbitMQ", u.Host)
	return raw
}

// LibvirtURI returns the libvirt URI for tests and fails the test when libvirtd's socket is absent.
func LibvirtURI(t testing.TB) string {
	t.Helper()
	uri := os.Getenv(EnvLibvirtURI)
	if uri == "" {
		uri = "qemu:///system"
		if _, err := os.Stat("/run/libvirt/libvirt-sock"); err != nil {
			t.Fatalf("testenv: libvirtd is not running (no /run/libvirt/libvirt-sock): run `make parts` (scripts/parts.sh start)")
		}
	}
	return uri
}

// GuestDir returns the directory with the test guest image (guest.qcow2, vmlinuz, initrd.img)
// and fails the test when the image has not been built.
func GuestDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv(EnvGuestDir)
	if dir == "" {
		dir = filepath.Join(RepoRoot(t), ".cache", "guest")
	}
	if _, err := os.Stat(filepath.Join(dir, "guest.qcow2")); err != nil {
		t.Fatalf("testenv: test guest image missing in %s: run `make guest` (%v)", dir, err)
	}
	return dir
}

// RequirePython fails the test unless Debian's python3 can import every module named.
func RequirePython(t testing.TB, modules ...string) {
	t.Helper()
	for _, m := range modules {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		out, err := exec.CommandContext(ctx, Python, "-c", "import "+m).CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("testenv: %s cannot import %s (install it with scripts/install-deps.sh): %v\n%s", Python, m, err, out)
		}
	}
}

// RequireRoot fails the test unless it runs as root (bridges, namespaces, libvirtd's system URI).
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("testenv: this test needs root (run `make test` as root)")
	}
}

func requireTCP(t testing.TB, what, hostport string) {
	t.Helper()
	if _, _, err := net.SplitHostPort(hostport); err != nil {
		hostport = net.JoinHostPort(hostport, "5672")
	}
	c, err := net.DialTimeout("tcp", hostport, 3*time.Second)
	if err != nil {
		t.Fatalf("testenv: %s not reachable at %s: run `make parts` (scripts/parts.sh start): %v", what, hostport, err)
	}
	c.Close()
}
