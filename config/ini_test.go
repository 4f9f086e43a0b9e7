package config

import (
	"errors"
	"strings"
	"testing"
)

func TestParseINI(t *testing.T) {
	in := `# comment
; another comment
[DEFAULT]
host = compute1
my_ip: 10.0.0.5
quoted = "a b"
single = 'x'
lone = "
url = rabbit://u:p@h:5672/
multi = first
   second
	third

[vnc]
server_listen=0.0.0.0
`
	got, err := parseINI("nova.conf", strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []setting{
		{"DEFAULT", "host", "compute1", "nova.conf", 4},
		{"DEFAULT", "my_ip", "10.0.0.5", "nova.conf", 5},
		{"DEFAULT", "quoted", "a b", "nova.conf", 6},
		{"DEFAULT", "single", "x", "nova.conf", 7},
		{"DEFAULT", "lone", "", "nova.conf", 8},
		{"DEFAULT", "url", "rabbit://u:p@h:5672/", "nova.conf", 9},
		{"DEFAULT", "multi", "first\nsecond\nthird", "nova.conf", 10},
		{"vnc", "server_listen", "0.0.0.0", "nova.conf", 15},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d settings, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("setting %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestParseINIErrors(t *testing.T) {
	cases := []struct{ name, in, wantMsg string }{
		{"no closing bracket", "[DEFAULT\nhost = a\n", "nova.conf:1: invalid section (must end with ])"},
		{"empty section", "[]\n", "nova.conf:1: empty section name"},
		{"no separator", "[DEFAULT]\nhost\n", "nova.conf:2: no ':' or '=' found"},
		{"empty key", "[DEFAULT]\n= a\n", "nova.conf:2: key cannot be empty"},
		{"before section", "host = a\n", "nova.conf:1: section must be started before assignment"},
		{"continuation first", "[DEFAULT]\n  a\n", "nova.conf:2: unexpected continuation line"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := parseINI("nova.conf", strings.NewReader(c.in))
			if !errors.Is(err, ErrParse) {
				t.Fatalf("err = %v, want ErrParse", err)
			}
			if !strings.Contains(err.Error(), c.wantMsg) {
				t.Fatalf("err = %q, want it to contain %q", err, c.wantMsg)
			}
		})
	}
}
