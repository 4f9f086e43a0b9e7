package oslolog

import (
	"encoding"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Attribute keys the text format prints in oslo's places rather than as key=value. They are
// the names nova's RequestContext gives them (oslo.context's get_logging_values).
const (
	KeyInstanceUUID    = "instance_uuid"     // [instance: <uuid>]
	KeyRequestID       = "request_id"        // req-<uuid>: picks the context format
	KeyGlobalRequestID = "global_request_id" // printed before request_id ("None" when absent)
	KeyComponent       = "component"         // appended to the logger name: novalet.<component>
)

// userIdentityKeys are logging_user_identity_format's fields, in order:
// %(user)s %(project)s %(domain)s %(system_scope)s %(user_domain)s %(project_domain)s.
var userIdentityKeys = [...]string{"user_id", "project_id", "domain_id", "system_scope", "user_domain_id", "project_domain_id"}

// textFormat is oslo.log's ContextFormatter with its default format strings:
//
//	logging_context_format_string  %(asctime)s.%(msecs)03d %(process)d %(levelname)s %(name)s [%(global_request_id)s %(request_id)s %(user_identity)s] %(instance)s%(message)s
//	logging_default_format_string  %(asctime)s.%(msecs)03d %(process)d %(levelname)s %(name)s [-] %(instance)s%(message)s
//	logging_debug_format_suffix    %(funcName)s %(pathname)s:%(lineno)d
//
// The record's other attributes follow the message as key=value, as slog's text handler
// writes them.
type textFormat struct {
	dateFormat string         // log_date_format, strftime
	loc        *time.Location // local time, as Python's time.localtime
	pid        int
}

// line renders one record; attrs are the record's flattened attributes.
func (f *textFormat) line(r slog.Record, name string, attrs []slog.Attr) []byte {
	special := map[string]string{}
	for _, a := range attrs {
		switch a.Key {
		case KeyInstanceUUID, KeyRequestID, KeyGlobalRequestID, KeyComponent,
			"user_id", "project_id", "domain_id", "system_scope", "user_domain_id", "project_domain_id":
			special[a.Key] = a.Value.String()
		}
	}
	reqID := special[KeyRequestID]
	consumed := func(key string) bool {
		switch key {
		case KeyInstanceUUID, KeyRequestID, KeyComponent:
			return true
		case KeyGlobalRequestID, "user_id", "project_id", "domain_id", "system_scope", "user_domain_id", "project_domain_id":
			return reqID != "" // without a request context they stay key=value
		}
		return false
	}

	t := r.Time
	if t.IsZero() {
		t = time.Now()
	}
	if f.loc != nil {
		t = t.In(f.loc)
	}
	b := make([]byte, 0, 256)
	b = append(b, strftime(t, f.dateFormat)...)
	b = append(b, '.')
	b = appendPadded(b, t.Nanosecond()/int(time.Millisecond), 3)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(f.pid), 10)
	b = append(b, ' ')
	b = append(b, levelName(r.Level)...)
	b = append(b, ' ')
	b = append(b, name...)
	if reqID == "" {
		b = append(b, " [-] "...)
	} else {
		global := special[KeyGlobalRequestID]
		if global == "" {
			global = "None" // oslo prints the context's None
		}
		b = append(b, " ["...)
		b = append(b, global...)
		b = append(b, ' ')
		b = append(b, reqID...)
		for _, k := range userIdentityKeys {
			v := special[k]
			if v == "" {
				v = "-" // oslo's _ReplaceFalseValue
			}
			b = append(b, ' ')
			b = append(b, v...)
		}
		b = append(b, "] "...)
	}
	if u := special[KeyInstanceUUID]; u != "" {
		b = append(b, "[instance: "...)
		b = append(b, u...)
		b = append(b, "] "...)
	}
	b = append(b, r.Message...)
	for _, a := range attrs {
		if consumed(a.Key) {
			continue
		}
		b = append(b, ' ')
		b = appendText(b, a.Key)
		b = append(b, '=')
		b = appendText(b, valueString(a.Value))
	}
	if r.Level < slog.LevelInfo && r.PC != 0 {
		fn, file, line := source(r.PC)
		b = fmt.Appendf(b, " %s %s:%d", fn, file, line)
	}
	return b
}

// loggerName is oslo's %(name)s: base, or base.<component> for a logger that names its part.
func loggerName(base string, attrs []slog.Attr) string {
	name := base
	for _, a := range attrs {
		if a.Key == KeyComponent {
			if c := a.Value.String(); c != "" {
				name = base + "." + c
			}
		}
	}
	return name
}

// source is the debug suffix's funcName, pathname and lineno: the function without its
// package path or receiver, as Python names a method.
func source(pc uintptr) (fn, file string, line int) {
	fr, _ := runtime.CallersFrames([]uintptr{pc}).Next()
	fn = fr.Function
	if i := strings.LastIndexByte(fn, '/'); i >= 0 {
		fn = fn[i+1:]
	}
	if i := strings.IndexByte(fn, '.'); i >= 0 {
		fn = fn[i+1:]
	}
	if strings.HasPrefix(fn, "(") {
		if i := strings.Index(fn, ")."); i >= 0 {
			fn = fn[i+2:]
		}
	}
	return fn, fr.File, fr.Line
}

func appendPadded(b []byte, n, width int) []byte {
	s := strconv.Itoa(n)
	for i := len(s); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}

// valueString is an attribute's value as text, as slog's TextHandler renders it.
func valueString(v slog.Value) string {
	switch v.Kind() {
	case slog.KindTime:
		return v.Time().Format("2006-01-02T15:04:05.000Z07:00")
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			return x.Error()
		case encoding.TextMarshaler:
			t, err := x.MarshalText()
			if err != nil {
				return "!ERROR:" + err.Error()
			}
			return string(t)
		case []byte:
			return string(x)
		default:
			return fmt.Sprintf("%+v", x)
		}
	}
	return v.String()
}

// appendText appends s, quoted when it is empty or holds a space, '=', '"' or an unprintable
// character, so key=value pairs stay one line and split unambiguously.
func appendText(b []byte, s string) []byte {
	if needsQuoting(s) {
		return strconv.AppendQuote(b, s)
	}
	return append(b, s...)
}

func needsQuoting(s string) bool {
	if s == "" {
		return true
	}
	for _, r := range s {
		if r == '=' || r == '"' || r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return true
		}
	}
	return false
}
