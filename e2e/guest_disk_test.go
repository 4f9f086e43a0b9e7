//go:build e2e

package e2e

import (
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// What a moved server's guest sees of its root disk, over SSH as root (the test key is root's
// too): vda's size, and marks written straight to the device at fixed offsets past the guest
// image's own data, so that a resize's copy, growth and revert can be told apart from inside.

const (
	markOld = 900 // MiB: written before a resize; every later disk of the server keeps it
	markNew = 950 // MiB: written on the resized disk; a revert's old disk must not have it
)

// guestRun runs cmd in the guest at addr as user (cirros, or root for the disk) over SSH with
// the test key, retrying for 3 minutes (a guest still booting), and returns its output.
func guestRun(t *testing.T, user, addr, cmd string) string {
	t.Helper()
	var out []byte
	eventually(t, 3*time.Minute, "ssh "+user+"@"+addr+" "+cmd, func() bool {
		var err error
		out, err = exec.Command("ssh", "-i", testKey, "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
			"-o", "ConnectTimeout=5", "-o", "BatchMode=yes", user+"@"+addr, cmd).Output()
		return err == nil
	})
	return string(out)
}

// guestDisk reads, in one SSH session, the size of the guest's vda in GiB (its 512-byte
// sectors / 2 Mi) and the marks at markOld and markNew ("" where there is none).
func guestDisk(t *testing.T, addr string) (gib float64, atOld, atNew string) {
	t.Helper()
	read := func(mib int) string {
		return fmt.Sprintf("dd if=/dev/vda bs=1M skip=%d count=1 2>/dev/null | head -c 64 | tr -d '\\000'; echo", mib)
	}
	out := guestRun(t, "root", addr, "cat /sys/block/vda/size; "+read(markOld)+"; "+read(markNew))
	lines := strings.Split(out, "\n")
	if len(lines) < 3 {
		t.Fatalf("guest disk: %q", out)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(lines[0]), 10, 64)
	if err != nil {
		t.Fatalf("vda size %q: %v", lines[0], err)
	}
	mark := func(s string) string {
		if !strings.HasPrefix(s, "novalet-mark-") {
			return ""
		}
		return strings.TrimPrefix(s, "novalet-mark-")
	}
	return float64(n) / (2 << 20), mark(lines[1]), mark(lines[2])
}

// writeMark writes "novalet-mark-<name>" at offset MiB of vda, synced.
func writeMark(t *testing.T, addr string, mib int, name string) {
	t.Helper()
	guestRun(t, "root", addr, fmt.Sprintf("printf 'novalet-mark-%s' | dd of=/dev/vda bs=1M seek=%d conv=fsync 2>/dev/null && sync", name, mib))
}

// checkGuestDisk checks the guest's vda is gib GiB and carries the old mark; newMark says
// whether the resized disk's mark is to be there.
func checkGuestDisk(t *testing.T, addr, when string, gib float64, newMark bool) {
	t.Helper()
	got, atOld, atNew := guestDisk(t, addr)
	t.Logf("%s: the guest sees a %.2f GiB vda, marks old=%q new=%q", when, got, atOld, atNew)
	if got != gib {
		t.Errorf("%s: the guest sees a %.2f GiB vda, want %.0f", when, got, gib)
	}
	if atOld != "old" {
		t.Errorf("%s: the mark written before the resize reads %q, want old", when, atOld)
	}
	if (atNew == "new") != newMark {
		t.Errorf("%s: the resized disk's mark reads %q (want it there: %v)", when, atNew, newMark)
	}
}
