package oslolog

import (
	"fmt"
	"log/syslog"
	"strings"
)

// syslogWriter is what syslogSink needs of *syslog.Writer.
type syslogWriter interface {
	Debug(string) error
	Info(string) error
	Warning(string) error
	Err(string) error
	Crit(string) error
	Close() error
}

// syslogSink is oslo.log's OSSysLogHandler: the formatted line at the level's severity
// (SYSLOG_MAP), under the binary's name and syslog_log_facility.
type syslogSink struct {
	w syslogWriter
}

func (s *syslogSink) emit(e *entry) error {
	msg := string(e.text)
	switch syslogSeverity(e.level) {
	case 7:
		return s.w.Debug(msg)
	case 6:
		return s.w.Info(msg)
	case 4:
		return s.w.Warning(msg)
	case 3:
		return s.w.Err(msg)
	}
	return s.w.Crit(msg)
}

// facilities are oslo's valid syslog_log_facility values.
var facilities = map[string]syslog.Priority{
	"LOG_KERN": syslog.LOG_KERN, "LOG_USER": syslog.LOG_USER, "LOG_MAIL": syslog.LOG_MAIL,
	"LOG_DAEMON": syslog.LOG_DAEMON, "LOG_AUTH": syslog.LOG_AUTH, "LOG_SYSLOG": syslog.LOG_SYSLOG,
	"LOG_LPR": syslog.LOG_LPR, "LOG_NEWS": syslog.LOG_NEWS, "LOG_UUCP": syslog.LOG_UUCP,
	"LOG_CRON": syslog.LOG_CRON, "LOG_AUTHPRIV": syslog.LOG_AUTHPRIV, "LOG_FTP": syslog.LOG_FTP,
	"LOG_LOCAL0": syslog.LOG_LOCAL0, "LOG_LOCAL1": syslog.LOG_LOCAL1, "LOG_LOCAL2": syslog.LOG_LOCAL2,
	"LOG_LOCAL3": syslog.LOG_LOCAL3, "LOG_LOCAL4": syslog.LOG_LOCAL4, "LOG_LOCAL5": syslog.LOG_LOCAL5,
	"LOG_LOCAL6": syslog.LOG_LOCAL6, "LOG_LOCAL7": syslog.LOG_LOCAL7,
}

// Facility is oslo's _find_facility: "local3", "LOCAL3" and "LOG_LOCAL3" name the same one.
func Facility(name string) (syslog.Priority, error) {
	n := strings.ToUpper(name)
	if !strings.HasPrefix(n, "LOG_") {
		n = "LOG_" + n
	}
	f, ok := facilities[n]
	if !ok {
		return 0, fmt.Errorf("%w: syslog_log_facility %q is not one of LOG_KERN, LOG_USER, LOG_DAEMON, LOG_LOCAL0..7, ...", ErrOption, name)
	}
	return f, nil
}
