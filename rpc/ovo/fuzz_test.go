package ovo

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecodePrimitive feeds arbitrary bytes to the decoders. They must
// never panic, and whatever Decode accepts must encode, decode again and
// encode to the same bytes.
func FuzzDecodePrimitive(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "golden", "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no golden seeds: %v", err)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		``, `null`, `[]`, `{}`, `{"nova_object.name": 1}`,
		`{"nova_object.name": "Flavor", "nova_object.namespace": "nova", "nova_object.version": "1.2", "nova_object.data": {"id": 1e400}}`,
		`{"nova_object.name": "Instance", "nova_object.namespace": "nova", "nova_object.version": "2.7", "nova_object.data": {"launched_at": "9999-12-31T23:59:59-23:59"}}`,
		`{"nova_object.name": "ImageMetaProps", "nova_object.namespace": "nova", "nova_object.version": "1.34", "nova_object.data": {"hw_numa_cpus": [[1, 1, "2"], []]}}`,
		`{"nova_object.name": "InstanceList", "nova_object.namespace": "nova", "nova_object.version": "2.6", "nova_object.data": {"objects": [{}]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := DecodeEntity(data); err != nil {
			_ = err // only "no panic" is asked of DecodeEntity
		}
		inst, _ := New("Instance")
		_, _ = ApplyActionReply(inst, data)

		o, err := Decode(data)
		if err != nil {
			return
		}
		first, err := json.Marshal(o)
		if err != nil {
			t.Fatalf("accepted input does not encode: %v", err)
		}
		again, err := Decode(first)
		if err != nil {
			t.Fatalf("own output does not decode: %v\n%s", err, first)
		}
		second, err := json.Marshal(again)
		if err != nil {
			t.Fatalf("second encode: %v", err)
		}
		if string(first) != string(second) {
			t.Fatalf("encoding not stable:\n%s\n%s", first, second)
		}
		_ = o.Clone().ObjWhatChanged()
	})
}
