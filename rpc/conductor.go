package rpc

import (
	"context"
	"encoding/json"
	"fmt"
)

// Conductor object API target (nova/conductor/rpcapi.py ConductorAPI: topic "conductor",
// version 3.0, no namespace).
const (
	ConductorTopic      = "conductor"
	ConductorAPIVersion = "3.0"
)

// ConductorClient makes the conductor calls behind nova's remotable object methods. Objects
// travel as raw primitives (rpc/ovo encodes them).
type ConductorClient struct {
	c    *Client
	opts CallOptions
	// Topic is ConductorTopic; tests point it at a stand-in.
	Topic string
}

// NewConductorClient wraps c; opts apply to every call (zero: the client's timeout).
func NewConductorClient(c *Client, opts CallOptions) *ConductorClient {
	return &ConductorClient{c: c, opts: opts, Topic: ConductorTopic}
}

func (cc *ConductorClient) call(ctx context.Context, rc Context, method string, args map[string]any) (json.RawMessage, error) {
	return cc.c.Call(ctx, Target{Topic: cc.Topic, Version: ConductorAPIVersion}, rc, method, args, cc.opts)
}

func listOrEmpty(args []any) []any {
	if args == nil {
		return []any{}
	}
	return args
}

func mapOrEmpty(kwargs map[string]any) map[string]any {
	if kwargs == nil {
		return map[string]any{}
	}
	return kwargs
}

// ObjectAction runs objmethod on the object objinst (a primitive) in the conductor, e.g.
// Service.save. The conductor answers [updates, result]: updates maps changed field names to
// their primitives (plus "obj_what_changed"), result is the method's return value.
func (cc *ConductorClient) ObjectAction(ctx context.Context, rc Context, objinst json.RawMessage, objmethod string, args []any, kwargs map[string]any) (map[string]json.RawMessage, json.RawMessage, error) {
	raw, err := cc.call(ctx, rc, "object_action", map[string]any{
		"objinst": objinst, "objmethod": objmethod, "args": listOrEmpty(args), "kwargs": mapOrEmpty(kwargs),
	})
	if err != nil {
		return nil, nil, err
	}
	var pair []json.RawMessage
	if err := json.Unmarshal(raw, &pair); err != nil || len(pair) != 2 {
		return nil, nil, fmt.Errorf("%w: object_action reply is not [updates, result]: %.200s", ErrInvalidMessage, raw)
	}
	var updates map[string]json.RawMessage
	if err := json.Unmarshal(pair[0], &updates); err != nil {
		return nil, nil, fmt.Errorf("%w: object_action updates: %w", ErrInvalidMessage, err)
	}
	return updates, pair[1], nil
}

// ObjectClassActionVersions runs the classmethod objmethod of objname in the conductor
// (e.g. ComputeNode.get_by_host_and_nodename); objectVersions is the version manifest the
// result must be backported to.
func (cc *ConductorClient) ObjectClassActionVersions(ctx context.Context, rc Context, objname, objmethod string, objectVersions map[string]string, args []any, kwargs map[string]any) (json.RawMessage, error) {
	return cc.call(ctx, rc, "object_class_action_versions", map[string]any{
		"objname": objname, "objmethod": objmethod, "object_versions": objectVersions,
		"args": listOrEmpty(args), "kwargs": mapOrEmpty(kwargs),
	})
}

// ObjectBackportVersions asks the conductor to backport objinst to the versions in
// objectVersions (IncompatibleObjectVersion handling).
func (cc *ConductorClient) ObjectBackportVersions(ctx context.Context, rc Context, objinst json.RawMessage, objectVersions map[string]string) (json.RawMessage, error) {
	return cc.call(ctx, rc, "object_backport_versions", map[string]any{
		"objinst": objinst, "object_versions": objectVersions,
	})
}
