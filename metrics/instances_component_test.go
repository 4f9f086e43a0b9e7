//go:build component

package metrics

import (
	"context"
	"net"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/novalet/novalet/internal/testenv"
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
	virttest.DefineGuest(t, conn, spec, base)
	if err := conn.Start(ctx, spec.UUID, false); err != nil {
		t.Fatalf("start %s: %v", spec.Name, err)
	}

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
	infoLine := `novalet_instance_info{display_name="` + spec.DisplayName + `",flavor="` + spec.Flavor.Name + `",instance_uuid="` + id +
		`",name="` + spec.Name + `",project_id="` + spec.Owner.ProjectID + `",state="running",user_id="` + spec.Owner.UserID + `"} 1`
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
