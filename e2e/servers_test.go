//go:build e2e

package e2e

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/novalet/novalet/internal/testenv"
)

// Servers on a novalet host through the unmodified Zed API (issue 5): boot, delete, concurrent
// boots from one uncached image, a lying image, and a crash in the middle of a build.

// computeAPI is the microversion the tests speak: `--nic none` needs 2.37 or later.
const computeAPI = "--os-compute-api-version=2.74"

const (
	instancesPath = "/var/lib/nova/instances"
	bootTimeout   = 4 * time.Minute
)

// serverInfo is the part of `openstack server show` the tests read.
type serverInfo struct {
	ID         string         `json:"id"`
	Name       string         `json:"name"`
	Status     string         `json:"status"`
	Host       string         `json:"OS-EXT-SRV-ATTR:host"`
	InstName   string         `json:"OS-EXT-SRV-ATTR:instance_name"`
	PowerState any            `json:"OS-EXT-STS:power_state"`
	TaskState  *string        `json:"OS-EXT-STS:task_state"`
	VMState    string         `json:"OS-EXT-STS:vm_state"`
	Fault      map[string]any `json:"fault"`
}

// showServer returns nil when the server no longer exists.
func showServer(t *testing.T, id string) *serverInfo {
	t.Helper()
	b, err := run(t, 2*time.Minute, "openstack", computeAPI, "server", "show", id, "-f", "json")
	if err != nil {
		if strings.Contains(err.Error(), "No server with a name or ID") {
			return nil
		}
		t.Fatal(err)
	}
	var s serverInfo
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("server show %s: %v\n%s", id, err, b)
	}
	return &s
}

// testHost is the compute host the tests run novalet as. Servers are requested on it (API
// 2.74's host, still checked by the scheduler): another node on the control plane (the
// two-node bed's vm2, a bench's fake nodes) must not take them.
const testHost = "vm"

// createServers runs `openstack server create` (without --wait) and returns the new ids.
func createServers(t *testing.T, name, image string, count int) []string {
	t.Helper()
	args := []string{computeAPI, "server", "create", "--flavor", "test_flavor", "--image", image, "--nic", "none", "--host", testHost}
	if count > 1 {
		args = append(args, "--min", fmt.Sprint(count), "--max", fmt.Sprint(count))
	}
	var created struct {
		ID string `json:"id"`
	}
	args = append(args, name, "-f", "json")
	b, err := run(t, 2*time.Minute, "openstack", args...)
	if err != nil && strings.Contains(err.Error(), "Compute host "+testHost+" could not be found") {
		// A node registered less than a minute ago is not mapped to a cell yet (the
		// scheduler discovers every 60 s): map it, as an operator does after adding a node.
		if out, derr := run(t, 2*time.Minute, filepath.Join(testenv.RepoRoot(t), "controlplane", "nova-manage.sh"),
			"cell_v2", "discover_hosts"); derr != nil {
			t.Fatalf("discover_hosts: %v\n%s", derr, out)
		}
		b, err = run(t, 2*time.Minute, "openstack", args...)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &created); err != nil {
		t.Fatalf("server create: %v\n%s", err, b)
	}
	if count == 1 {
		trackServer(t, created.ID)
		return []string{created.ID}
	}
	return serversNamed(t, name, count)
}

// serversNamed returns the ids of the count servers one `server create --min count` named
// name-1..name-count, each deleted when the test ends.
func serversNamed(t *testing.T, name string, count int) []string {
	t.Helper()
	var list []struct {
		ID string `json:"ID"`
	}
	openstack(t, &list, computeAPI, "server", "list", "--name", "^"+name+"-")
	var ids []string
	for _, s := range list {
		trackServer(t, s.ID)
		ids = append(ids, s.ID)
	}
	if len(ids) != count {
		t.Fatalf("server create --min %d made %d servers named %s-*", count, len(ids), name)
	}
	return ids
}

// trackServer deletes the server when the test ends, whatever happened.
func trackServer(t *testing.T, id string) {
	t.Cleanup(func() {
		if _, gone := deletedServers.Load(id); gone {
			return // deleteServer saw it go: another CLI run would only cost its start-up
		}
		_, _ = run(t, 3*time.Minute, "openstack", computeAPI, "server", "delete", "--wait", id)
	})
}

// deletedServers holds the ids deleteServer saw deleted.
var deletedServers sync.Map

// waitStatus waits until the server's status is one of want and returns it.
func waitStatus(t *testing.T, id string, timeout time.Duration, want ...string) *serverInfo {
	t.Helper()
	var s *serverInfo
	eventually(t, timeout, "server "+id+" status in "+strings.Join(want, "|"), func() bool {
		s = showServer(t, id)
		if s == nil {
			t.Fatalf("server %s vanished", id)
		}
		for _, w := range want {
			if s.Status == w {
				return true
			}
		}
		return false
	})
	return s
}

func deleteServer(t *testing.T, id string) {
	t.Helper()
	if _, err := run(t, 3*time.Minute, "openstack", computeAPI, "server", "delete", "--wait", id); err != nil {
		t.Fatal(err)
	}
	deletedServers.Store(id, true)
}

// uploadImage puts the test guest (or another file) into Glance under a fresh name.
func uploadImage(t *testing.T, name, file, diskFormat string) string {
	t.Helper()
	var img struct {
		ID string `json:"id"`
	}
	openstack(t, &img, "image", "create", "--disk-format", diskFormat, "--container-format", "bare",
		"--file", file, "--public", name)
	t.Cleanup(func() { _, _ = run(t, time.Minute, "openstack", "image", "delete", img.ID) })
	return img.ID
}

func guestImage(t *testing.T) string {
	return filepath.Join(testenv.GuestDir(t), "guest.qcow2")
}

// domains lists libvirt's domains by uuid (virsh list --all --uuid).
func domains(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("virsh", "-c", "qemu:///system", "list", "--all", "--uuid").Output()
	if err != nil {
		t.Fatalf("virsh list: %v", err)
	}
	return strings.Fields(string(out))
}

func hasDomain(t *testing.T, id string) bool {
	for _, d := range domains(t) {
		if d == id {
			return true
		}
	}
	return false
}

func exists(path string) bool { _, err := os.Stat(path); return err == nil }

// allocations returns the instance's Placement allocations (resource class -> amount).
func allocations(t *testing.T, id string) map[string]any {
	t.Helper()
	var rows []struct {
		Resources map[string]any `json:"resources"`
	}
	openstack(t, &rows, "resource", "provider", "allocation", "show", id)
	out := map[string]any{}
	for _, r := range rows {
		for k, v := range r.Resources {
			out[k] = v
		}
	}
	return out
}

// logRecords returns novalet's log records with the given msg.
func (n *novalet) logRecords(t *testing.T, msg string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(n.log)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, line := range strings.Split(string(b), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

func baseFile(imageID string) string {
	sum := sha1.Sum([]byte(imageID))
	return filepath.Join(instancesPath, "_base", hex.EncodeToString(sum[:]))
}

func TestServerBootAndDelete(t *testing.T) {
	requireControlPlane(t)
	host, _ := os.Hostname()
	n := startNovalet(t)
	n.waitNotify(t, "READY=1", 3*time.Minute)

	id := createServers(t, "e2e-boot", "guest", 1)[0]
	s := waitStatus(t, id, bootTimeout, "ACTIVE", "ERROR")
	if s.Status != "ACTIVE" {
		t.Fatalf("server %s is %s, fault %v", id, s.Status, s.Fault)
	}
	if s.Host != host || s.VMState != "active" || s.TaskState != nil || fmt.Sprint(s.PowerState) != "1" {
		t.Errorf("server after build: host %q vm_state %q task_state %v power_state %v", s.Host, s.VMState, s.TaskState, s.PowerState)
	}

	xml, err := exec.Command("virsh", "-c", "qemu:///system", "dumpxml", id).Output()
	if err != nil {
		t.Fatalf("virsh dumpxml %s: %v", id, err)
	}
	if !strings.Contains(string(xml), "<graphics type='vnc'") || !strings.Contains(string(xml), "listen='0.0.0.0'") {
		t.Errorf("domain does not listen for VNC on 0.0.0.0:\n%s", xml)
	}
	consoleLog := filepath.Join(instancesPath, id, "console.log")
	eventually(t, 2*time.Minute, "the guest's boot in console.log", func() bool {
		b, _ := os.ReadFile(consoleLog)
		return strings.Contains(string(b), "guest-init: login prompt ready")
	})

	var actions []struct {
		RequestID string `json:"Request ID"`
		Action    string `json:"Action"`
	}
	openstack(t, &actions, computeAPI, "server", "event", "list", id)
	if len(actions) != 1 || actions[0].Action != "create" {
		t.Fatalf("server event list: %+v", actions)
	}
	var action struct {
		Events []struct {
			Event  string `json:"event"`
			Result string `json:"result"`
			Host   string `json:"host"`
		} `json:"events"`
	}
	openstack(t, &action, computeAPI, "server", "event", "show", id, actions[0].RequestID)
	if len(action.Events) != 1 || action.Events[0].Event != "compute__do_build_and_run_instance" ||
		action.Events[0].Result != "Success" || action.Events[0].Host != host {
		t.Errorf("create events: %+v", action.Events)
	}
	if a := allocations(t, id); fmt.Sprint(a["MEMORY_MB"]) != "256" || fmt.Sprint(a["VCPU"]) != "1" {
		t.Errorf("allocations while active: %v", a)
	}
	// The running novalet's /metrics ([novalet] metrics_listen default) sees the guest and the build.
	body := scrape(t, "http://127.0.0.1:9797/metrics")
	if v, ok := sample(body, "novalet_instance_cpu_seconds_total", `instance_uuid="`+id+`"`); !ok || v <= 0 {
		t.Errorf("novalet_instance_cpu_seconds_total for %s = %v (found %v)", id, v, ok)
	}
	if v, ok := sample(body, "novalet_rpc_requests_total", `method="build_and_run_instance"`, `result="success"`); !ok || v < 1 {
		t.Errorf("novalet_rpc_requests_total for build_and_run_instance = %v (found %v)", v, ok)
	}
	for _, name := range []string{"novalet_libvirt_up 1", "novalet_broker_connected 1"} {
		if !strings.Contains(body, "\n"+name+"\n") {
			t.Errorf("metrics lack %q", name)
		}
	}

	deleteServer(t, id)
	if hasDomain(t, id) {
		t.Error("domain still defined after delete")
	}
	if exists(filepath.Join(instancesPath, id)) {
		t.Error("instance directory left after delete")
	}
	if a := allocations(t, id); len(a) != 0 {
		t.Errorf("allocations left after delete: %v", a)
	}
}

func TestServersFromOneUncachedImage(t *testing.T) {
	requireControlPlane(t)
	n := startNovalet(t)
	n.waitNotify(t, "READY=1", 3*time.Minute)

	image := uploadImage(t, fmt.Sprintf("e2e-fresh-%d", time.Now().UnixNano()), guestImage(t), "qcow2")
	t.Cleanup(func() { os.Remove(baseFile(image)) })
	ids := createServers(t, "e2e-five", image, 5)
	var wg sync.WaitGroup
	statuses := make([]*serverInfo, len(ids))
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = waitStatus(t, id, 2*bootTimeout, "ACTIVE", "ERROR")
		}()
	}
	wg.Wait()
	for i, s := range statuses {
		if s == nil || s.Status != "ACTIVE" {
			t.Errorf("server %s: %+v", ids[i], s)
		}
	}
	downloads := 0
	for _, rec := range n.logRecords(t, "downloading image") {
		if rec["image_id"] == image {
			downloads++
		}
	}
	if downloads != 1 {
		t.Errorf("image %s downloaded %d times for 5 servers, want 1", image, downloads)
	}
	for _, id := range ids {
		deleteServer(t, id)
		if hasDomain(t, id) || exists(filepath.Join(instancesPath, id)) {
			t.Errorf("server %s left its domain or directory", id)
		}
	}
}

func TestServerFromLyingImage(t *testing.T) {
	requireControlPlane(t)
	n := startNovalet(t)
	n.waitNotify(t, "READY=1", 3*time.Minute)

	// qcow2 bytes declared raw: nova's format inspection refuses it (a raw image that is
	// really qcow2 could name any host file as its backing file).
	image := uploadImage(t, fmt.Sprintf("e2e-liar-%d", time.Now().UnixNano()), guestImage(t), "raw")
	id := createServers(t, "e2e-liar", image, 1)[0]
	s := waitStatus(t, id, bootTimeout, "ACTIVE", "ERROR")
	if s.Status != "ERROR" {
		t.Fatalf("server from a lying image is %s", s.Status)
	}
	msg, _ := s.Fault["message"].(string)
	if !strings.Contains(msg, "aborted") || !strings.Contains(msg, "unacceptable") || !strings.Contains(msg, image) {
		t.Errorf("fault message %q does not say the image is unacceptable", msg)
	}
	if exists(baseFile(image)) {
		t.Error("the refused image was left in _base")
	}
	if exists(filepath.Join(instancesPath, id)) || hasDomain(t, id) {
		t.Error("the failed build left its directory or domain")
	}
	entries, _ := os.ReadDir(filepath.Join(instancesPath, "_base"))
	for _, e := range entries {
		if strings.Contains(e.Name(), ".part") || strings.Contains(e.Name(), ".converted") {
			t.Errorf("temp file left in _base: %s", e.Name())
		}
	}
}

func TestKillDuringBuild(t *testing.T) {
	requireControlPlane(t)
	n := startNovalet(t)
	n.waitNotify(t, "READY=1", 3*time.Minute)

	// A fresh, large image makes the build spend seconds downloading: the kill lands there.
	// (The test guest's raw disk padded to 512 MiB; it boots the same.)
	big := filepath.Join(t.TempDir(), "big.raw")
	raw, err := os.ReadFile(filepath.Join(testenv.GuestDir(t), "guest.raw"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(big, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, 512<<20); err != nil {
		t.Fatal(err)
	}
	image := uploadImage(t, fmt.Sprintf("e2e-kill-%d", time.Now().UnixNano()), big, "raw")
	t.Cleanup(func() { os.Remove(baseFile(image)) })
	id := createServers(t, "e2e-kill", image, 1)[0]
	deadline := time.Now().Add(2 * time.Minute)
	for downloading := false; !downloading; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the build did not start downloading within 2 minutes")
		}
		for _, rec := range n.logRecords(t, "downloading image") {
			downloading = downloading || rec["image_id"] == image
		}
	}
	n.killAndRestart(t)
	s := waitStatus(t, id, time.Minute, "ACTIVE", "ERROR")
	t.Logf("after the restart the server is %s (fault %v)", s.Status, s.Fault)
	if s.TaskState != nil {
		t.Errorf("task_state %q left after recovery", *s.TaskState)
	}
	if s.Status == "ERROR" {
		if hasDomain(t, id) || exists(filepath.Join(instancesPath, id)) {
			t.Error("the interrupted build left a domain or a directory")
		}
		if msg, _ := s.Fault["message"].(string); !strings.Contains(msg, "stopped during the build") {
			t.Errorf("fault %q does not say the build was interrupted", msg)
		}
	}
	entries, _ := os.ReadDir(filepath.Join(instancesPath, "_base"))
	for _, e := range entries {
		if strings.Contains(e.Name(), ".part") || strings.Contains(e.Name(), ".converted") { // names are <sha1>.part.<random>
			t.Errorf("temp file left in _base after the restart: %s", e.Name())
		}
	}
	deleteServer(t, id)
	if hasDomain(t, id) || exists(filepath.Join(instancesPath, id)) {
		t.Error("delete after recovery left a domain or directory")
	}
}

// scrape GETs a Prometheus text endpoint.
func scrape(t *testing.T, url string) string {
	t.Helper()
	c := http.Client{Timeout: 30 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("scrape %s: %d %v", url, resp.StatusCode, err)
	}
	return string(b)
}

// sample finds the value of the first series of name whose labels contain every fragment.
func sample(body, name string, fragments ...string) (float64, bool) {
	for _, line := range strings.Split(body, "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		ok := true
		for _, f := range fragments {
			ok = ok && strings.Contains(line, f)
		}
		if !ok {
			continue
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		return v, err == nil
	}
	return 0, false
}
