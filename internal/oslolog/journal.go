package oslolog

import (
	"strconv"
	"strings"

	"github.com/coreos/go-systemd/v22/journal"
)

// journalSink is oslo.log's OSJournalHandler: the formatted line as MESSAGE, and beside it
// the fields it sends (PRIORITY, SYSLOG_IDENTIFIER, SYSLOG_FACILITY, LOGGER_NAME,
// LOGGER_LEVEL, CODE_FILE, CODE_LINE, CODE_FUNC, REQUEST_ID, USER_ID, PROJECT_ID), plus every
// other attribute in upper case (INSTANCE_UUID=...), so `journalctl REQUEST_ID=req-...` works.
type journalSink struct {
	identifier string // SYSLOG_IDENTIFIER: the binary's name
	facility   int    // as oslo sends it: Python's syslog.LOG_* value (LOG_USER is 8)
	send       func(msg string, p journal.Priority, vars map[string]string) error
}

func (s *journalSink) emit(e *entry) error {
	return s.send(string(e.text), journal.Priority(syslogSeverity(e.level)), s.fields(e))
}

// fields are the journal fields besides MESSAGE and PRIORITY (journal.Send sets those).
func (s *journalSink) fields(e *entry) map[string]string {
	vars := map[string]string{}
	for _, a := range e.attrs {
		if k := journalField(a.Key); k != "" {
			vars[k] = valueString(a.Value)
		}
	}
	if e.pc != 0 {
		fn, file, line := source(e.pc)
		vars["CODE_FILE"], vars["CODE_LINE"], vars["CODE_FUNC"] = file, strconv.Itoa(line), fn
	}
	vars["LOGGER_NAME"] = e.name
	vars["LOGGER_LEVEL"] = levelName(e.level)
	vars["SYSLOG_IDENTIFIER"] = s.identifier
	vars["SYSLOG_FACILITY"] = strconv.Itoa(s.facility)
	return vars
}

// journalField turns an attribute key into a journal field name: upper case letters, digits
// and '_', not starting with '_' (reserved to journald) or a digit; "" when nothing is left.
func journalField(key string) string {
	f := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			return r
		}
		return '_'
	}, key)
	f = strings.TrimLeft(f, "_")
	if f != "" && f[0] >= '0' && f[0] <= '9' {
		f = "F_" + f
	}
	switch f {
	case "MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER", "SYSLOG_FACILITY", "LOGGER_NAME", "LOGGER_LEVEL",
		"CODE_FILE", "CODE_LINE", "CODE_FUNC":
		return "ATTR_" + f // an attribute must not overwrite the handler's own fields
	}
	return f
}
