// Package ovo owns Nova versioned objects on the wire (nova 26.2.2, Zed): the
// "nova_object.*" primitive codec, change tracking, the Zed version manifests
// sent to nova-conductor, and applying object_action replies.
//
// An Object is generic: a class name, a version, the values of the fields that
// are set, and the set of fields changed since the last reset. The field table
// of every Zed class (zed_manifest.json, generated from the installed nova by
// testdata/gen_manifest.py) drives how each value is checked and encoded.
// Unset fields are absent from the primitive; null is a set field whose value
// is nil.
//
// Go representation of field values, by oslo field type:
//
//	String, SensitiveString, UUID, Enum, MACAddress, PCIAddress,
//	IPAddress*, IPNetwork*, ResourceClass, *Address   string
//	NetworkModel, NetworkVIFModel                      string holding JSON (nova double-encodes it)
//	Integer, NonNegativeInteger                        int64
//	Float, NonNegativeFloat                            float64
//	Boolean, FlexibleBoolean                           bool
//	DateTime                                           time.Time
//	List, Set                                          []any (a Set is encoded sorted)
//	List of Object (ListOfObjectsField)                []*Object
//	Dict                                               map[string]any
//	Object                                             *Object
//	null                                               nil
//
// Set accepts the natural Go forms too (int, []string, map[string]string,
// netip.Addr, a *T pointer, ...) and converts them as oslo's coerce would.
// Fields a class does not know (a newer peer's) are kept verbatim as
// json.RawMessage so that a decoded object re-encodes without loss.
//
// Change tracking follows oslo's: Set marks a field changed, nested objects
// with changes make their field changed, ObjResetChanges clears marks, and
// "nova_object.changes" carries them (conductor persists only those fields).
// Two nova refinements are deliberately not copied: values returned by Get
// and Value are the object's own, and changing a map or slice in place is
// not noticed (nova snapshots Instance.metadata/system_metadata and
// Flavor.extra_specs/projects to notice it) — call Set instead; and nova's
// Flavor hydrated from a primitive always reports non-empty extra_specs as
// changed, which makes Python's nova-compute resend the flavor on every
// Instance.save. Go objects do not.
//
// Class-specific Python constructors are not run: set Service.version (64
// in Zed) yourself.
package ovo

import "errors"

// Error classes; callers decide with errors.Is.
var (
	// ErrMalformed: input that is not a valid object primitive (bad JSON, bad
	// envelope keys, a field value of the wrong type).
	ErrMalformed = errors.New("ovo: malformed object primitive")
	// ErrUnknown: an object class or field that the manifest does not have.
	ErrUnknown = errors.New("ovo: unknown object class or field")
	// ErrInvalidValue: a value that the field's type does not accept.
	ErrInvalidValue = errors.New("ovo: invalid field value")
	// ErrReadOnly: changing a read-only field that is already set.
	ErrReadOnly = errors.New("ovo: read-only field")
)
