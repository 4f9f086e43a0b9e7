package metrics

import (
	"sync"
	"unicode/utf8"
)

// otherLabel stands for label values past a labelGuard's limit, and for invalid ones.
const otherLabel = "other"

// labelGuard bounds a label whose values arrive from outside the code (RPC method names come
// off the message bus): the first max distinct values pass, later new ones, empty ones and
// ones that are not UTF-8 (which client_golang would panic on) become "other". It keeps a
// sender from growing the series without bound.
type labelGuard struct {
	max  int
	mu   sync.Mutex
	seen map[string]struct{}
}

func newLabelGuard(max int) *labelGuard {
	return &labelGuard{max: max, seen: map[string]struct{}{}}
}

func (g *labelGuard) value(v string) string {
	if v == "" || !utf8.ValidString(v) || len(v) > 128 {
		return otherLabel
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.seen[v]; ok {
		return v
	}
	if len(g.seen) >= g.max {
		return otherLabel
	}
	g.seen[v] = struct{}{}
	return v
}
