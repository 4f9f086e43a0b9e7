//go:build e2e

package e2e

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// hostLeaks is the fault suite's census of this host ("vm") against the control plane. It
// reports, one string per finding:
//   - a libvirt domain whose uuid is no server on this host;
//   - an instance directory (<uuid>, <uuid>_resize, <uuid>_del) of no server on this host;
//   - a tap device of no Neutron port;
//   - an allocation against this host's resource provider of no server;
//   - a download's temporary file in _base, or a config drive's staging directory.
//
// Findings are reported, not failed on: the caller records them in its table, and fails the
// case through t.Errorf here so that a leak never passes unnoticed.
func hostLeaks(t *testing.T) []string {
	t.Helper()
	servers := map[string]bool{}
	var rows []struct {
		ID string `json:"ID"`
	}
	openstack(t, &rows, computeAPI, "server", "list", "--all-projects", "--host", testHost, "-c", "ID")
	for _, r := range rows {
		servers[r.ID] = true
	}
	var leaks []string
	// Only instances' domains: component tests name theirs otherwise.
	out, err := exec.Command("virsh", "-c", "qemu:///system", "list", "--all", "--uuid", "--name").Output()
	if err != nil {
		t.Fatalf("virsh list: %v", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) == 2 && strings.HasPrefix(f[1], "instance-") && !servers[f[0]] {
			leaks = append(leaks, "domain "+f[1]+" ("+f[0]+")")
		}
	}
	entries, _ := os.ReadDir(instancesPath)
	uuidDir := regexp.MustCompile(`^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(_resize|_del)?$`)
	for _, e := range entries {
		if m := uuidDir.FindStringSubmatch(e.Name()); m != nil && !servers[m[1]] {
			leaks = append(leaks, "directory "+e.Name())
		}
		if strings.HasPrefix(e.Name(), ".configdrive-staging-") {
			leaks = append(leaks, "config-drive staging "+e.Name())
		}
	}
	base, _ := os.ReadDir(filepath.Join(instancesPath, "_base"))
	for _, e := range base {
		if strings.Contains(e.Name(), ".part") || strings.Contains(e.Name(), ".converted") {
			leaks = append(leaks, "_base temporary "+e.Name())
		}
	}
	leaks = append(leaks, tapLeaks(t)...)
	leaks = append(leaks, allocationLeaks(t)...)
	for _, l := range leaks {
		t.Errorf("leak after the case: %s", l)
	}
	return leaks
}

// tapLeaks lists tap devices (Neutron linuxbridge names them "tap" + the port id's first 11
// characters) whose port no longer exists. Taps of other nodes' servers have ports too.
func tapLeaks(t *testing.T) []string {
	t.Helper()
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	var taps []string
	for _, i := range ifs {
		if strings.HasPrefix(i.Name, "tap") {
			taps = append(taps, i.Name)
		}
	}
	if len(taps) == 0 {
		return nil
	}
	var ports []struct {
		ID string `json:"ID"`
	}
	openstack(t, &ports, "port", "list", "-c", "ID")
	known := map[string]bool{}
	for _, p := range ports {
		if len(p.ID) >= 11 {
			known["tap"+p.ID[:11]] = true
		}
	}
	var leaks []string
	for _, tap := range taps {
		if !known[tap] {
			leaks = append(leaks, "tap "+tap)
		}
	}
	return leaks
}

// allocationLeaks lists the consumers of this host's resource provider that are no server.
// A delete's allocations go a moment after the server does: a consumer is reported only if
// it is still there 30 s later.
func allocationLeaks(t *testing.T) []string {
	t.Helper()
	var provs []struct {
		UUID string `json:"uuid"`
	}
	openstack(t, &provs, "resource", "provider", "list", "--name", testHost)
	if len(provs) != 1 {
		t.Errorf("resource providers named vm: %d", len(provs))
		return nil
	}
	orphans := func() []string {
		var rp struct {
			Allocations map[string]any `json:"allocations"`
		}
		openstack(t, &rp, "resource", "provider", "show", "--allocations", provs[0].UUID)
		var out []string
		for consumer := range rp.Allocations {
			if showServer(t, consumer) == nil {
				out = append(out, consumer)
			}
		}
		return out
	}
	first := orphans()
	if len(first) == 0 {
		return nil
	}
	time.Sleep(30 * time.Second)
	var leaks []string
	for _, c := range orphans() {
		leaks = append(leaks, "allocation of "+c)
	}
	return leaks
}
