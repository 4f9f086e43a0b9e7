// Package oslolog writes log/slog records the way oslo.log writes nova-compute's: its default
// text format (logging_context_format_string / logging_default_format_string), its level names,
// and its handlers (a log file, stderr, stdout, journald, syslog) chosen with its precedence.
package oslolog

import "log/slog"

// LevelCritical is oslo's CRITICAL, above slog's ERROR as Python's 50 is above 40.
const LevelCritical = slog.LevelError + 4

// levelName is Python logging's name for the level, as oslo prints it.
func levelName(l slog.Level) string {
	switch {
	case l < slog.LevelInfo:
		return "DEBUG"
	case l < slog.LevelWarn:
		return "INFO"
	case l < slog.LevelError:
		return "WARNING"
	case l < LevelCritical:
		return "ERROR"
	}
	return "CRITICAL"
}

// syslogSeverity is oslo.log's SYSLOG_MAP: the syslog severity of a level.
func syslogSeverity(l slog.Level) int {
	switch {
	case l < slog.LevelInfo:
		return 7
	case l < slog.LevelWarn:
		return 6
	case l < slog.LevelError:
		return 4
	case l < LevelCritical:
		return 3
	}
	return 2
}
