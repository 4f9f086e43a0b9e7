package main

import (
	"flag"
	"io"
	"log/slog"

	"github.com/novalet/novalet/config"
	"github.com/novalet/novalet/internal/oslolog"
)

// logBinary is the program name oslo.log takes from argv[0] for nova-compute: log_dir alone
// gives <log_dir>/nova-compute.log, and syslog and journald see the same identifier, so what
// tails, greps or filters nova-compute's logs finds novalet's.
const logBinary = "nova-compute"

// logFlags are oslo.log's command-line options (Debian's init script passes --log-file and,
// with USE_SYSLOG=yes, --use-syslog). As in oslo.config, a flag wins over the files.
type logFlags struct {
	debug, useJSON, useSyslog, useJournal, watchLogFile bool
	logFile, logDir, facility, dateFormat               string
	given                                               map[string]bool
}

func (f *logFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&f.debug, "debug", false, "[DEFAULT] debug: log at DEBUG")
	fs.BoolVar(&f.debug, "d", false, "short for --debug")
	fs.StringVar(&f.logFile, "log-file", "", "[DEFAULT] log_file: log to this file (under --log-dir when relative)")
	fs.StringVar(&f.logDir, "log-dir", "", "[DEFAULT] log_dir: log to DIR/nova-compute.log, or DIR/<log-file>")
	fs.BoolVar(&f.useJSON, "use-json", false, "[DEFAULT] use_json: JSON lines instead of oslo's text format")
	fs.BoolVar(&f.useSyslog, "use-syslog", false, "[DEFAULT] use_syslog: log to syslog too")
	fs.BoolVar(&f.useJournal, "use-journal", false, "[DEFAULT] use_journal: log to journald with its fields")
	fs.StringVar(&f.facility, "syslog-log-facility", "", "[DEFAULT] syslog_log_facility")
	fs.StringVar(&f.dateFormat, "log-date-format", "", "[DEFAULT] log_date_format (strftime)")
	fs.BoolVar(&f.watchLogFile, "watch-log-file", false, "[DEFAULT] watch_log_file (accepted; novalet reopens its log file on SIGHUP)")
}

// parsed records which flags the command line gave, after fs.Parse.
func (f *logFlags) parsed(fs *flag.FlagSet) {
	f.given = map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { f.given[fl.Name] = true })
	if f.given["d"] {
		f.given["debug"] = true
	}
}

// apply puts the flags given over the files' values.
func (f logFlags) apply(d *config.Default) {
	set := func(name string, dst *bool, v bool) {
		if f.given[name] {
			*dst = v
		}
	}
	setS := func(name string, dst *string, v string) {
		if f.given[name] {
			*dst = v
		}
	}
	set("debug", &d.Debug, f.debug)
	set("use-json", &d.UseJSON, f.useJSON)
	set("use-syslog", &d.UseSyslog, f.useSyslog)
	set("use-journal", &d.UseJournal, f.useJournal)
	set("watch-log-file", &d.WatchLogFile, f.watchLogFile)
	setS("log-file", &d.LogFile, f.logFile)
	setS("log-dir", &d.LogDir, f.logDir)
	setS("syslog-log-facility", &d.SyslogLogFacility, f.facility)
	setS("log-date-format", &d.LogDateFormat, f.dateFormat)
}

// loadConfig reads the files, then the command line's logging flags over them.
func loadConfig(sources []config.Source, flags logFlags) (*config.Config, error) {
	cfg, err := config.Load(sources)
	if err != nil {
		return nil, err
	}
	flags.apply(&cfg.Default)
	return cfg, nil
}

// openLogging is oslo.log's setup for nova-compute from [DEFAULT]: where records go (file,
// stderr, journald, stdout when none of those, syslog) and how they look (oslo's text format,
// or JSON with use_json), at a level SIGHUP may change ([DEFAULT] debug).
func openLogging(d config.Default, level *slog.LevelVar, stdout, stderr io.Writer) (*oslolog.Logging, error) {
	return oslolog.New(oslolog.Options{
		LogFile: d.LogFile, LogDir: d.LogDir,
		UseStderr: d.UseStderr, UseJournal: d.UseJournal, UseSyslog: d.UseSyslog,
		SyslogFacility: d.SyslogLogFacility, UseJSON: d.UseJSON, DateFormat: d.LogDateFormat,
		Binary: logBinary, Name: "novalet", Level: level,
		Stdout: stdout, Stderr: stderr,
	})
}
