package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCLI(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestVersionAndUsage(t *testing.T) {
	code, out, _ := runCLI("version")
	if code != 0 || !strings.HasPrefix(out, "novalet ") || !strings.Contains(out, "26.2.2") {
		t.Fatalf("version: %d %q", code, out)
	}
	if code, _, errs := runCLI("frobnicate"); code != 2 || !strings.Contains(errs, `unknown command "frobnicate"`) {
		t.Fatalf("unknown command: %d %q", code, errs)
	}
	if code, _, _ := runCLI(); code != 2 {
		t.Fatalf("no command: %d", code)
	}
	if code, _, errs := runCLI("check", "--bogus"); code != 2 || !strings.Contains(errs, "bogus") {
		t.Fatalf("bad flag: %d %q", code, errs)
	}
}

func TestCheckReportsConfigErrorWithFileAndLine(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "nova.conf")
	os.WriteFile(p, []byte("[DEFAULT]\nreport_interval = often\n"), 0o644)
	code, out, _ := runCLI("check", "--config-file", p)
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if !strings.Contains(out, "config") || !strings.Contains(out, "FAIL") || !strings.Contains(out, "nova.conf:2: [DEFAULT] report_interval") {
		t.Fatalf("output:\n%s", out)
	}
}

func TestConfigFlagsKeepCommandLineOrder(t *testing.T) {
	srcs, _, code := parseFlags("check", []string{"--config-file", "a.conf", "--config-dir=d", "--config-file=b.conf"}, &bytes.Buffer{})
	if code != -1 || len(srcs) != 3 || srcs[0].Path != "a.conf" || !srcs[1].Dir || srcs[1].Path != "d" || srcs[2].Path != "b.conf" {
		t.Fatalf("sources %+v code %d", srcs, code)
	}
}

func TestPrintRowsShowsFix(t *testing.T) {
	var b bytes.Buffer
	printRows(&b, []row{{Name: "rabbitmq", Detail: "refused", Fix: "start it"}, {Name: "libvirt", OK: true, Detail: "fine"}})
	out := b.String()
	if !strings.Contains(out, "rabbitmq  FAIL    refused -- fix: start it") || !strings.Contains(out, "libvirt   OK      fine") {
		t.Fatalf("table:\n%s", out)
	}
}

// TestRunExitsEXConfigOnABadFile: a configuration novalet cannot use ends `run` with 78
// (EX_CONFIG), which the unit's RestartPreventExitStatus keeps from restarting in a loop.
func TestRunExitsEXConfigOnABadFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "nova.conf")
	os.WriteFile(p, []byte("[DEFAULT]\nreport_interval = often\n"), 0o644)
	code, _, errs := runCLI("run", "--config-file", p)
	if code != 78 || !strings.Contains(errs, "report_interval") {
		t.Fatalf("exit %d (%q), want 78 naming the option", code, errs)
	}
}
