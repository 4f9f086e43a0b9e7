//go:build component

package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/novalet/novalet/internal/testenv"
)

// A SIGTERM while novalet still waits for the broker at start-up (systemctl stop of a node
// whose RabbitMQ is down) is a clean stop: exit 0, so systemd does not mark the unit failed.
// The fake driver keeps libvirtd out of it.
func TestSIGTERMWhileWaitingForTheBrokerExitsZero(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String() // nothing listens there once closed
	l.Close()
	dir := t.TempDir()
	p := filepath.Join(dir, "nova.conf")
	body := fmt.Sprintf("[DEFAULT]\nhost = sigterm-test\ncompute_driver = fake.FakeDriver\nstate_path = %s\ninstances_path = %s\n"+
		"transport_url = rabbit://nobody:nothing@%s/\n[novalet]\nmetrics_listen =\n",
		filepath.Join(dir, "state"), filepath.Join(dir, "instances"), closed)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(testenv.Novalet(t), "run", "--use-json", "--config-file", p)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	var logged strings.Builder
	retrying := make(chan struct{})
	go func() {
		s := bufio.NewScanner(out)
		once := false
		for s.Scan() {
			logged.WriteString(s.Text() + "\n")
			if !once && strings.Contains(s.Text(), "AMQP server unreachable, retrying") {
				once = true
				close(retrying)
			}
		}
		done <- cmd.Wait()
	}()
	select {
	case <-retrying:
	case err := <-done:
		t.Fatalf("novalet exited (%v) before retrying the broker:\n%s", err, logged.String())
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("novalet did not report the unreachable broker within a minute:\n%s", logged.String())
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) || err != nil {
			t.Errorf("exit after SIGTERM while waiting for the broker: %v, want 0\n%s", err, logged.String())
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("novalet still running 30 s after SIGTERM:\n%s", logged.String())
	}
}
