package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/novalet/novalet/config"
)

// takeoverRoots are the places the takeover rows look at (tests point them at a temp dir).
type takeoverRoots struct {
	etcNova    string // /etc/nova
	systemdEtc string // /etc/systemd/system
	proc       string // /proc
}

var hostRoots = takeoverRoots{etcNova: "/etc/nova", systemdEtc: "/etc/systemd/system", proc: "/proc"}

// checkTakeover is the rows that say whether this node is ready to be novalet's: the tools the
// image work runs, nova-compute.conf passed when it exists (Debian's nova-compute reads it;
// settings there would be dropped), and Debian's nova-compute neither running nor enabled.
func checkTakeover(cfg *config.Config, r takeoverRoots) []row {
	return []row{checkTools(cfg), checkComputeConf(cfg, r), checkNovaCompute(r)}
}

func checkTools(cfg *config.Config) row {
	const name = "tools"
	mkisofs := cfg.Default.MkisofsCmd
	if mkisofs == "" {
		mkisofs = "genisoimage"
	}
	var found []string
	for _, tool := range []string{"qemu-img", mkisofs} {
		p, err := exec.LookPath(tool)
		if err != nil {
			return fail(name, fmt.Errorf("%s not found: %w", tool, err), "apt install qemu-utils genisoimage (or set [DEFAULT] mkisofs_cmd)")
		}
		found = append(found, p)
	}
	return ok(name, "%s", strings.Join(found, ", "))
}

func checkComputeConf(cfg *config.Config, r takeoverRoots) row {
	const name = "nova-compute.conf"
	p := filepath.Join(r.etcNova, "nova-compute.conf")
	if _, err := os.Stat(p); err != nil {
		return ok(name, "%s absent; nothing to pass", p)
	}
	for _, f := range cfg.Files {
		if abs, _ := filepath.Abs(f); abs == p {
			return ok(name, "%s read", p)
		}
	}
	return fail(name, fmt.Errorf("%s exists but is not read: its settings (virt_type on Debian) would be dropped", p),
		"add --config-file "+p+" as Debian's nova-compute does")
}

func checkNovaCompute(r takeoverRoots) row {
	const name = "nova-compute"
	if pids := novaComputePIDs(r.proc); len(pids) > 0 {
		return fail(name, fmt.Errorf("Debian's nova-compute runs (pid %s): both would serve compute.<host> and drive the same guests",
			strings.Join(pids, ", ")), "systemctl disable --now nova-compute && systemctl mask nova-compute")
	}
	unit := filepath.Join(r.systemdEtc, "nova-compute.service")
	if dest, err := os.Readlink(unit); err == nil && dest == "/dev/null" {
		return ok(name, "not running; masked")
	}
	if _, err := os.Lstat(filepath.Join(r.systemdEtc, "multi-user.target.wants", "nova-compute.service")); err == nil {
		return fail(name, fmt.Errorf("nova-compute.service is enabled: it comes back at the next boot"),
			"systemctl disable nova-compute && systemctl mask nova-compute")
	}
	return ok(name, "not running; not enabled")
}

// novaComputePIDs lists processes running Debian's nova-compute (a python3 whose command line
// runs /usr/bin/nova-compute).
func novaComputePIDs(proc string) []string {
	entries, _ := os.ReadDir(proc)
	var out []string
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(proc, e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := bytes.Split(bytes.TrimRight(b, "\x00"), []byte{0})
		if slices.ContainsFunc(args, func(a []byte) bool { return filepath.Base(string(a)) == "nova-compute" }) {
			out = append(out, e.Name())
		}
	}
	return out
}
