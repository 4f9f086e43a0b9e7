package ovo

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
)

// Keys of a Nova object primitive (NovaObject.OBJ_SERIAL_NAMESPACE is
// "nova_object", OBJ_PROJECT_NAMESPACE is "nova").
const (
	KeyName      = "nova_object.name"
	KeyNamespace = "nova_object.namespace"
	KeyVersion   = "nova_object.version"
	KeyData      = "nova_object.data"
	KeyChanges   = "nova_object.changes"
	Namespace    = "nova"
)

// Decode parses one object primitive from JSON.
func (m *Manifest) Decode(data []byte) (*Object, error) {
	v, err := decodeJSON(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return m.FromPrimitive(v)
}

// Decode is Zed().Decode.
func Decode(data []byte) (*Object, error) { return Zed().Decode(data) }

// FromPrimitive builds an object from a primitive already decoded from JSON
// (map[string]any, numbers as json.Number or float64), like oslo's
// obj_from_primitive: known fields are checked and converted, fields unknown
// to the class are kept raw, and "changes" names the changed fields. Any
// well-formed version is accepted and kept (no backport is asked for); the
// fields are read with the manifest's table for the class.
func (m *Manifest) FromPrimitive(v any) (*Object, error) {
	p, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: want a JSON object, got %T", ErrMalformed, v)
	}
	return m.fromPrimitive(p, 0)
}

// FromPrimitive is Zed().FromPrimitive.
func FromPrimitive(v any) (*Object, error) { return Zed().FromPrimitive(v) }

// IsPrimitive reports whether v (a decoded JSON value) is an object
// primitive, the test oslo's serializer applies to every argument.
func IsPrimitive(v any) bool {
	p, ok := v.(map[string]any)
	if !ok {
		return false
	}
	_, ok = p[KeyName]
	return ok
}

func (m *Manifest) fromPrimitive(p map[string]any, depth int) (*Object, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("%w: objects nested too deeply", ErrMalformed)
	}
	name, err := envelopeString(p, KeyName)
	if err != nil {
		return nil, err
	}
	ns, err := envelopeString(p, KeyNamespace)
	if err != nil {
		return nil, err
	}
	if ns != Namespace {
		return nil, fmt.Errorf("%w: %s: namespace %q is not %q", ErrMalformed, name, ns, Namespace)
	}
	version, err := envelopeString(p, KeyVersion)
	if err != nil {
		return nil, err
	}
	if !validVersion(version) {
		return nil, fmt.Errorf("%w: %s: bad version %q", ErrMalformed, name, version)
	}
	data, ok := p[KeyData].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: %s: %s must be a JSON object, got %T", ErrMalformed, name, KeyData, p[KeyData])
	}
	var changes []string
	if raw, present := p[KeyChanges]; present && raw != nil {
		changes, err = stringList(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %s: %w", ErrMalformed, name, KeyChanges, err)
		}
	}

	c := m.classes[name]
	o := m.empty(c, name, version)
	// Sorted so that the first bad field reported is always the same one.
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		val := data[k]
		var ft *FieldType
		if c != nil {
			ft = c.Fields[k]
		}
		if ft == nil {
			r, err := json.Marshal(val)
			if err != nil {
				return nil, fmt.Errorf("%w: %s.%s: %w", ErrMalformed, name, k, err)
			}
			o.raw[k] = r
			continue
		}
		cv, err := m.coerce(ft, val, name+"."+k, depth)
		if err != nil {
			return nil, malformed(err)
		}
		o.values[k] = cv
	}
	for _, k := range changes {
		if c == nil || c.Fields[k] != nil {
			o.changed[k] = struct{}{}
		}
	}
	return o, nil
}

// malformed marks an error as ErrMalformed once.
func malformed(err error) error {
	if errors.Is(err, ErrMalformed) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrMalformed, err)
}

func envelopeString(p map[string]any, key string) (string, error) {
	raw, ok := p[key]
	if !ok {
		return "", fmt.Errorf("%w: missing %s", ErrMalformed, key)
	}
	s, ok := raw.(string)
	if !ok || s == "" {
		return "", fmt.Errorf("%w: %s must be a non-empty string", ErrMalformed, key)
	}
	return s, nil
}

func stringList(v any) ([]string, error) {
	switch x := v.(type) {
	case []string:
		return x, nil
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("want a list of strings, got a %T element", e)
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, fmt.Errorf("want a list of strings, got %T", v)
}

// ToPrimitive renders the object as oslo's obj_to_primitive does (at its
// own version): data holds the set fields, changes (sorted) the changed
// fields that are in data, omitted when empty.
func (o *Object) ToPrimitive() map[string]any {
	data := make(map[string]any, len(o.values)+len(o.raw))
	for k, v := range o.values {
		var ft *FieldType
		if o.class != nil {
			ft = o.class.Fields[k]
		}
		data[k] = toPrimitive(ft, v)
	}
	for k, r := range o.raw {
		data[k] = r
	}
	p := map[string]any{
		KeyName:      o.name,
		KeyNamespace: Namespace,
		KeyVersion:   o.version,
		KeyData:      data,
	}
	var changes []string
	for _, k := range o.ObjWhatChanged() {
		if _, ok := data[k]; ok {
			changes = append(changes, k)
		}
	}
	if len(changes) > 0 {
		p[KeyChanges] = changes
	}
	return p
}

// MarshalJSON encodes the object primitive; a nil *Object is null.
func (o *Object) MarshalJSON() ([]byte, error) {
	if o == nil {
		return []byte("null"), nil
	}
	return json.Marshal(o.ToPrimitive())
}

// UnmarshalJSON decodes an object primitive with the Zed manifest.
func (o *Object) UnmarshalJSON(data []byte) error {
	d, err := Decode(data)
	if err != nil {
		return err
	}
	*o = *d
	return nil
}

// DecodeEntity decodes an RPC argument or result the way oslo's
// NovaObjectSerializer.deserialize_entity does: every JSON object carrying
// "nova_object.name" becomes an *Object, inside lists and dicts too; other
// values stay plain (numbers as json.Number, so they re-encode unchanged).
func (m *Manifest) DecodeEntity(data []byte) (any, error) {
	v, err := decodeJSON(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return m.entity(v, 0)
}

// DecodeEntity is Zed().DecodeEntity.
func DecodeEntity(data []byte) (any, error) { return Zed().DecodeEntity(data) }

func (m *Manifest) entity(v any, depth int) (any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("%w: nested too deeply", ErrMalformed)
	}
	switch x := v.(type) {
	case map[string]any:
		if IsPrimitive(x) {
			return m.fromPrimitive(x, depth)
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			d, err := m.entity(e, depth+1)
			if err != nil {
				return nil, err
			}
			out[k] = d
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			d, err := m.entity(e, depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = d
		}
		return out, nil
	}
	return v, nil
}

// decodeJSON parses exactly one JSON value, keeping numbers as json.Number
// so that integers are not rounded through float64.
func decodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("trailing data after JSON value")
	}
	return v, nil
}
