package ovo

import (
	"errors"
	"testing"
	"time"
)

func TestParseTime(t *testing.T) {
	base := time.Date(2026, 11, 23, 20, 15, 13, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"2026-11-23T20:15:13Z":              base,
		"2026-11-23T20:15:13z":              base,
		"2026-11-23T20:15:13+00:00":         base,
		"2026-11-23T20:15:13":               base, // naive means UTC, as oslo assumes
		"2026-11-23 20:15:13":               base,
		"2026-11-23T21:15:13+01:00":         base,
		"2026-11-23T14:45:13-0530":          base,
		"2026-11-23T22:15:13+02":            base,
		"2026-11-23T20:15:13.123456Z":       base.Add(123456 * time.Microsecond),
		"2026-11-23T20:15:13,5":             base.Add(500 * time.Millisecond),
		"2026-11-23T20:15:13.123456789123Z": base.Add(123456789),
		"2026-11-23T20:15Z":                 base.Add(-13 * time.Second),
		"2026-11-23T20Z":                    base.Add(-15*time.Minute - 13*time.Second),
		"2026-11-23":                        time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC),
		"2024-02-29T00:00:00Z":              time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC),
	} {
		got, err := ParseTime(in)
		if err != nil {
			t.Errorf("ParseTime(%q): %v", in, err)
			continue
		}
		if !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("ParseTime(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestParseTimeRejects(t *testing.T) {
	for _, in := range []string{
		"", "2026", "2026-11", "26-11-23", "2026-13-01T00:00:00Z", "2026-00-10", "2026-11-00",
		"2025-02-29T00:00:00Z", "2026-04-31", "2026-11-23T24:00:00Z", "2026-11-23T20:60:00Z",
		"2026-11-23T20:15:61Z", "2026-11-23T20:15:13ZZ", "2026-11-23T20:15:13+1",
		"2026-11-23T20:15:13+25:00", "2026-11-23T20:15:13.Z", "2026-11-23T20:15:13 UTC",
		"2026-11-23X20:15:13", "0000-01-01T00:00:00Z", "2026-11-23T20:15:13+01:0",
		"２０２６-11-23",
	} {
		if got, err := ParseTime(in); err == nil {
			t.Errorf("ParseTime(%q) = %v, want error", in, got)
		} else if !errors.Is(err, ErrInvalidValue) {
			t.Errorf("ParseTime(%q): error %v is not ErrInvalidValue", in, err)
		}
	}
}

func TestFormatTime(t *testing.T) {
	// oslo's isotime: seconds precision, UTC with "Z".
	loc := time.FixedZone("CET", 3600)
	in := time.Date(2026, 11, 23, 21, 15, 13, 987654321, loc)
	if got := FormatTime(in); got != "2026-11-23T20:15:13Z" {
		t.Errorf("FormatTime = %q", got)
	}
}

func TestDateTimeFieldRange(t *testing.T) {
	ev, _ := New("InstanceActionEvent")
	// Shifting to UTC would leave the years the wire format can express.
	for _, in := range []string{"9999-12-31T23:30:00-01:00", "0001-01-01T00:30:00+01:00"} {
		if err := ev.Set("start_time", in); !errors.Is(err, ErrInvalidValue) {
			t.Errorf("Set(start_time, %q): err = %v", in, err)
		}
	}
	if err := ev.Set("start_time", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)); !errors.Is(err, ErrInvalidValue) {
		t.Errorf("year 10000 accepted: %v", err)
	}
}
