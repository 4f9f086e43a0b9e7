package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/novalet/novalet/rpc"
	"github.com/novalet/novalet/rpc/ovo"
)

// Conductor is the port through which the agent reaches Nova's database: nova-conductor's
// object API (rpc.ConductorClient implements it; tests use a fake).
type Conductor interface {
	ObjectAction(ctx context.Context, rc rpc.Context, objinst json.RawMessage, objmethod string, args []any, kwargs map[string]any) (map[string]json.RawMessage, json.RawMessage, error)
	ObjectClassActionVersions(ctx context.Context, rc rpc.Context, objname, objmethod string, objectVersions map[string]string, args []any, kwargs map[string]any) (json.RawMessage, error)
}

// objects makes nova's remotable calls: class methods (Service.get_by_host_and_binary) and
// instance methods (service.save()), each bounded by timeout.
type objects struct {
	c       Conductor
	timeout time.Duration
}

// classAction calls objname.objmethod(*args, **kwargs) in the conductor and returns the raw
// result (null, a primitive, a list).
func (o objects) classAction(ctx context.Context, rc rpc.Context, objname, objmethod string, args []any, kwargs map[string]any) (json.RawMessage, error) {
	manifest, err := ovo.VersionManifest(objname)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	return o.c.ObjectClassActionVersions(ctx, rc, objname, objmethod, manifest, args, kwargs)
}

// action calls obj.objmethod(*args, **kwargs) in the conductor and applies the updates it
// returns onto obj, as nova's remotable wrapper does.
func (o objects) action(ctx context.Context, rc rpc.Context, obj *ovo.Object, objmethod string, args []any, kwargs map[string]any) (json.RawMessage, error) {
	raw, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", obj.Name(), err)
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	updates, result, err := o.c.ObjectAction(ctx, rc, raw, objmethod, args, kwargs)
	if err != nil {
		return nil, err
	}
	decoded := make(map[string]any, len(updates))
	for k, v := range updates {
		dec := json.NewDecoder(bytes.NewReader(v))
		dec.UseNumber()
		var x any
		if err := dec.Decode(&x); err != nil {
			return nil, fmt.Errorf("%s.%s updates[%s]: %w", obj.Name(), objmethod, k, err)
		}
		decoded[k] = x
	}
	if err := ovo.ApplyUpdates(obj, decoded); err != nil {
		return nil, fmt.Errorf("%s.%s: %w", obj.Name(), objmethod, err)
	}
	return result, nil
}

// decodeObject decodes a class action's result; null gives nil.
func decodeObject(raw json.RawMessage) (*ovo.Object, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	return ovo.Decode(raw)
}

// set assigns fields on a fresh or decoded object; the values are the agent's own, so a
// failure is a programming error reported with the field's name.
func set(obj *ovo.Object, fields map[string]any) error {
	for k, v := range fields {
		if err := obj.Set(k, v); err != nil {
			return fmt.Errorf("%s.%s: %w", obj.Name(), k, err)
		}
	}
	return nil
}
