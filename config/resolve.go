package config

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

type optKey [2]string // normalised group, option name

// resolver finds each option's value: the winning file setting (or the default),
// with $-references substituted, converted to the option's type.
type resolver struct {
	cat       *catalogue
	fileIndex map[string]int
	byKey     map[optKey][]setting
	host      map[optKey]string
	done      map[optKey]any
	busy      map[optKey]bool
}

func newResolver(cat *catalogue, paths []string, all []setting, host map[optKey]string) *resolver {
	r := &resolver{cat: cat, fileIndex: map[string]int{}, byKey: map[optKey][]setting{},
		host: host, done: map[optKey]any{}, busy: map[optKey]bool{}}
	for i, p := range paths {
		r.fileIndex[p] = i
	}
	for _, s := range all {
		k := optKey{normalizeGroup(s.Group), s.Key}
		r.byKey[k] = append(r.byKey[k], s)
	}
	return r
}

// winner applies oslo's precedence: the latest file wins; within a file the option's current
// name beats its deprecated names; among repeats of one name the last line wins.
func (r *resolver) winner(group, name string, def *optionDef) (setting, bool) {
	cands := []optKey{{group, name}}
	for _, d := range def.Deprecated {
		cands = append(cands, optKey{normalizeGroup(d[0]), d[1]})
	}
	var best setting
	var bestRank [3]int
	found := false
	for ci, k := range cands {
		for _, s := range r.byKey[k] {
			rank := [3]int{r.fileIndex[s.File], -ci, s.Line}
			if !found || rankLess(bestRank, rank) {
				best, bestRank, found = s, rank, true
			}
		}
	}
	return best, found
}

func rankLess(a, b [3]int) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

// value returns the typed value of group.name (nil when unset with a None default).
func (r *resolver) value(group, name string) (any, error) {
	k := optKey{group, name}
	if v, ok := r.done[k]; ok {
		return v, nil
	}
	def := r.cat.lookup(group, name)
	if def == nil {
		return nil, fmt.Errorf("%w: no such option [%s] %s", ErrInvalid, group, name)
	}
	if r.busy[k] {
		return nil, fmt.Errorf("%w: [%s] %s refers to itself through $-substitution", ErrInvalid, group, name)
	}
	r.busy[k] = true
	defer delete(r.busy, k)

	var v any
	var err error
	if s, ok := r.winner(group, name, def); ok {
		v, err = r.convertFrom(def, group, s.Value)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: [%s] %s: %s", ErrInvalid, s.Where(), s.Group, s.Key, redact(def, err))
		}
	} else {
		v, err = r.defaultValue(def, group, name)
		if err != nil {
			return nil, fmt.Errorf("%w: default of [%s] %s: %s", ErrInvalid, group, name, redact(def, err))
		}
	}
	r.done[k] = v
	return v, nil
}

func (r *resolver) convertFrom(def *optionDef, group, raw string) (any, error) {
	s, err := r.substitute(raw, group)
	if err != nil {
		return nil, err
	}
	return convert(def, s)
}

func (r *resolver) defaultValue(def *optionDef, group, name string) (any, error) {
	if def.Dynamic != "" {
		h, ok := r.host[optKey{group, name}]
		if !ok {
			return nil, nil
		}
		return r.convertFrom(def, group, h)
	}
	switch d := def.Default.(type) {
	case nil:
		return nil, nil
	case string:
		return r.convertFrom(def, group, d)
	case bool:
		return d, nil
	case float64:
		if def.Type == "Integer" || def.Type == "Port" {
			return int(d), nil
		}
		return d, nil
	case []any:
		out := make([]string, len(d))
		for i, x := range d {
			s, err := r.substitute(fmt.Sprint(x), group)
			if err != nil {
				return nil, err
			}
			out[i] = s
		}
		return out, nil
	case map[string]any:
		out := map[string]string{}
		for k, x := range d {
			out[k] = fmt.Sprint(x)
		}
		return out, nil
	}
	return nil, fmt.Errorf("unsupported default %T", def.Default)
}

// placeholder is Python string.Template's pattern with oslo's idpattern, case-insensitive.
var placeholder = regexp.MustCompile(`(?i)\$(?:(\$)|([_a-z][._a-z0-9]*)|\{([_a-z][._a-z0-9]*)\})`)

// substitute expands $name, ${name} and $group.name; "$$" and "\$" give a literal "$".
// A name is looked up in the same group first, then in [DEFAULT], as oslo.config does.
func (r *resolver) substitute(s, group string) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	s = strings.ReplaceAll(s, `\$`, "$$")
	var firstErr error
	out := placeholder.ReplaceAllStringFunc(s, func(m string) string {
		sub := placeholder.FindStringSubmatch(m)
		if sub[1] != "" {
			return "$"
		}
		ref := sub[2] + sub[3]
		g, n := group, ref
		if before, after, ok := strings.Cut(ref, "."); ok {
			g, n = normalizeGroup(before), after
		} else if r.cat.lookup(group, ref) == nil {
			g = "DEFAULT"
		}
		v, err := r.value(g, n)
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("substituting $%s: %w", ref, err)
			}
			return m
		}
		return pythonStr(v)
	})
	return out, firstErr
}

// pythonStr formats a value the way str() does in oslo's template substitution.
func pythonStr(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case bool:
		if x {
			return "True"
		}
		return "False"
	case int:
		return strconv.Itoa(x)
	case float64:
		s := strconv.FormatFloat(x, 'g', -1, 64)
		if !strings.ContainsAny(s, ".e") {
			s += ".0"
		}
		return s
	case []string:
		q := make([]string, len(x))
		for i, e := range x {
			q[i] = "'" + e + "'"
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	return fmt.Sprint(v)
}

// redact keeps secret values out of error messages.
func redact(def *optionDef, err error) string {
	if def.Secret {
		return "invalid value (not shown: the option is secret)"
	}
	return err.Error()
}
