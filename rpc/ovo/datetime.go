package ovo

import (
	"fmt"
	"time"
)

// isoTimeLayout is oslo's _utils.isotime for UTC values: seconds precision
// and a "Z". (oslo appends a non-UTC zone's name instead; we always send UTC,
// which is the same instant and what nova itself sends for DB values.)
const isoTimeLayout = "2006-01-02T15:04:05Z"

// FormatTime renders t as DateTime fields are sent on the wire.
func FormatTime(t time.Time) string {
	return t.UTC().Format(isoTimeLayout)
}

// ParseTime reads a DateTime primitive the way oslo's
// timeutils.parse_isotime (iso8601.parse_date) does: a calendar date, an
// optional time ("T", "t" or space before it; minutes, seconds and a fraction
// optional) and an optional zone (Z, ±HH, ±HHMM, ±HH:MM). No zone means UTC.
// The result is in UTC.
func ParseTime(s string) (time.Time, error) {
	p := timeParser{s: s}
	year := p.digits(4)
	p.expect('-')
	month := p.digits(2)
	p.expect('-')
	day := p.digits(2)
	var hour, minute, sec, nsec int
	offset := 0
	if p.err == nil && p.i < len(s) && (s[p.i] == 'T' || s[p.i] == 't' || s[p.i] == ' ') {
		p.i++
		hour = p.digits(2)
		if p.peek(':') {
			p.i++
			minute = p.digits(2)
			if p.peek(':') {
				p.i++
				sec = p.digits(2)
				if p.peek('.') || p.peek(',') {
					p.i++
					nsec = p.fraction()
				}
			}
		}
		offset = p.zone()
	}
	if p.err == nil && p.i != len(s) {
		p.fail("trailing characters")
	}
	if p.err != nil {
		return time.Time{}, p.err
	}
	if year < 1 || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, fmt.Errorf("%w: datetime %q out of range", ErrInvalidValue, s)
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	if t.Day() != day { // e.g. February 30th normalised into March
		return time.Time{}, fmt.Errorf("%w: datetime %q: no such day", ErrInvalidValue, s)
	}
	return inWireRange(t.Add(-time.Duration(offset) * time.Second))
}

// inWireRange refuses instants whose UTC year has not exactly four digits:
// FormatTime could not render them in a form ParseTime (or Python) reads.
func inWireRange(t time.Time) (time.Time, error) {
	if y := t.UTC().Year(); y < 1 || y > 9999 {
		return time.Time{}, fmt.Errorf("%w: datetime %s out of range", ErrInvalidValue, t)
	}
	return t.UTC(), nil
}

type timeParser struct {
	s   string
	i   int
	err error
}

func (p *timeParser) fail(why string) {
	if p.err == nil {
		p.err = fmt.Errorf("%w: datetime %q: %s", ErrInvalidValue, p.s, why)
	}
}

func (p *timeParser) peek(c byte) bool {
	return p.err == nil && p.i < len(p.s) && p.s[p.i] == c
}

func (p *timeParser) expect(c byte) {
	if !p.peek(c) {
		p.fail(fmt.Sprintf("expected %q at %d", c, p.i))
		return
	}
	p.i++
}

func (p *timeParser) digits(n int) int {
	if p.err != nil {
		return 0
	}
	v := 0
	for k := 0; k < n; k++ {
		if p.i >= len(p.s) || p.s[p.i] < '0' || p.s[p.i] > '9' {
			p.fail(fmt.Sprintf("expected %d digits at %d", n, p.i-k))
			return 0
		}
		v = v*10 + int(p.s[p.i]-'0')
		p.i++
	}
	return v
}

// fraction reads fractional seconds of any length and returns nanoseconds
// (truncated, as Python keeps microseconds).
func (p *timeParser) fraction() int {
	ns, scale, n := 0, 100_000_000, 0
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		ns += int(p.s[p.i]-'0') * scale
		scale /= 10
		p.i++
		n++
	}
	if n == 0 {
		p.fail("empty fraction")
	}
	return ns
}

// zone reads an optional UTC offset and returns it in seconds east of UTC.
func (p *timeParser) zone() int {
	if p.err != nil || p.i == len(p.s) {
		return 0
	}
	switch p.s[p.i] {
	case 'Z', 'z':
		p.i++
		return 0
	case '+', '-':
	default:
		p.fail("bad zone")
		return 0
	}
	sign := 1
	if p.s[p.i] == '-' {
		sign = -1
	}
	p.i++
	h := p.digits(2)
	m := 0
	if p.peek(':') {
		p.i++
		m = p.digits(2)
	} else if p.err == nil && p.i < len(p.s) {
		m = p.digits(2)
	}
	if h > 23 || m > 59 {
		p.fail("zone offset out of range")
	}
	return sign * (h*3600 + m*60)
}
