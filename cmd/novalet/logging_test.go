package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/novalet/novalet/config"
)

// TestLoggingFlagsWinOverFiles: oslo.log's command-line flags, as Debian's init script passes
// them, override [DEFAULT] in the files; flags not given leave the files' values.
func TestLoggingFlagsWinOverFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nova.conf")
	if err := os.WriteFile(path, []byte("[DEFAULT]\nlog_dir = /srv/log\nuse_json = true\ndebug = true\nuse_stderr = true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srcs, flags, code := parseFlags("run", []string{"--config-file", path, "--log-file=/var/log/nova/nova-compute.log",
		"--use-json=false", "--use-syslog", "--syslog-log-facility", "local0"}, &bytes.Buffer{})
	if code != -1 {
		t.Fatalf("code %d", code)
	}
	cfg, err := loadConfig(srcs, flags)
	if err != nil {
		t.Fatal(err)
	}
	d := cfg.Default
	if d.LogFile != "/var/log/nova/nova-compute.log" || d.LogDir != "/srv/log" || d.UseJSON || !d.UseSyslog ||
		d.SyslogLogFacility != "local0" || !d.Debug || !d.UseStderr {
		t.Errorf("effective [DEFAULT] %+v", d)
	}
	_, flags, _ = parseFlags("run", []string{"--config-file", path, "-d=false"}, &bytes.Buffer{})
	if cfg, _ := loadConfig(srcs, flags); cfg.Default.Debug {
		t.Error("-d=false did not win over debug = true")
	}
}

// TestOpenLoggingLogDir: log_dir alone gives <log_dir>/nova-compute.log, in oslo's text format.
func TestOpenLoggingLogDir(t *testing.T) {
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	level := new(slog.LevelVar)
	logs, err := openLogging(config.Default{LogDir: dir, LogDateFormat: "%Y-%m-%d %H:%M:%S"}, level, &stdout, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	logs.Logger.With("instance_uuid", "u-1", "request_id", "req-1").Info("spawned", "took", "1s")
	logs.Close()
	b, err := os.ReadFile(filepath.Join(dir, "nova-compute.log"))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \d+ INFO novalet \[None req-1 - - - - - -\] \[instance: u-1\] spawned took=1s\n$`)
	if !re.Match(b) {
		t.Errorf("log file holds %q", b)
	}
	if stdout.Len()+stderr.Len() != 0 {
		t.Errorf("a log file given, yet stdout %q stderr %q", stdout.String(), stderr.String())
	}
}

// TestOpenLoggingFallsBackToStdout: with no log_file, log_dir, use_stderr or use_journal,
// records go to stdout as oslo's do; use_json makes them JSON.
func TestOpenLoggingFallsBackToStdout(t *testing.T) {
	var stdout, stderr bytes.Buffer
	logs, err := openLogging(config.Default{UseJSON: true}, new(slog.LevelVar), &stdout, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	logs.Logger.Info("novalet ready")
	if !strings.Contains(stdout.String(), `"msg":"novalet ready"`) || stderr.Len() != 0 {
		t.Errorf("stdout %q stderr %q", stdout.String(), stderr.String())
	}
}
