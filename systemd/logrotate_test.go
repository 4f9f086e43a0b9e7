package systemd

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// logrotateStanzas parses logrotate's syntax minimally: "path... {" directives "}", comments
// dropped; it maps each path to its directives' first words.
func logrotateStanzas(t *testing.T, text string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	var paths []string
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasSuffix(line, "{"):
			if paths != nil {
				t.Fatalf("nested stanza at %q", line)
			}
			paths = strings.Fields(strings.TrimSuffix(line, "{"))
		case line == "}":
			if paths == nil {
				t.Fatal("} without a stanza")
			}
			paths = nil
		default:
			if paths == nil {
				t.Fatalf("directive %q outside a stanza", line)
			}
			for _, p := range paths {
				out[p] = append(out[p], strings.Fields(line)[0])
			}
		}
	}
	if paths != nil {
		t.Fatal("unterminated stanza")
	}
	return out
}

// TestLogrotateFile: nova-compute.log under /var/log/nova, rotated with copytruncate (novalet
// appends with O_APPEND and keeps its descriptor), and coexisting with nova-common's stanza.
func TestLogrotateFile(t *testing.T) {
	st := logrotateStanzas(t, LogrotateFile)
	d, ok := st["/var/log/nova/nova-compute.log"]
	if !ok || len(st) != 1 {
		t.Fatalf("stanzas %v, want /var/log/nova/nova-compute.log alone", st)
	}
	for _, want := range []string{"copytruncate", "ignoreduplicates", "daily", "missingok", "compress", "delaycompress"} {
		if !slices.Contains(d, want) {
			t.Errorf("directives %v lack %s", d, want)
		}
	}
	// logrotate reads /etc/logrotate.d in name order; ignoreduplicates helps only the stanza
	// read first.
	if name := strings.TrimPrefix(LogrotatePath, "/etc/logrotate.d/"); name >= "nova-common" {
		t.Errorf("installed as %q, which logrotate reads after nova-common", name)
	}
	if !strings.Contains(LogrotateFile, LogrotatePath) {
		t.Errorf("novalet.logrotate does not document its install path %s", LogrotatePath)
	}
}

// TestLogrotateMatchesNovaCommon: where Debian's nova-common is installed, its directives for
// /var/log/nova/*.log are ours (ours adds ignoreduplicates).
func TestLogrotateMatchesNovaCommon(t *testing.T) {
	b, err := os.ReadFile("/etc/logrotate.d/nova-common")
	if err != nil {
		t.Skip("nova-common is not installed")
	}
	theirs := logrotateStanzas(t, string(b))["/var/log/nova/*.log"]
	ours := slices.DeleteFunc(slices.Clone(logrotateStanzas(t, LogrotateFile)["/var/log/nova/nova-compute.log"]),
		func(s string) bool { return s == "ignoreduplicates" })
	slices.Sort(theirs)
	slices.Sort(ours)
	if !slices.Equal(theirs, ours) {
		t.Errorf("nova-common rotates with %v, novalet with %v", theirs, ours)
	}
}
