package agent

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/novalet/novalet/rpc"
	"github.com/novalet/novalet/rpc/ovo"
)

// external_instance_event: Neutron (through nova-api) tells the compute that a port came up
// (network-vif-plugged), changed, or went; a spawn waiting for its VIFs is woken by it.

// extEvent is one InstanceExternalEvent.
type extEvent struct {
	UUID, Name, Tag, Status string
}

// key is nova's event key: "<name>-<tag>" (or just name without a tag).
func (e extEvent) key() string {
	if e.Tag == "" {
		return e.Name
	}
	return e.Name + "-" + e.Tag
}

// eventWaiters holds the events operations wait for, keyed by instance and event key.
type eventWaiters struct {
	mu sync.Mutex
	m  map[string]chan extEvent
}

// prepare registers interest in an event before the action that causes it, so that an early
// event is not lost (nova's prepare_for_instance_event).
func (w *eventWaiters) prepare(uuid, key string) <-chan extEvent {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = map[string]chan extEvent{}
	}
	ch := make(chan extEvent, 1)
	w.m[uuid+"/"+key] = ch
	return ch
}

// forget drops a registration (the waiter gave up or got its event).
func (w *eventWaiters) forget(uuid, key string) {
	w.mu.Lock()
	delete(w.m, uuid+"/"+key)
	w.mu.Unlock()
}

// deliver hands an event to its waiter and reports whether someone waited for it.
func (w *eventWaiters) deliver(e extEvent) bool {
	w.mu.Lock()
	ch, ok := w.m[e.UUID+"/"+e.key()]
	delete(w.m, e.UUID+"/"+e.key())
	w.mu.Unlock()
	if ok {
		ch <- e
	}
	return ok
}

func (a *Agent) externalInstanceEvent(ctx context.Context, req *rpc.Request) (any, error) {
	var raw []json.RawMessage
	if err := decodeOptional(req.Args["events"], &raw); err != nil {
		return nil, rpc.NovaError("InvalidInput", "external_instance_event: events: "+err.Error(), map[string]any{"code": 400})
	}
	for _, r := range raw {
		obj, err := ovo.Decode(r)
		if err != nil {
			a.log.Warn("external event not understood", "error", err, "request_id", req.Context.RequestID())
			continue
		}
		var e extEvent
		e.UUID, _ = ovo.Value[string](obj, "instance_uuid")
		e.Name, _ = ovo.Value[string](obj, "name")
		e.Tag, _ = ovo.Value[string](obj, "tag")
		e.Status, _ = ovo.Value[string](obj, "status")
		waited := a.c.events.deliver(e)
		a.log.Info("external instance event", "instance_uuid", e.UUID, "event", e.key(), "status", e.Status,
			"awaited", waited, "request_id", req.Context.RequestID())
	}
	return nil, nil
}
