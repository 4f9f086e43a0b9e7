package virttest

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/novalet/novalet/internal/testenv"
	"github.com/novalet/novalet/virt"
)

// Open connects to the test libvirtd (testenv.LibvirtURI) with List restricted to prefix and
// closes the connection when the test ends. For component tests.
func Open(t *testing.T, prefix string) *virt.Conn {
	t.Helper()
	uri := testenv.LibvirtURI(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := virt.Open(ctx, uri, virt.WithNamePrefix(prefix))
	if err != nil {
		t.Fatalf("open %s: %v", uri, err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return c
}

// GuestBase is the absolute path of the test guest's qcow2 image (testenv.GuestDir).
func GuestBase(t *testing.T) string {
	t.Helper()
	base, err := filepath.Abs(filepath.Join(testenv.GuestDir(t), "guest.qcow2"))
	if err != nil {
		t.Fatal(err)
	}
	return base
}
