//go:build component

package metrics

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"libvirt.org/go/libvirtxml"

	"github.com/novalet/novalet/internal/testenv"
	"github.com/novalet/novalet/virt"
	"github.com/novalet/novalet/virt/virttest"
)

// TestScrapeRealGuestCPUSeconds is the acceptance test on real parts: novalet's
// metrics server, watching libvirtd, serves non-zero CPU seconds for a running TCG guest.
func TestScrapeRealGuestCPUSeconds(t *testing.T) {
	testenv.RequireRoot(t)
	base := virttest.GuestBase(t)
	prefix := virttest.NamePrefix + "metrics-"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	conn := virttest.Open(t, prefix)

	id := uuid.NewString()
	spec := virttest.TestSpec(prefix+id[:8], id, t.TempDir())
	bootGuest(t, conn, spec, base)

	// A loaded 2-core machine answers slowly; the deadline is the production one's order.
	m := New(Options{Version: "component-test", ScrapeTimeout: 20 * time.Second})
	if err := m.WatchInstances(conn); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- m.ServeListener(sctx, ln) }()
	defer func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()

	cpuLine := regexp.MustCompile(`(?m)^novalet_instance_cpu_seconds_total\{instance_uuid="` + id + `"\} (\S+)$`)
	infoLine := `novalet_instance_info{instance_uuid="` + id + `",name="` + spec.Name + `",state="running"} 1`
	var body string
	deadline := time.Now().Add(120 * time.Second)
	for {
		body = scrape(t, "http://"+ln.Addr().String())
		if mm := cpuLine.FindStringSubmatch(body); mm != nil {
			v, err := strconv.ParseFloat(mm[1], 64)
			if err != nil {
				t.Fatalf("cpu seconds %q: %v", mm[1], err)
			}
			if v > 0 {
				t.Logf("cpu seconds of %s: %v", spec.Name, v)
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no non-zero novalet_instance_cpu_seconds_total for %s within 120 s; scrape:\n%s", id, body)
		}
		time.Sleep(time.Second)
	}
	for _, want := range []string{
		infoLine,
		`novalet_instance_memory_configured_bytes{instance_uuid="` + id + `"} 1.34217728e+08`,
		`novalet_instance_disk_read_bytes_total{device="vda",instance_uuid="` + id + `"}`,
	} {
		if !regexp.MustCompile(regexp.QuoteMeta(want)).MatchString(body) {
			t.Errorf("scrape lacks %s", want)
		}
	}
}

// bootGuest defines and starts the test guest for spec on a qcow2 overlay of base, and
// registers its removal.
func bootGuest(t *testing.T, c *virt.Conn, spec virt.DomainSpec, base string) {
	t.Helper()
	if err := os.MkdirAll(spec.InstanceDir, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2",
		filepath.Join(spec.InstanceDir, virt.DiskFile)).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img create overlay: %v\n%s", err, out)
	}
	d, err := virt.BuildDomain(spec)
	if err != nil {
		t.Fatal(err)
	}
	// QEMU's default 1 GiB TCG code cache would dwarf a 128 MiB test guest.
	d.Features.TCG = &libvirtxml.DomainFeatureTCG{TBCache: &libvirtxml.DomainFeatureTCGTBCache{Unit: "MiB", Size: 32}}
	x, err := d.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Define(ctx, x); err != nil {
		t.Fatalf("define %s: %v", spec.Name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
		defer cancel()
		if err := c.Destroy(ctx, spec.UUID); err != nil && !errors.Is(err, virt.ErrConflict) && !errors.Is(err, virt.ErrNotFound) {
			t.Errorf("cleanup: destroy %s: %v", spec.Name, err)
		}
		if err := c.Undefine(ctx, spec.UUID); err != nil && !errors.Is(err, virt.ErrNotFound) {
			t.Errorf("cleanup: undefine %s: %v", spec.Name, err)
		}
	})
	if err := c.Start(ctx, spec.UUID, false); err != nil {
		t.Fatalf("start %s: %v", spec.Name, err)
	}
}
