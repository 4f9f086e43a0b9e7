package agent

import (
	"bytes"
	"encoding/base64"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/novalet/novalet/rpc/ovo"
)

// lockedBuffer is a log sink safe for the agent's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestSecretsStayOutOfLogsAndFaults: the admin password, user_data and the user's token of a
// build reach the config drive and Glance, and nothing else: no log line at debug level and
// no instance fault carries them, on a build that succeeds and on one that fails.
func TestSecretsStayOutOfLogsAndFaults(t *testing.T) {
	const (
		adminPass = "ADMINPW-4f9a2c"
		userData  = "#!/bin/sh\necho USERDATA-7d1e0b\n"
		token     = "TOKEN-gAAAAAB-c0ffee"
	)
	logs := &lockedBuffer{}
	e := newOpsEnv(t, func(d *Deps, o *Options) {
		d.Log = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		o.Compute.ForceConfigDrive = true
	})
	build := func(fail bool) string {
		inst := e.newInstance(t)
		must(t, inst.Set("user_data", base64.StdEncoding.EncodeToString([]byte(userData))))
		e.cond.PutInstance(inst)
		id, _ := ovo.Value[string](inst, "uuid")
		if fail {
			e.hv.InjectError("Start", errors.New("qemu died"))
		}
		req := e.buildRequest(t, inst, map[string]any{"admin_password": adminPass})
		req.Context["auth_token"] = token
		if _, err := e.a.buildAndRunInstance(t.Context(), req); err != nil {
			t.Fatal(err)
		}
		return id
	}
	ok := build(false)
	if vm, _, _ := e.instanceState(t, ok); vm != "active" {
		t.Fatalf("the build did not succeed: %s", vm)
	}
	failed := build(true)
	if len(e.cond.FaultMessages(failed)) == 0 {
		t.Fatal("the failed build recorded no fault")
	}
	secrets := []string{adminPass, "USERDATA-7d1e0b", token, base64.StdEncoding.EncodeToString([]byte(userData))}
	for _, s := range secrets {
		if strings.Contains(logs.String(), s) {
			t.Errorf("a log line carries a secret (%.8s...)", s)
		}
		for _, f := range e.cond.Faults() {
			if strings.Contains(f.Message, s) {
				t.Errorf("a fault carries a secret (%.8s...): %s", s, f.Message)
			}
		}
	}
	if !strings.Contains(logs.String(), ok) {
		t.Fatal("the captured logs do not even name the instance: nothing was checked")
	}
}
