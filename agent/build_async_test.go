package agent

import (
	"testing"
	"time"

	"github.com/novalet/novalet/rpc/ovo"
)

// TestBuildRunsOffTheRPCWorker: the build_and_run_instance handler returns at once, as nova's
// manager spawns the build; while the build waits for network-vif-plugged, the event comes in
// through the same RPC table (with every worker held by a build, it could not), and Drain
// waits for the build's end.
func TestBuildRunsOffTheRPCWorker(t *testing.T) {
	e := newOpsEnv(t, vifWait(30*time.Second, true))
	inst := e.newInstance(t)
	id, _ := ovo.Value[string](inst, "uuid")
	handler := e.a.Endpoints()[0].Methods["build_and_run_instance"]
	returned := make(chan error, 1)
	go func() {
		_, err := handler(t.Context(), e.buildRequest(t, inst, onNetworks(t, testNetworkID)))
		returned <- err
	}()
	select {
	case err := <-returned:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the build_and_run_instance handler held its RPC worker for the build")
	}
	e.waitPaused(t, id) // the build now waits for Neutron
	ports := e.net.portsOf(id)
	if len(ports) != 1 {
		t.Fatalf("ports %v", ports)
	}
	e.vifEvent(t, id, ports[0], "completed")
	if err := e.a.Drain(t.Context()); err != nil {
		t.Fatal(err)
	}
	if vm, task, _ := e.instanceState(t, id); vm != "active" || task != "" {
		t.Fatalf("after the event: vm_state %q task_state %q", vm, task)
	}
}
