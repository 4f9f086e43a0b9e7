package agent

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/novalet/novalet/rpc"
	"github.com/novalet/novalet/rpc/ovo"
)

// TestBuildsNeverStarveTheRPCServer: through a real RPC server with 4 dispatch slots and
// max_concurrent_builds 2, six builds that wait for network-vif-plugged are cast; the events
// are cast after them, and every build goes ACTIVE. With builds on the RPC workers, four
// builds would hold every slot and the events behind them would never be read.
func TestBuildsNeverStarveTheRPCServer(t *testing.T) {
	e := newOpsEnv(t, vifWait(60*time.Second, true))
	e.a.c.builds = make(chan struct{}, 2)
	tr := rpc.NewMemoryTransport()
	srv, err := rpc.NewServer(tr, rpc.ServerConfig{Topic: ComputeTopic, Server: e.a.Host(), Endpoints: e.a.Endpoints(),
		MaxConcurrency: 4, Logger: discardLogger()})
	must(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	must(t, srv.Start(ctx))
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	client := rpc.NewClient(tr, rpc.ClientConfig{Timeout: 10 * time.Second, Logger: discardLogger()})
	target := rpc.Target{Topic: ComputeTopic, Server: e.a.Host(), Version: "6.0"}
	cast := func(req *rpc.Request) {
		t.Helper()
		args := map[string]any{}
		for k, v := range req.Args {
			args[k] = json.RawMessage(v)
		}
		must(t, client.Cast(ctx, target, req.Context, req.Method, args))
	}

	var ids []string
	for range 6 {
		inst := e.newInstance(t)
		id, _ := ovo.Value[string](inst, "uuid")
		ids = append(ids, id)
		cast(e.buildRequest(t, inst, onNetworks(t, testNetworkID)))
	}
	// Each build, once it has its ports, waits paused for Neutron; the events are cast as
	// nova-api would, in whatever order the ports appear.
	sent := map[string]bool{}
	waitFor(t, func() bool {
		for _, id := range ids {
			if sent[id] {
				continue
			}
			ports := e.net.portsOf(id)
			if len(ports) == 0 {
				continue
			}
			if st, err := e.hv.State(ctx, id); err != nil || st.String() != "paused" {
				continue
			}
			ev, _ := ovo.New("InstanceExternalEvent")
			must(t, set(ev, map[string]any{"instance_uuid": id, "name": "network-vif-plugged", "tag": ports[0], "status": "completed"}))
			cast(request(t, "external_instance_event", map[string]any{"instances": []any{e.cond.Instance(id)}, "events": []any{ev}}))
			sent[id] = true
		}
		return len(sent) == len(ids)
	})
	must(t, e.a.Drain(ctx))
	for _, id := range ids {
		if vm, task, _ := e.instanceState(t, id); vm != "active" || task != "" {
			t.Errorf("instance %s: vm_state %q task_state %q", id, vm, task)
		}
	}
}
