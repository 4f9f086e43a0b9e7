//go:build e2e

package e2e

import (
	"path/filepath"
	"testing"
	"time"
)

// The rest of the mixed-cloud matrix (issue 14): migrateBetweenNodes covers novalet →
// nova-compute cold migrate + confirm and nova-compute → novalet resize + revert; these four
// moves cover the other cells, one server going back and forth, so that each direction does
// resize + confirm, resize + revert and cold migrate + confirm against the real Debian
// service. After each one the server answers SSH on its address from the host it is on, and
// nothing of it is left on the other.

// matrixMove is one move of the matrix and how it ends.
type matrixMove struct {
	name    string   // what the log calls it
	disable string   // the host disabled in the scheduler meanwhile, so the resize leaves it
	args    []string // the openstack command
	to      string   // the host the server is on in VERIFY_RESIZE
	finish  string   // confirm or revert
	flavor  string   // the flavor after finish
}

// matrixMoves runs the four moves from where migrateBetweenNodes leaves the server: on vm2,
// test_flavor. reachable checks SSH from a host; leftOn checks a host keeps nothing of it; the
// guest at addr sees the flavor's root disk (the first move resizes it up and confirms).
func matrixMoves(t *testing.T, id, addr string, reachable func(host string), leftOn func(host string)) {
	tempFlavor(t, "e2e-mig-wide", "1", "512", "2")
	migrate := []string{"--os-compute-api-version=2.56", "server", "migrate", "--host"}
	moves := []matrixMove{
		{"resize " + node2 + " -> vm, confirm", node2, []string{computeAPI, "server", "resize", "--flavor", "e2e-mig-small", id},
			"vm", "confirm", "e2e-mig-small"},
		{"resize vm -> " + node2 + ", revert", "vm", []string{computeAPI, "server", "resize", "--flavor", "e2e-mig-wide", id},
			node2, "revert", "e2e-mig-small"},
		{"resize vm -> " + node2 + ", confirm", "vm", []string{computeAPI, "server", "resize", "--flavor", "e2e-mig-wide", id},
			node2, "confirm", "e2e-mig-wide"},
		{"cold migrate " + node2 + " -> vm, confirm", "", append(migrate, "vm", id), "vm", "confirm", "e2e-mig-wide"},
	}
	for _, m := range moves {
		start := time.Now()
		if m.disable != "" {
			setComputeService(t, m.disable, false)
		}
		_, err := run(t, 2*time.Minute, "openstack", m.args...)
		if err == nil {
			settle(t, id, "VERIFY_RESIZE", "resized", 1)
		}
		if m.disable != "" {
			setComputeService(t, m.disable, true)
		}
		if err != nil {
			t.Fatalf("%s: %v", m.name, err)
		}
		if s := showServer(t, id); s.Host != m.to {
			t.Fatalf("%s: host in VERIFY_RESIZE %q, want %s", m.name, s.Host, m.to)
		}
		moved := time.Since(start)
		serverAction(t, "resize", m.finish, id)
		settle(t, id, "ACTIVE", "active", 1)
		end := m.to
		if m.finish == "revert" {
			end = map[string]string{"vm": node2, node2: "vm"}[m.to]
		}
		t.Logf("%s: %v to VERIFY_RESIZE, %v in all", m.name, moved.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
		if s := showServer(t, id); s.Host != end {
			t.Errorf("%s: host after %s %q, want %s", m.name, m.finish, s.Host, end)
		}
		if f := serverFlavor(t, id); f != m.flavor {
			t.Errorf("%s: flavor %q, want %s", m.name, f, m.flavor)
		}
		if st, allocs, _ := migrationAllocations(t, id); st != m.finish+"ed" || len(allocs) != 0 {
			t.Errorf("%s: migration %s, its allocations %v", m.name, st, allocs)
		}
		leftOn(map[string]string{"vm": node2, node2: "vm"}[end])
		reachable(end)
		// Every flavor after the first move has a 2 GB root disk; the old mark is always there.
		checkGuestDisk(t, addr, m.name, 2, false)
	}
}

// leftOnNode returns leftOn for matrixMoves: a host keeps no domain, directory or _resize
// directory of the server.
func leftOnNode(t *testing.T, id string) func(host string) {
	return func(host string) {
		t.Helper()
		dir, domain := filepath.Join(instancesPath, id), hasDomain(t, id)
		if host == node2 {
			dir, domain = filepath.Join(node2Dir, id), node2HasDomain(t, id)
		}
		if domain || exists(dir) || exists(dir+"_resize") {
			t.Errorf("left on %s: domain %v, %s %v, %s_resize %v", host, domain, dir, exists(dir), dir, exists(dir+"_resize"))
		}
	}
}
