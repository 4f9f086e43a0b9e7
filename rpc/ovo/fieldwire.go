package ovo

import "encoding/json"

// FieldWire is a field value in its wire form: a nested object as its data, lists element by
// element, anything else as it is. Two values are the same field value when their FieldWire
// forms marshal alike.
func FieldWire(v any) any {
	switch x := v.(type) {
	case *Object:
		return x.ToPrimitive()["nova_object.data"]
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = FieldWire(e)
		}
		return out
	}
	return v
}

// SameField compares one field of two objects by its wire form (set or not, and value).
func SameField(a, b *Object, field string) bool {
	av, aok := a.Get(field)
	bv, bok := b.Get(field)
	if aok != bok {
		return false
	}
	aj, err1 := json.Marshal(FieldWire(av))
	bj, err2 := json.Marshal(FieldWire(bv))
	return err1 == nil && err2 == nil && string(aj) == string(bj)
}
