package agent

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/novalet/novalet/rpc"
	"github.com/novalet/novalet/rpc/ovo"
)

// An instance uuid becomes a path that is made and removed: anything but a canonical UUID is
// refused before it gets there.
func TestInstanceUUIDIsValidatedBeforeItBecomesAPath(t *testing.T) {
	a := testAgent(t, newFakeConductor(), t.TempDir(), nil)
	victim := filepath.Join(filepath.Dir(a.c.opts.InstancesPath), "victim")
	if err := os.MkdirAll(victim, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"../victim", "", "not-a-uuid", "{6f1c2b1a-3d2e-4f5a-8b7c-9d0e1f2a3b4c}"} {
		inst, _ := ovo.New("Instance")
		if err := inst.Set("uuid", bad); err != nil {
			t.Fatal(err)
		}
		raw, _ := json.Marshal(inst)
		for _, method := range []string{"terminate_instance", "build_and_run_instance", "stop_instance", "get_console_output"} {
			req := &rpc.Request{Method: method, Args: map[string]json.RawMessage{"instance": raw}}
			_, err := a.Endpoints()[0].Methods[method](t.Context(), req)
			var re *rpc.RemoteError
			if !errors.As(err, &re) || re.Class != "InvalidInput" {
				t.Errorf("%s with uuid %q: %v, want InvalidInput", method, bad, err)
			}
		}
	}
	if _, err := os.Stat(victim); err != nil {
		t.Fatalf("a directory outside instances_path went: %v", err)
	}
}
