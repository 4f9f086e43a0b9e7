package oslolog

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestLogFilePath: oslo.log's _get_log_file_path, with Debian's nova-compute binary name.
func TestLogFilePath(t *testing.T) {
	for _, c := range []struct{ file, dir, want string }{
		{"", "", ""},
		{"/var/log/nova/nova-compute.log", "", "/var/log/nova/nova-compute.log"},
		{"compute.log", "", "compute.log"},
		{"compute.log", "/var/log/nova", "/var/log/nova/compute.log"},
		{"/srv/log/c.log", "/var/log/nova", "/srv/log/c.log"}, // os.path.join keeps an absolute second part
		{"", "/var/log/nova", "/var/log/nova/nova-compute.log"},
	} {
		if got := LogFilePath(c.file, c.dir, "nova-compute"); got != c.want {
			t.Errorf("LogFilePath(%q, %q) = %q, want %q", c.file, c.dir, got, c.want)
		}
	}
}

// TestPlan: _setup_logging_from_conf's precedence.
func TestPlan(t *testing.T) {
	for _, c := range []struct {
		name string
		o    Options
		path string
		want []string
	}{
		{"nothing set: stdout", Options{}, "", []string{"stdout"}},
		{"a file only", Options{}, "/l", []string{"file"}},
		{"use_stderr only", Options{UseStderr: true}, "", []string{"stderr"}},
		{"use_journal only", Options{UseJournal: true}, "", []string{"journal"}},
		{"use_syslog does not replace stdout", Options{UseSyslog: true}, "", []string{"stdout", "syslog"}},
		{"file and syslog", Options{UseSyslog: true}, "/l", []string{"file", "syslog"}},
		{"everything", Options{UseStderr: true, UseJournal: true, UseSyslog: true}, "/l", []string{"file", "stderr", "journal", "syslog"}},
	} {
		if got := plan(c.o, c.path); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// TestNewStreams: stdout as the fallback, stderr when asked, text unless use_json.
func TestNewStreams(t *testing.T) {
	var out, errw bytes.Buffer
	l, err := New(Options{Binary: "nova-compute", Name: "novalet", Stdout: &out, Stderr: &errw})
	if err != nil {
		t.Fatal(err)
	}
	l.Logger.Info("to stdout", "request_id", "req-1")
	if !strings.Contains(out.String(), " INFO novalet [None req-1 - - - - - -] to stdout\n") || errw.Len() != 0 {
		t.Errorf("stdout %q, stderr %q", out.String(), errw.String())
	}
	if !reflect.DeepEqual(l.Destinations, []string{"stdout"}) {
		t.Errorf("Destinations = %v", l.Destinations)
	}
	out.Reset()
	l, err = New(Options{UseStderr: true, UseJSON: true, Stdout: &out, Stderr: &errw})
	if err != nil {
		t.Fatal(err)
	}
	l.Logger.Warn("to stderr")
	if !strings.Contains(errw.String(), `"level":"WARN","msg":"to stderr"}`) || out.Len() != 0 {
		t.Errorf("stdout %q, stderr %q", out.String(), errw.String())
	}
}

// TestFileAppendAndReopen: the log file is opened for append (what was there stays, and
// logrotate's copytruncate leaves no hole), its directory is created, and Reopen follows a
// rotation that moved the file away; every destination gets each record.
func TestFileAppendAndReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nova")
	path := filepath.Join(dir, "nova-compute.log")
	var errw bytes.Buffer
	l, err := New(Options{LogDir: dir, UseStderr: true, Binary: "nova-compute", Name: "novalet", Stderr: &errw})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if !reflect.DeepEqual(l.Destinations, []string{"file " + path, "stderr"}) {
		t.Errorf("Destinations = %v", l.Destinations)
	}
	l.Logger.Info("one")
	// copytruncate: the file is emptied under the open descriptor; O_APPEND writes at 0.
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	l.Logger.Info("two")
	if b, _ := os.ReadFile(path); !bytes.HasPrefix(b, []byte("20")) || strings.Count(string(b), "\n") != 1 || !strings.Contains(string(b), "two") {
		t.Errorf("after truncation the file holds %q, want only the second line from offset 0", b)
	}
	// create mode: the file is moved away; writes follow it until Reopen.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	l.Logger.Info("three")
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	l.Logger.Info("four")
	old, _ := os.ReadFile(path + ".1")
	cur, _ := os.ReadFile(path)
	if !strings.Contains(string(old), "three") || strings.Contains(string(old), "four") || !strings.Contains(string(cur), "four") {
		t.Errorf("rotated %q, current %q", old, cur)
	}
	if strings.Count(errw.String(), "\n") != 4 {
		t.Errorf("stderr got %q, want all four lines", errw.String())
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o640 {
		t.Errorf("log file mode %v, %v; want 0640", st.Mode(), err)
	}
	// an existing file is appended to, not truncated
	l2, err := New(Options{LogFile: path, Stdout: &bytes.Buffer{}})
	if err != nil {
		t.Fatal(err)
	}
	l2.Logger.Info("five")
	l2.Close()
	if cur, _ := os.ReadFile(path); !strings.Contains(string(cur), "four") || !strings.Contains(string(cur), "five") {
		t.Errorf("reopening for append lost lines: %q", cur)
	}
}

// TestNewErrors: a file that cannot be opened and a facility oslo does not know are errors.
func TestNewErrors(t *testing.T) {
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Options{LogFile: filepath.Join(f, "x.log")}); err == nil {
		t.Error("a log file under a regular file opened")
	}
	if _, err := New(Options{UseSyslog: true, SyslogFacility: "LOG_NOPE"}); !errors.Is(err, ErrOption) {
		t.Errorf("bad facility: %v, want ErrOption", err)
	}
}
