//go:build component

package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/novalet/novalet/internal/testenv"
)

// checkConf writes a nova.conf for the preflight with the given transport_url and virt_type.
func checkConf(t *testing.T, transportURL, virtType string) string {
	t.Helper()
	dir := t.TempDir()
	inst := filepath.Join(dir, "instances")
	if err := os.Mkdir(inst, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "nova.conf")
	body := fmt.Sprintf("[DEFAULT]\ntransport_url = %s\ninstances_path = %s\n[libvirt]\nvirt_type = %s\nconnection_uri = %s\n",
		transportURL, inst, virtType, testenv.LibvirtURI(t))
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// rowOf returns the table line of one check.
func rowOf(t *testing.T, out, name string) string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, name+" ") {
			return l
		}
	}
	t.Fatalf("no %q row in:\n%s", name, out)
	return ""
}

func TestCheckLiveParts(t *testing.T) {
	testenv.RequireRoot(t)
	url := testenv.TransportURL(t)
	code, out, _ := runCLI("check", "--config-file", checkConf(t, url, "qemu"))
	for _, name := range []string{"config", "libvirt", "instances_path", "rabbitmq"} {
		if r := rowOf(t, out, name); !strings.Contains(r, " OK ") {
			t.Errorf("%s row not OK: %s", name, r)
		}
	}
	if r := rowOf(t, out, "rabbitmq"); !strings.Contains(r, `vhost "/"`) {
		t.Errorf("rabbitmq row does not name the vhost: %s", r)
	}
	// No Keystone here: those rows fail, so the exit status says so.
	if r := rowOf(t, out, "keystone [placement]"); !strings.Contains(r, "FAIL") || !strings.Contains(r, "fix:") {
		t.Errorf("keystone row: %s", r)
	}
	if code != 1 {
		t.Errorf("exit %d with failing rows, want 1", code)
	}
	if strings.Contains(out, "novalet-test") {
		t.Errorf("the broker password is shown:\n%s", out)
	}
}

func TestCheckDeadAndRefusingRabbit(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.TransportURL(t) // the live broker, for the bad-password case
	// A port nothing listens on: bind one, note it, close it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	code, out, _ := runCLI("check", "--config-file", checkConf(t, "rabbit://novalet:topsecret@"+dead+"/", "qemu"))
	r := rowOf(t, out, "rabbitmq")
	if code != 1 || !strings.Contains(r, "FAIL") || !strings.Contains(r, "fix: start RabbitMQ on "+dead) {
		t.Errorf("dead broker: exit %d row %s", code, r)
	}
	if strings.Contains(out, "topsecret") {
		t.Errorf("password shown:\n%s", out)
	}

	_, out, _ = runCLI("check", "--config-file", checkConf(t, "rabbit://novalet:wrong-password@127.0.0.1:5672/", "qemu"))
	r = rowOf(t, out, "rabbitmq")
	if !strings.Contains(r, "FAIL") || !strings.Contains(r, "user and password") || strings.Contains(out, "wrong-password") {
		t.Errorf("bad password row: %s", r)
	}

	_, out, _ = runCLI("check", "--config-file", checkConf(t, "rabbit://novalet:novalet-test@127.0.0.1:5672/no-such-vhost", "qemu"))
	if r = rowOf(t, out, "rabbitmq"); !strings.Contains(r, "FAIL") || !strings.Contains(r, "add_vhost") {
		t.Errorf("missing vhost row: %s", r)
	}
}

func TestCheckRefusesKVMOnThisHost(t *testing.T) {
	testenv.RequireRoot(t)
	_, out, _ := runCLI("check", "--config-file", checkConf(t, testenv.TransportURL(t), "kvm"))
	if r := rowOf(t, out, "libvirt"); !strings.Contains(r, "FAIL") || !strings.Contains(r, "virt_type = qemu") {
		t.Errorf("kvm on a host without vmx/svm: %s", r)
	}
}
