package agent

import (
	"testing"

	"github.com/novalet/novalet/rpc/ovo"
)

// TestForcedConfigDriveIsRecorded: with force_config_drive, a build records config_drive
// "True" in its final save, as nova's _update_instance_after_spawn does; the option itself
// applies only to an instance never launched.
func TestForcedConfigDriveIsRecorded(t *testing.T) {
	e := newOpsEnv(t, func(_ *Deps, o *Options) { o.Compute.ForceConfigDrive = true })
	inst := e.newInstance(t)
	id, _ := ovo.Value[string](inst, "uuid")
	if !needsConfigDrive(&instance{obj: inst}, nil, true) {
		t.Fatal("force_config_drive ignored for a new instance")
	}
	e.build(t, inst, nil)
	stored := &instance{obj: e.cond.Instance(id)}
	if got := stored.str("config_drive"); got != "True" {
		t.Errorf("config_drive %q after a forced build, want True", got)
	}
	must(t, stored.obj.Set("config_drive", ""))
	if needsConfigDrive(stored, nil, true) {
		t.Error("force_config_drive applied to a launched instance")
	}
	if !needsConfigDrive(stored, map[string]any{"properties": map[string]any{"img_config_drive": "mandatory"}}, false) {
		t.Error("img_config_drive=mandatory ignored")
	}
}
