package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParseINI: any nova.conf, broken or not, parses or fails with an error naming the file,
// never a panic; every setting it returns points at a line of the file. And the whole loader
// (parse, types, interpolation) takes what the parser accepts without panicking.
func FuzzParseINI(f *testing.F) {
	f.Add("[DEFAULT]\nhost = cmp1\ndebug = true\n[libvirt]\nvirt_type = qemu\n")
	f.Add("[DEFAULT]\ntransport_url = rabbit://u:p@h:5672/\n  continued\n[vnc]\nserver_listen = $my_ip\n")
	f.Add("no section = 1\n")
	f.Add("[DEFAULT\nx")
	f.Add("[DEFAULT]\nmy_ip = \"127.0.0.1\"\nstate_path = ${state_path}/x\n")
	f.Fuzz(func(t *testing.T, text string) {
		settings, err := parseINI("nova.conf", bytes.NewReader([]byte(text)))
		if err != nil {
			if !strings.Contains(err.Error(), "nova.conf") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		lines := strings.Count(text, "\n") + 1
		for _, s := range settings {
			if s.Line < 1 || s.Line > lines || s.File != "nova.conf" {
				t.Fatalf("setting %+v points outside the file (%d lines)", s, lines)
			}
		}
		p := filepath.Join(t.TempDir(), "nova.conf")
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		_, _ = Load([]Source{{Path: p}})
	})
}
