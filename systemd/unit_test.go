package systemd

import (
	"bufio"
	"slices"
	"strings"
	"testing"
)

// parseUnit reads systemd's INI dialect closely enough for these assertions: sections, repeated
// keys, comments. (Line continuations are not used in novalet.service.)
func parseUnit(t *testing.T, text string) map[string]map[string][]string {
	t.Helper()
	units := map[string]map[string][]string{}
	section := ""
	sc := bufio.NewScanner(strings.NewReader(text))
	for line := 1; sc.Scan(); line++ {
		l := strings.TrimSpace(sc.Text())
		switch {
		case l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, ";"):
		case strings.HasPrefix(l, "[") && strings.HasSuffix(l, "]"):
			section = l[1 : len(l)-1]
			units[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(l, "=")
			if !ok || section == "" || strings.HasSuffix(l, `\`) {
				t.Fatalf("novalet.service line %d: cannot parse %q", line, l)
			}
			units[section][strings.TrimSpace(k)] = append(units[section][strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	return units
}

// TestUnitFile pins the settings novalet's behaviour depends on, so an edit that breaks them
// fails here and not on a compute node (the component test runs systemd's own verifier).
func TestUnitFile(t *testing.T) {
	u := parseUnit(t, UnitFile)
	words := func(section, key string) []string {
		var all []string
		for _, v := range u[section][key] {
			all = append(all, strings.Fields(v)...)
		}
		return all
	}
	one := func(section, key, want string) {
		t.Helper()
		if got := u[section][key]; len(got) != 1 || got[0] != want {
			t.Errorf("[%s] %s = %q, want exactly %q", section, key, got, want)
		}
	}
	has := func(section, key string, want ...string) {
		t.Helper()
		got := words(section, key)
		for _, w := range want {
			if !slices.Contains(got, w) {
				t.Errorf("[%s] %s = %q, missing %q", section, key, got, w)
			}
		}
	}

	for _, key := range []string{"Description", "Documentation"} {
		if len(u["Unit"][key]) == 0 {
			t.Errorf("[Unit] %s missing", key)
		}
	}
	has("Unit", "After", "network-online.target", "libvirtd.service", "nova-compute.service")
	has("Unit", "Wants", "network-online.target", "libvirtd.service")
	has("Unit", "Conflicts", "nova-compute.service")
	for _, hard := range []string{"Requires", "BindsTo", "PartOf"} {
		if w := words("Unit", hard); slices.Contains(w, "libvirtd.service") {
			t.Errorf("[Unit] %s=libvirtd.service: a libvirtd restart would stop novalet", hard)
		}
	}

	// The notify and watchdog protocol this package implements.
	one("Service", "Type", "notify")
	one("Service", "NotifyAccess", "main")
	one("Service", "WatchdogSec", "60s")
	one("Service", "ExecStart", "/usr/bin/novalet run --config-file=/etc/nova/nova.conf --config-file=/etc/nova/nova-compute.conf --log-file=/var/log/nova/nova-compute.log")
	one("Service", "ExecReload", "/bin/kill -HUP $MAINPID")
	// Stopping novalet must never take guests or their taps with it.
	one("Service", "KillMode", "process")
	one("Service", "Restart", "on-failure")
	one("Service", "RestartPreventExitStatus", "78")
	one("Service", "User", "root")
	for _, key := range []string{"RestartSec", "TimeoutStartSec", "TimeoutStopSec", "LimitNOFILE"} {
		if len(u["Service"][key]) != 1 {
			t.Errorf("[Service] %s = %q, want one value", key, u["Service"][key])
		}
	}
	one("Install", "WantedBy", "multi-user.target")

	if !strings.Contains(UnitFile, UnitPath) {
		t.Errorf("novalet.service does not document its install path %s", UnitPath)
	}
}
