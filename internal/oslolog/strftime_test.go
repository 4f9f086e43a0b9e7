package oslolog

import (
	"testing"
	"time"
)

func TestStrftime(t *testing.T) {
	tm := time.Date(2026, 3, 5, 14, 33, 21, 123456789, time.FixedZone("CET", 3600))
	for _, c := range []struct{ layout, want string }{
		{"%Y-%m-%d %H:%M:%S", "2026-03-05 14:33:21"}, // oslo's default log_date_format
		{"%d/%b/%Y:%I:%M:%S %p %z %Z", "05/Mar/2026:02:33:21 PM +0100 CET"},
		{"%a %A %B %j %y %e", "Thu Thursday March 064 26  5"},
		{"%F %T", "2026-03-05 14:33:21"},
		{"100%% %Q", "100% %Q"},
		{"trailing %", "trailing %"},
	} {
		if got := strftime(tm, c.layout); got != c.want {
			t.Errorf("strftime(%q) = %q, want %q", c.layout, got, c.want)
		}
	}
}
