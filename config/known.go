package config

import (
	"fmt"
	"sort"
	"strings"
)

// Warning is an option in a file that nova does not know, or knows under another name.
type Warning struct {
	File, Group, Option string
	Line                int
	Message             string
}

func (w Warning) String() string {
	return fmt.Sprintf("%s:%d: [%s] %s: %s", w.File, w.Line, w.Group, w.Option, w.Message)
}

// checkKnown reports, once each, groups and options that nova 26.2.2 does not register,
// with a "did you mean" for near misses, and options set under a deprecated name.
func checkKnown(cat *catalogue, all []setting) []Warning {
	var out []Warning
	seen := map[optKey]bool{}
	for _, s := range all {
		g := normalizeGroup(s.Group)
		k := optKey{g, s.Key}
		if seen[k] {
			continue
		}
		seen[k] = true
		w := Warning{File: s.File, Line: s.Line, Group: s.Group, Option: s.Key}
		if _, ok := cat.Groups[g]; !ok {
			if seen[optKey{g, ""}] {
				continue
			}
			seen[optKey{g, ""}] = true
			w.Option = "*"
			w.Message = fmt.Sprintf("nova %s has no group [%s]; its options are ignored%s",
				cat.Nova, s.Group, suggest(s.Group, groupNames(cat)))
			out = append(out, w)
			continue
		}
		if cat.lookup(g, s.Key) != nil {
			continue
		}
		if cur, ok := cat.deprecatedNames[k]; ok {
			w.Message = fmt.Sprintf("deprecated name; use [%s] %s", cur[0], cur[1])
			out = append(out, w)
			continue
		}
		hint := suggest(s.Key, cat.names(g))
		if hint == "" {
			hint = elsewhere(cat, g, s.Key)
		}
		w.Message = fmt.Sprintf("unknown option: nova %s does not know it and ignores it%s", cat.Nova, hint)
		out = append(out, w)
	}
	return out
}

// suggest returns `; did you mean "x"?` for the closest name within a small edit distance.
func suggest(name string, names []string) string {
	best, bestD := "", 0
	limit := max(2, len(name)/6)
	for _, n := range names {
		d := editDistance(name, n)
		if d <= limit && (best == "" || d < bestD) {
			best, bestD = n, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", best)
}

// elsewhere finds the same option name in another group (e.g. server_listen put in [DEFAULT]).
func elsewhere(cat *catalogue, group, name string) string {
	var in []string
	for _, g := range groupNames(cat) {
		if g != group && cat.lookup(g, name) != nil {
			in = append(in, fmt.Sprintf("[%s] %s", g, name))
		}
	}
	if len(in) == 0 {
		return ""
	}
	return "; did you mean " + strings.Join(in, " or ") + "?"
}

func groupNames(cat *catalogue) []string {
	out := make([]string, 0, len(cat.Groups))
	for g := range cat.Groups {
		out = append(out, g)
	}
	sort.Strings(out)
	return out
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// checkIgnored reports, once each, options nova 26.2.2 knows that the files set but novalet
// does not read: the operator sees that the setting changes nothing here (a [keystone_authtoken]
// on a compute node, a [libvirt] knob novalet has no use for yet).
func checkIgnored(cat *catalogue, all []setting) []Warning {
	bound := map[optKey]bool{}
	for _, b := range boundOptions() {
		bound[optKey{normalizeGroup(b[0]), b[1]}] = true
	}
	var out []Warning
	seen := map[optKey]bool{}
	for _, s := range all {
		k := optKey{normalizeGroup(s.Group), s.Key}
		if cur, ok := cat.deprecatedNames[k]; ok {
			k = optKey{normalizeGroup(cur[0]), cur[1]}
		}
		if seen[k] || bound[k] || cat.lookup(k[0], k[1]) == nil {
			continue // reported once; read; or unknown (checkKnown says so)
		}
		seen[k] = true
		out = append(out, Warning{File: s.File, Line: s.Line, Group: s.Group, Option: s.Key,
			Message: "set, but novalet does not act on this option; it changes nothing on this node"})
	}
	return out
}
