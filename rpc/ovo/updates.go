package ovo

import (
	"encoding/json"
	"fmt"
)

// whatChangedKey is the entry conductor adds to an object_action updates
// dict: the fields still dirty after the call.
const whatChangedKey = "obj_what_changed"

// ApplyUpdates applies the updates dict of an object_action reply to obj,
// as oslo's remotable wrapper does on the caller's side: each field in
// updates is set (object fields decoded from their primitives, or taken as
// they are when already *Object), then every change mark is reset and the
// fields listed under "obj_what_changed" are marked changed. Entries the
// class does not know are ignored, like Python does. updates is a decoded
// JSON object (from json.Unmarshal, DecodeEntity, ...). Nothing is applied
// when an entry is malformed.
func ApplyUpdates(obj *Object, updates map[string]any) error {
	if obj == nil {
		return fmt.Errorf("%w: nil object", ErrInvalidValue)
	}
	if obj.class == nil {
		return fmt.Errorf("%w: object %q has no known fields", ErrUnknown, obj.name)
	}
	type update struct {
		ft  *FieldType
		val any
	}
	staged := map[string]update{}
	for k, v := range updates {
		if k == whatChangedKey {
			continue
		}
		ft, ok := obj.class.Fields[k]
		if !ok {
			continue
		}
		val, err := obj.m.coerce(ft, v, obj.name+"."+k, 0)
		if err != nil {
			return malformed(fmt.Errorf("object_action updates: %w", err))
		}
		staged[k] = update{ft, val}
	}
	var dirty []string
	if raw, ok := updates[whatChangedKey]; ok && raw != nil {
		list, err := stringList(raw)
		if err != nil {
			return fmt.Errorf("%w: object_action updates: %s: %w", ErrMalformed, whatChangedKey, err)
		}
		dirty = list
	}
	// Read-only fields must be checked before anything is written, so that a
	// failure leaves obj as it was.
	for k, u := range staged {
		if old, set := obj.values[k]; set && changesReadOnly(u.ft, old, u.val) {
			return fmt.Errorf("%w: %s.%s", ErrReadOnly, obj.name, k)
		}
	}
	for k, u := range staged {
		if err := obj.assign(k, u.ft, u.val); err != nil {
			return err // unreachable: read-only fields were checked above
		}
	}
	obj.ObjResetChanges()
	for _, k := range dirty {
		if _, ok := obj.class.Fields[k]; ok {
			obj.changed[k] = struct{}{}
		}
	}
	return nil
}

// ApplyActionReply takes the result of an object_action call (the JSON pair
// [updates, result]), applies updates to obj and returns result undecoded;
// decode it with DecodeEntity when the method returns something.
func ApplyActionReply(obj *Object, reply json.RawMessage) (json.RawMessage, error) {
	var pair []json.RawMessage
	if err := json.Unmarshal(reply, &pair); err != nil || len(pair) != 2 {
		return nil, fmt.Errorf("%w: object_action reply is not an [updates, result] pair", ErrMalformed)
	}
	v, err := decodeJSON(pair[0])
	if err != nil {
		return nil, fmt.Errorf("%w: object_action updates: %w", ErrMalformed, err)
	}
	updates, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: object_action updates: want a JSON object, got %T", ErrMalformed, v)
	}
	if err := ApplyUpdates(obj, updates); err != nil {
		return nil, err
	}
	return pair[1], nil
}
