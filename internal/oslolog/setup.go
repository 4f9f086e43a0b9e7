package oslolog

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"log/syslog"
	"os"
	"path/filepath"
	"time"

	"github.com/coreos/go-systemd/v22/journal"
)

// ErrOption is a logging option that cannot be honoured (a bad facility, no journald).
var ErrOption = errors.New("logging option")

// Options are oslo.log's options ([DEFAULT] in nova.conf) and what the process supplies.
type Options struct {
	LogFile, LogDir string // log_file (relative ones under log_dir), log_dir
	UseStderr       bool   // use_stderr
	UseJournal      bool   // use_journal
	UseSyslog       bool   // use_syslog
	SyslogFacility  string // syslog_log_facility; empty is LOG_USER
	UseJSON         bool   // use_json
	DateFormat      string // log_date_format; empty is oslo's %Y-%m-%d %H:%M:%S

	// Binary is the program name oslo derives from argv[0]: <log_dir>/<Binary>.log, the
	// syslog ident and the journal's SYSLOG_IDENTIFIER.
	Binary string
	// Name is the logger name printed in each line (%(name)s); a record's "component"
	// attribute is appended to it.
	Name  string
	Level slog.Leveler // nil is INFO; a *slog.LevelVar lets SIGHUP change [DEFAULT] debug

	Stdout, Stderr io.Writer // nil are os.Stdout and os.Stderr
}

// Logging is the logger oslo.log's setup would give nova-compute, and its open files.
type Logging struct {
	Logger *slog.Logger
	// Destinations names where records go, for a start-up line ("file /var/log/nova/...").
	Destinations []string

	file   *fileSink
	syslog syslogWriter
}

// LogFilePath is oslo.log's _get_log_file_path: log_file, under log_dir when both are set (an
// absolute log_file stays as it is, as os.path.join keeps it), or <log_dir>/<binary>.log; ""
// when neither is set.
func LogFilePath(logFile, logDir, binary string) string {
	switch {
	case logFile != "" && logDir == "":
		return logFile
	case logFile != "" && filepath.IsAbs(logFile):
		return logFile
	case logFile != "":
		return filepath.Join(logDir, logFile)
	case logDir != "":
		return filepath.Join(logDir, binary+".log")
	}
	return ""
}

// New sets up logging with oslo.log's precedence (_setup_logging_from_conf): a file when
// log_file or log_dir is set, stderr when use_stderr, journald when use_journal, stdout when
// none of these three, and syslog besides when use_syslog. Every destination gets the same
// format: JSON when use_json, otherwise oslo's default text format.
func New(o Options) (*Logging, error) {
	if o.Binary == "" {
		o.Binary = filepath.Base(os.Args[0])
	}
	if o.Name == "" {
		o.Name = o.Binary
	}
	if o.DateFormat == "" {
		o.DateFormat = "%Y-%m-%d %H:%M:%S"
	}
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	var format *textFormat
	if !o.UseJSON {
		format = &textFormat{dateFormat: o.DateFormat, loc: time.Local, pid: os.Getpid()}
	}
	l := &Logging{}
	var handlers []slog.Handler
	path := LogFilePath(o.LogFile, o.LogDir, o.Binary)
	var facility syslog.Priority
	if o.UseJournal || o.UseSyslog {
		name := o.SyslogFacility
		if name == "" {
			name = "LOG_USER"
		}
		var err error
		if facility, err = Facility(name); err != nil {
			return nil, err
		}
	}
	for _, d := range plan(o, path) {
		var s sink
		switch d {
		case "file":
			f, err := openFile(path)
			if err != nil {
				l.Close()
				return nil, err
			}
			l.file, s, d = f, f, "file "+path
		case "stderr":
			s = &streamSink{w: o.Stderr}
		case "stdout":
			s = &streamSink{w: o.Stdout}
		case "journal":
			if !journal.Enabled() {
				l.Close()
				return nil, fmt.Errorf("%w: use_journal: journald's socket is not available", ErrOption)
			}
			s = &journalSink{identifier: o.Binary, facility: int(facility), send: journal.Send}
		case "syslog":
			w, err := syslog.New(facility|syslog.LOG_INFO, o.Binary)
			if err != nil {
				l.Close()
				return nil, fmt.Errorf("%w: use_syslog: %w", ErrOption, err)
			}
			l.syslog, s = w, &syslogSink{w: w}
		}
		handlers = append(handlers, newHandler(s, o.Level, o.Name, format))
		l.Destinations = append(l.Destinations, d)
	}
	if len(handlers) == 1 {
		l.Logger = slog.New(handlers[0])
	} else {
		l.Logger = slog.New(slog.NewMultiHandler(handlers...))
	}
	return l, nil
}

// plan is _setup_logging_from_conf's order of handlers: the file (path, when log_file or
// log_dir gives one), stderr, journald, stdout when none of those three, then syslog.
func plan(o Options, path string) []string {
	var out []string
	if path != "" {
		out = append(out, "file")
	}
	if o.UseStderr {
		out = append(out, "stderr")
	}
	if o.UseJournal {
		out = append(out, "journal")
	}
	if path == "" && !o.UseStderr && !o.UseJournal {
		out = append(out, "stdout") // oslo's fallback: standard output, not standard error
	}
	if o.UseSyslog {
		out = append(out, "syslog")
	}
	return out
}

// Reopen reopens the log file (SIGHUP after logrotate moved it); without a file it does nothing.
func (l *Logging) Reopen() error {
	if l.file == nil {
		return nil
	}
	return l.file.reopen()
}

// Close closes the log file and the syslog connection.
func (l *Logging) Close() error {
	var errs []error
	if l.file != nil {
		errs = append(errs, l.file.close())
	}
	if l.syslog != nil {
		errs = append(errs, l.syslog.Close())
	}
	return errors.Join(errs...)
}
