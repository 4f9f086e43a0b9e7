package glance

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Image is the part of Glance v2's image record a compute acts on.
type Image struct {
	ID              string `json:"id"`
	Name            string `json:"name"`
	Status          string `json:"status"`
	DiskFormat      string `json:"disk_format"`
	ContainerFormat string `json:"container_format"`
	Size            *int64 `json:"size"`
	VirtualSize     *int64 `json:"virtual_size"`
	Checksum        string `json:"checksum"`
	OSHashAlgo      string `json:"os_hash_algo"`
	OSHashValue     string `json:"os_hash_value"`
	CreatedAt       string `json:"created_at"`
	// Properties are the record's other string-valued keys: Glance v2 keeps custom
	// properties (instance_uuid, image_type, ...) at the top level of the record.
	Properties map[string]string `json:"-"`
}

// baseKeys are the record's own attributes (Glance's image schema), never properties.
var baseKeys = map[string]bool{
	"id": true, "name": true, "status": true, "visibility": true, "protected": true, "os_hidden": true,
	"owner": true, "disk_format": true, "container_format": true, "size": true, "virtual_size": true,
	"min_disk": true, "min_ram": true, "checksum": true, "os_hash_algo": true, "os_hash_value": true,
	"created_at": true, "updated_at": true, "tags": true, "file": true, "self": true, "schema": true,
	"locations": true, "direct_url": true, "stores": true,
}

// UnmarshalJSON reads the record, its custom properties included.
func (img *Image) UnmarshalJSON(b []byte) error {
	type plain Image
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return err
	}
	for k, raw := range all {
		if baseKeys[k] {
			continue
		}
		var v string
		if json.Unmarshal(raw, &v) != nil {
			continue // Glance allows only strings here; skip anything else rather than fail
		}
		if p.Properties == nil {
			p.Properties = map[string]string{}
		}
		p.Properties[k] = v
	}
	*img = Image(p)
	return nil
}

// record is the raw record as JSON values, for computing a patch.
type record map[string]json.RawMessage

// patchOp is one JSON-patch operation of Glance's
// application/openstack-images-v2.1-json-patch.
type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

// diff is what glanceclient's schema-based model sends for a set of attribute values:
// "replace" for a schema attribute (disk_format, ...) or a property whose value differs,
// "add" for a property the record lacks, nothing for an equal value.
func (r record) diff(set map[string]string) ([]patchOp, error) {
	var ops []patchOp
	for _, k := range sortedKeys(set) {
		v := set[k]
		cur, ok := r[k]
		if !ok && !baseKeys[k] {
			ops = append(ops, patchOp{Op: "add", Path: pointer(k), Value: v})
			continue
		}
		var old any
		if !ok {
			cur = json.RawMessage("null")
		}
		if err := json.Unmarshal(cur, &old); err != nil {
			return nil, fmt.Errorf("record key %q: %w", k, err)
		}
		if s, isString := old.(string); isString && s == v {
			continue
		}
		ops = append(ops, patchOp{Op: "replace", Path: pointer(k), Value: v})
	}
	return ops, nil
}

// pointer is the JSON pointer (RFC 6901) of a top-level key.
func pointer(k string) string {
	return "/" + strings.NewReplacer("~", "~0", "/", "~1").Replace(k)
}
