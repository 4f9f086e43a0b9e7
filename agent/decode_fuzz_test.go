package agent

import (
	"encoding/json"
	"testing"

	"github.com/novalet/novalet/rpc"
)

// FuzzDecodeBuild: whatever build_and_run_instance arguments arrive, decoding answers without
// panicking, and a request it accepts carries an instance whose uuid is safe to use as a path.
func FuzzDecodeBuild(f *testing.F) {
	inst := `{"nova_object.name": "Instance", "nova_object.namespace": "nova", "nova_object.version": "2.7",
	  "nova_object.data": {"uuid": "6f1c2b1a-3d2e-4f5a-8b7c-9d0e1f2a3b4c", "vm_state": "building"}}`
	nets := `{"nova_object.name": "NetworkRequestList", "nova_object.namespace": "nova", "nova_object.version": "1.1",
	  "nova_object.data": {"objects": [{"nova_object.name": "NetworkRequest", "nova_object.namespace": "nova",
	  "nova_object.version": "1.3", "nova_object.data": {"network_id": "none"}}]}}`
	f.Add(inst, `{"id": "i"}`, `{}`, `"pw"`, `[["/etc/motd", "aGk="]]`, nets, `["default"]`)
	f.Add(`null`, ``, ``, ``, ``, ``, ``)
	f.Add(inst, `[]`, `1`, `{}`, `[["a"]]`, `{"nova_object.name": "Instance"}`, `"x"`)
	f.Fuzz(func(t *testing.T, instance, image, filter, pw, files, requested, groups string) {
		req := &rpc.Request{Method: "build_and_run_instance", Args: map[string]json.RawMessage{}}
		for k, v := range map[string]string{"instance": instance, "image": image, "filter_properties": filter,
			"admin_password": pw, "injected_files": files, "requested_networks": requested, "security_groups": groups} {
			if v != "" {
				req.Args[k] = json.RawMessage(v)
			}
		}
		b, err := decodeBuild(req)
		if err != nil {
			return
		}
		if !isUUID(b.inst.uuid()) {
			t.Fatalf("accepted an instance uuid %q that is not a UUID", b.inst.uuid())
		}
	})
}
