package oslolog

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"sync"
)

// entry is one formatted record and what journald and syslog take beside the text.
type entry struct {
	text  []byte // one line (oslo's text or JSON), without the newline
	level slog.Level
	name  string // the logger name oslo prints (%(name)s)
	pc    uintptr
	attrs []slog.Attr // every attribute, flattened: a group's keys are "group.key"
}

// sink is where formatted records go: a stream, a file, journald or syslog.
type sink interface {
	emit(e *entry) error
}

// core is what a Handler and those derived from it with WithAttrs or WithGroup share.
type core struct {
	sink   sink
	level  slog.Leveler
	name   string      // the logger name, before a "component" attribute's
	format *textFormat // nil: JSON

	mu  sync.Mutex // serialises the JSON handlers' writes into buf
	buf bytes.Buffer
}

// Handler is a slog.Handler that formats records as oslo.log does (text or JSON) and sends
// them to one destination. It is safe for concurrent use.
type Handler struct {
	c      *core
	attrs  []slog.Attr  // from WithAttrs, flattened under the groups open at the time
	prefix string       // the groups open now, as "a.b."
	json   slog.Handler // use_json: slog's JSON handler, writing into c.buf
}

func newHandler(s sink, level slog.Leveler, name string, format *textFormat) *Handler {
	c := &core{sink: s, level: level, name: name, format: format}
	h := &Handler{c: c}
	if format == nil {
		h.json = slog.NewJSONHandler(&c.buf, &slog.HandlerOptions{Level: level})
	}
	return h
}

// Enabled reports whether the level is at or above the configured one ([DEFAULT] debug).
func (h *Handler) Enabled(_ context.Context, l slog.Level) bool {
	min := slog.LevelInfo
	if h.c.level != nil {
		min = h.c.level.Level()
	}
	return l >= min
}

// WithAttrs returns a Handler whose records carry attrs too, under the groups open now.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	n := *h
	n.attrs = flatten(slices.Clip(h.attrs), h.prefix, attrs)
	if h.json != nil {
		n.json = h.json.WithAttrs(attrs)
	}
	return &n
}

// WithGroup returns a Handler that puts later attributes under name.
func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	n := *h
	n.prefix = h.prefix + name + "."
	if h.json != nil {
		n.json = h.json.WithGroup(name)
	}
	return &n
}

// Handle formats r and sends it; the error is the destination's.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	attrs := slices.Clip(h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		attrs = flatten(attrs, h.prefix, []slog.Attr{a})
		return true
	})
	e := &entry{level: r.Level, pc: r.PC, attrs: attrs}
	e.name = loggerName(h.c.name, attrs)
	if h.c.format != nil {
		e.text = h.c.format.line(r, e.name, attrs)
	} else {
		h.c.mu.Lock()
		h.c.buf.Reset()
		err := h.json.Handle(ctx, r)
		e.text = bytes.TrimSuffix(bytes.Clone(h.c.buf.Bytes()), []byte("\n"))
		h.c.mu.Unlock()
		if err != nil {
			return err
		}
	}
	return h.c.sink.emit(e)
}

// flatten appends attrs to dst with resolved values, a group's members under "group.";
// empty attributes and empty groups are dropped, as slog's own handlers do.
func flatten(dst []slog.Attr, prefix string, attrs []slog.Attr) []slog.Attr {
	for _, a := range attrs {
		a.Value = a.Value.Resolve()
		if a.Equal(slog.Attr{}) {
			continue
		}
		if a.Value.Kind() == slog.KindGroup {
			p := prefix
			if a.Key != "" {
				p += a.Key + "."
			}
			dst = flatten(dst, p, a.Value.Group())
			continue
		}
		dst = append(dst, slog.Attr{Key: prefix + a.Key, Value: a.Value})
	}
	return dst
}
