package ovo

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"sort"
)

// Object is one Nova versioned object: what a Python NovaObject holds that
// travels on the wire. The zero value is not usable; get one from New,
// Decode or FromPrimitive. An Object is not safe for concurrent mutation.
type Object struct {
	name    string
	version string
	// class is nil for a class the manifest does not know; all of its
	// fields are then kept raw.
	class   *Class
	m       *Manifest
	values  map[string]any             // set fields the class knows; nil = null
	raw     map[string]json.RawMessage // set fields the class does not know
	changed map[string]struct{}
}

// New returns an empty object of the named class at the manifest's version.
// Like nova, list classes start with an empty, unchanged "objects" list and
// ephemeral classes start with their defaults set. Class-specific
// constructors are not run (Python's Service() also sets version=64).
func (m *Manifest) New(name string) (*Object, error) {
	c, ok := m.classes[name]
	if !ok {
		return nil, fmt.Errorf("%w: object %q", ErrUnknown, name)
	}
	o := m.empty(c, name, c.Version)
	if c.IsList {
		if _, ok := c.Fields["objects"]; ok {
			o.values["objects"] = []*Object{}
		}
	}
	if c.Ephemeral {
		if err := o.ObjSetDefaults(); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// New is Zed().New.
func New(name string) (*Object, error) { return Zed().New(name) }

func (m *Manifest) empty(c *Class, name, version string) *Object {
	return &Object{
		name: name, version: version, class: c, m: m,
		values: map[string]any{}, raw: map[string]json.RawMessage{},
		changed: map[string]struct{}{},
	}
}

// Name returns the class name ("nova_object.name").
func (o *Object) Name() string { return o.name }

// Version returns the object's version ("nova_object.version"): the
// manifest's for new objects, the sender's for decoded ones.
func (o *Object) Version() string { return o.version }

// Class returns the manifest class, or nil when the class is unknown.
func (o *Object) Class() *Class { return o.class }

// Set assigns a field, converting and checking v as the field's type
// requires, and marks the field changed. A nil v sets null (or the default,
// for a non-nullable field that has one). Setting a read-only field that is
// already set to a different value fails with ErrReadOnly.
func (o *Object) Set(field string, v any) error {
	ft, err := o.fieldType(field)
	if err != nil {
		return err
	}
	val, err := o.m.coerce(ft, v, o.name+"."+field, 0)
	if err != nil {
		return err
	}
	return o.assign(field, ft, val)
}

// assign stores an already coerced value and marks it changed, as oslo's
// property setter does.
func (o *Object) assign(field string, ft *FieldType, val any) error {
	if ft.ReadOnly {
		if old, ok := o.values[field]; ok {
			if changesReadOnly(ft, old, val) {
				return fmt.Errorf("%w: %s.%s", ErrReadOnly, o.name, field)
			}
			return nil
		}
	}
	o.values[field] = val
	o.changed[field] = struct{}{}
	return nil
}

// changesReadOnly reports whether writing val over old would change a
// read-only field (oslo allows writing the same value again).
func changesReadOnly(ft *FieldType, old, val any) bool {
	return ft.ReadOnly && !reflect.DeepEqual(toPrimitive(ft, old), toPrimitive(ft, val))
}

func (o *Object) fieldType(field string) (*FieldType, error) {
	if o.class == nil {
		return nil, fmt.Errorf("%w: object %q has no known fields", ErrUnknown, o.name)
	}
	ft, ok := o.class.Fields[field]
	if !ok {
		return nil, fmt.Errorf("%w: %s has no field %q", ErrUnknown, o.name, field)
	}
	return ft, nil
}

// Get returns a field's value and whether it is set. A set field whose value
// is nil is null. Fields unknown to the class come back as json.RawMessage.
func (o *Object) Get(field string) (any, bool) {
	if v, ok := o.values[field]; ok {
		return v, true
	}
	if r, ok := o.raw[field]; ok {
		return r, true
	}
	return nil, false
}

// Value returns a field's value as T; ok is false when the field is unset,
// null, or holds another type (see the package doc for the Go types).
func Value[T any](o *Object, field string) (T, bool) {
	var zero T
	v, ok := o.values[field]
	if !ok || v == nil {
		return zero, false
	}
	t, ok := v.(T)
	return t, ok
}

// IsSet reports whether the field has a value (null counts as a value).
func (o *Object) IsSet(field string) bool {
	_, ok := o.Get(field)
	return ok
}

// Unset removes a field's value (Python's delattr); its change mark stays.
func (o *Object) Unset(field string) {
	delete(o.values, field)
	delete(o.raw, field)
}

// Fields returns the names of the set fields, sorted.
func (o *Object) Fields() []string {
	names := make([]string, 0, len(o.values)+len(o.raw))
	for k := range o.values {
		names = append(names, k)
	}
	for k := range o.raw {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// ObjWhatChanged returns the changed fields, sorted, like oslo's
// obj_what_changed: fields set since the last reset, plus object fields
// whose object has changes (and, for list classes, "objects" when an element
// has changes).
func (o *Object) ObjWhatChanged() []string {
	set := make(map[string]struct{}, len(o.changed))
	for k := range o.changed {
		if o.class == nil || o.class.Fields[k] != nil {
			set[k] = struct{}{}
		}
	}
	for k, v := range o.values {
		switch x := v.(type) {
		case *Object:
			if x != nil && x.hasChanges() {
				set[k] = struct{}{}
			}
		case []*Object:
			if o.class != nil && o.class.IsList && k == "objects" {
				for _, e := range x {
					if e != nil && e.hasChanges() {
						set[k] = struct{}{}
						break
					}
				}
			}
		}
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (o *Object) hasChanges() bool { return len(o.ObjWhatChanged()) > 0 }

// ObjResetChanges forgets the change marks of the named fields, or of all
// fields when none are named. Nested objects keep theirs (so a field may
// still show as changed); see ObjResetChangesRecursive.
func (o *Object) ObjResetChanges(fields ...string) {
	if len(fields) == 0 {
		clear(o.changed)
		return
	}
	for _, f := range fields {
		delete(o.changed, f)
	}
}

// ObjResetChangesRecursive is obj_reset_changes(recursive=True): it also
// resets, recursively, the objects held by the changed fields being reset.
func (o *Object) ObjResetChangesRecursive(fields ...string) {
	want := func(f string) bool { return len(fields) == 0 || containsString(fields, f) }
	for _, f := range o.ObjWhatChanged() {
		if !want(f) {
			continue
		}
		switch x := o.values[f].(type) {
		case *Object:
			if x != nil {
				x.ObjResetChangesRecursive()
			}
		case []*Object:
			for _, e := range x {
				if e != nil {
					e.ObjResetChangesRecursive()
				}
			}
		}
	}
	o.ObjResetChanges(fields...)
}

// ObjSetDefaults sets the named fields (all defaulted fields when none are
// named) to their defaults, unless already set.
func (o *Object) ObjSetDefaults(fields ...string) error {
	if o.class == nil {
		return fmt.Errorf("%w: object %q has no known fields", ErrUnknown, o.name)
	}
	if len(fields) == 0 {
		for name, ft := range o.class.Fields {
			if ft.Default != nil {
				fields = append(fields, name)
			}
		}
		sort.Strings(fields)
	}
	for _, f := range fields {
		ft, err := o.fieldType(f)
		if err != nil {
			return err
		}
		if ft.Default == nil {
			return fmt.Errorf("%w: %s.%s has no default", ErrUnknown, o.name, f)
		}
		if o.IsSet(f) {
			continue
		}
		def, err := decodeJSON(ft.Default)
		if err != nil {
			return fmt.Errorf("%w: %s.%s default: %w", ErrInvalidValue, o.name, f, err)
		}
		if err := o.Set(f, def); err != nil {
			return err
		}
	}
	return nil
}

// Clone returns a deep copy (oslo's obj_clone), change marks included.
func (o *Object) Clone() *Object {
	if o == nil {
		return nil
	}
	c := &Object{
		name: o.name, version: o.version, class: o.class, m: o.m,
		values:  make(map[string]any, len(o.values)),
		raw:     make(map[string]json.RawMessage, len(o.raw)),
		changed: maps.Clone(o.changed),
	}
	for k, v := range o.values {
		c.values[k] = cloneValue(v)
	}
	for k, r := range o.raw {
		c.raw[k] = append(json.RawMessage(nil), r...)
	}
	return c
}

func cloneValue(v any) any {
	switch x := v.(type) {
	case *Object:
		return x.Clone()
	case []*Object:
		out := make([]*Object, len(x))
		for i, e := range x {
			out[i] = e.Clone()
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = cloneValue(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = cloneValue(e)
		}
		return out
	}
	return v // immutable scalars and time.Time
}

func containsString(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}
