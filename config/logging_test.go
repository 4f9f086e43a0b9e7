package config

import (
	"strings"
	"testing"
)

// TestLoggingDefaults: oslo.log's defaults when nova.conf says nothing about logging.
func TestLoggingDefaults(t *testing.T) {
	d := load(t, Source{Path: writeFile(t, t.TempDir(), "nova.conf", "[DEFAULT]\n")}).Default
	if d.LogFile != "" || d.LogDir != "" || d.UseStderr || d.UseJournal || d.UseSyslog || d.UseJSON || d.WatchLogFile {
		t.Errorf("logging options set by default: %+v", d)
	}
	if d.SyslogLogFacility != "LOG_USER" {
		t.Errorf("syslog_log_facility = %q, want LOG_USER", d.SyslogLogFacility)
	}
	if d.LogDateFormat != "%Y-%m-%d %H:%M:%S" {
		t.Errorf("log_date_format = %q, want oslo's %%Y-%%m-%%d %%H:%%M:%%S", d.LogDateFormat)
	}
}

// TestLoggingOptions: every oslo.log option novalet acts on is read, and the deprecated
// logdir/logfile names still count (with a warning), as in oslo.config.
func TestLoggingOptions(t *testing.T) {
	c := load(t, Source{Path: writeFile(t, t.TempDir(), "nova.conf", `[DEFAULT]
logdir = /var/log/nova
logfile = compute.log
use_stderr = true
use_journal = true
use_syslog = true
syslog_log_facility = local3
use_json = true
log_date_format = %d/%m/%Y %H:%M
watch_log_file = true
`)})
	d := c.Default
	if d.LogDir != "/var/log/nova" || d.LogFile != "compute.log" {
		t.Errorf("log_dir, log_file = %q, %q", d.LogDir, d.LogFile)
	}
	if !d.UseStderr || !d.UseJournal || !d.UseSyslog || !d.UseJSON || !d.WatchLogFile {
		t.Errorf("boolean logging options not read: %+v", d)
	}
	if d.SyslogLogFacility != "local3" || d.LogDateFormat != "%d/%m/%Y %H:%M" {
		t.Errorf("syslog_log_facility, log_date_format = %q, %q", d.SyslogLogFacility, d.LogDateFormat)
	}
	if w := warningsText(c); !strings.Contains(w, "logdir: deprecated name; use [DEFAULT] log_dir") {
		t.Errorf("no deprecation warning for logdir:\n%s", w)
	}
}
