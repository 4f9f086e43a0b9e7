package config

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// setting is one `key = value` line as oslo.config's iniparser reads it.
type setting struct {
	Group string // section name, as written (oslo lowercases all but DEFAULT when looking up)
	Key   string
	Value string // continuation lines joined with "\n", one pair of matching quotes removed
	File  string
	Line  int
}

// Where tells an operator where a value came from.
func (s setting) Where() string { return fmt.Sprintf("%s:%d", s.File, s.Line) }

// parseINI reads one config file with oslo.config's rules (oslo_config/iniparser.py):
// '#' and ';' start comments, '[name]' starts a section, 'key = value' or 'key: value'
// (whichever separator comes first), indented lines continue the previous value, a blank
// line ends it, and an assignment before any section is an error.
func parseINI(file string, r io.Reader) ([]setting, error) {
	var (
		out     []setting
		section string
		cur     *setting
		lineno  int
	)
	flush := func() {
		if cur != nil {
			out = append(out, *cur)
			cur = nil
		}
	}
	fail := func(msg, line string) error {
		return fmt.Errorf("%w: %s:%d: %s: %q", ErrParse, file, lineno, msg, line)
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		lineno++
		line := strings.TrimRight(sc.Text(), " \t\r\n\f\v")
		switch {
		case line == "":
			flush()
		case line[0] == ' ' || line[0] == '\t':
			if cur == nil {
				return nil, fail("unexpected continuation line", line)
			}
			cur.Value += "\n" + strings.TrimLeft(line, " \t")
		case line[0] == '[':
			flush()
			if !strings.HasSuffix(line, "]") {
				return nil, fail("invalid section (must end with ])", line)
			}
			if len(line) <= 2 {
				return nil, fail("empty section name", line)
			}
			section = line[1 : len(line)-1]
		case line[0] == '#' || line[0] == ';':
			flush()
		default:
			flush()
			key, value, err := splitKeyValue(line)
			if err != nil {
				return nil, fail(err.Error(), line)
			}
			if section == "" {
				return nil, fail("section must be started before assignment", line)
			}
			cur = &setting{Group: section, Key: key, Value: value, File: file, Line: lineno}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrParse, file, err)
	}
	flush()
	return out, nil
}

func splitKeyValue(line string) (key, value string, err error) {
	colon, equal := strings.IndexByte(line, ':'), strings.IndexByte(line, '=')
	if colon < 0 && equal < 0 {
		return "", "", fmt.Errorf("no ':' or '=' found in assignment")
	}
	sep := colon
	if colon < 0 || (equal >= 0 && equal < colon) {
		sep = equal
	}
	key, value = strings.TrimSpace(line[:sep]), strings.TrimSpace(line[sep+1:])
	if key == "" {
		return "", "", fmt.Errorf("key cannot be empty")
	}
	if value != "" && value[0] == value[len(value)-1] && (value[0] == '"' || value[0] == '\'') {
		value = value[1:max(1, len(value)-1)] // a lone quote becomes "", as in oslo
	}
	return key, value, nil
}

// normalizeGroup is oslo's group-name normalisation: DEFAULT stays, the rest is lowercased.
func normalizeGroup(g string) string {
	if g == "DEFAULT" {
		return g
	}
	return strings.ToLower(g)
}
