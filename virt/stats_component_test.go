//go:build component

package virt_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/novalet/novalet/internal/testenv"
	"github.com/novalet/novalet/virt"
	"github.com/novalet/novalet/virt/virttest"
)

// TestDomainStatsOfBootedGuest boots the test guest with a disk and a NIC on a tap the test
// makes, and reads its bulk stats once it has booted: CPU time, memory, the disk's reads and
// the DHCP requests the guest sent. A shut-off domain and a domain outside the prefix show how
// DomainStats filters and what it reports for a stopped instance.
func TestDomainStatsOfBootedGuest(t *testing.T) {
	testenv.RequireRoot(t)
	base := virttest.GuestBase(t)
	prefix := virttest.NamePrefix + "stats-"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c := virttest.Open(t, prefix)

	instances := t.TempDir()
	tap := "nvt" + strings.ReplaceAll(uuid.NewString(), "-", "")[:8]
	makeTap(t, tap)
	running := uuid.NewString()
	runningSpec := virttest.TestSpec(prefix+running[:8], running, instances)
	runningSpec.VIFs = []virt.VIF{{PortID: uuid.NewString(), MAC: "fa:16:3e:00:00:01", TapName: tap}}
	virttest.DefineGuest(t, c, runningSpec, base)
	stopped := uuid.NewString()
	virttest.DefineGuest(t, c, virttest.TestSpec(prefix+stopped[:8], stopped, instances), base)
	outside := uuid.NewString()
	virttest.DefineGuest(t, c, virttest.TestSpec(virttest.NamePrefix+"other-"+outside[:8], outside, instances), base)

	if err := c.Start(ctx, running, false); err != nil {
		t.Fatalf("start: %v", err)
	}
	waitForConsole(t, filepath.Join(runningSpec.InstanceDir, virt.ConsoleLogFile), guestReadyLine, 300*time.Second)

	// The guest's DHCP client keeps sending; wait until the tap has carried some of it.
	var got map[string]virt.DomainStats
	deadline := time.Now().Add(120 * time.Second)
	for {
		sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
		stats, err := c.DomainStats(sctx)
		scancel()
		if err != nil {
			t.Fatalf("DomainStats: %v", err)
		}
		got = map[string]virt.DomainStats{}
		for _, s := range stats {
			got[s.UUID] = s
		}
		if r := got[running]; len(r.NICs) == 1 && r.NICs[0].TxPackets > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(2 * time.Second)
	}

	if len(got) != 2 {
		t.Errorf("DomainStats reported %d domains under %s, want 2: %+v", len(got), prefix, got)
	}
	if _, ok := got[outside]; ok {
		t.Errorf("DomainStats reported %s, outside the prefix", outside)
	}
	r := got[running]
	t.Logf("running guest: %+v", r)
	if r.State != virt.PowerRunning || r.VCPUs != 1 || r.CPUTime <= 0 || r.MemoryMax != 128<<20 ||
		r.MemoryRSS == 0 || r.Incomplete {
		t.Errorf("running guest stats %+v: want running, 1 vCPU, CPU time, 128 MiB configured, a resident set, complete", r)
	}
	if len(r.Disks) != 1 || r.Disks[0].Device != "vda" || r.Disks[0].ReadBytes == 0 || r.Disks[0].ReadReqs == 0 {
		t.Errorf("disks %+v: want vda with the reads of a boot", r.Disks)
	}
	if len(r.NICs) != 1 || r.NICs[0].Device != tap || r.NICs[0].TxPackets == 0 || r.NICs[0].TxBytes == 0 {
		t.Errorf("NICs %+v: want %s with the guest's DHCP requests sent", r.NICs, tap)
	}
	s := got[stopped]
	if s.State != virt.PowerShutdown || s.MemoryMax != 128<<20 || s.CPUTime != 0 || s.VCPUs != 0 ||
		len(s.Disks) != 0 || len(s.NICs) != 0 || s.Incomplete {
		t.Errorf("shut-off domain stats %+v: want configuration only", s)
	}

	expired, ecancel := context.WithCancel(ctx)
	ecancel()
	if _, err := c.DomainStats(expired); err == nil {
		t.Error("DomainStats with an ended context succeeded")
	}
}

// makeTap creates an up, unattached tap for a type='ethernet' NIC and registers its removal.
func makeTap(t *testing.T, name string) {
	t.Helper()
	ip := func(args ...string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
		if err != nil {
			return errors.New(strings.TrimSpace(string(out)) + ": " + err.Error())
		}
		return nil
	}
	if err := ip("tuntap", "add", "dev", name, "mode", "tap"); err != nil {
		t.Fatalf("create tap %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := ip("link", "del", "dev", name); err != nil {
			t.Errorf("cleanup: delete tap %s: %v", name, err)
		}
	})
	if err := ip("link", "set", "dev", name, "up"); err != nil {
		t.Fatalf("set tap %s up: %v", name, err)
	}
}

// waitForConsole polls the serial console log until it holds line.
func waitForConsole(t *testing.T, path, line string, deadline time.Duration) {
	t.Helper()
	start := time.Now()
	var data []byte
	for time.Since(start) < deadline {
		data, _ = os.ReadFile(path) // absent until virtlogd opens it
		if strings.Contains(string(data), line) {
			t.Logf("%q after %.1fs", line, time.Since(start).Seconds())
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	if len(data) > 4096 {
		data = data[len(data)-4096:]
	}
	t.Fatalf("no %q in %s within %s; console tail:\n%s", line, path, deadline, data)
}
