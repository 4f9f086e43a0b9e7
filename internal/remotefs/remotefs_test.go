package remotefs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

type recorder struct {
	calls [][]string
	fail  error
}

func (r *recorder) run(_ context.Context, argv []string) ([]byte, error) {
	r.calls = append(r.calls, slices.Clone(argv))
	if r.fail != nil {
		return []byte("Permission denied (publickey)."), r.fail
	}
	return nil, nil
}

// TestSSHTransportRunsNovasCommands: the ssh transport runs what nova's SshDriver and
// utils.ssh_execute run, word for word.
func TestSSHTransportRunsNovasCommands(t *testing.T) {
	r := &recorder{}
	fs, err := New("", r.run)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	dir := "/var/lib/nova/instances/u1"
	must(t, fs.CreateDir(ctx, "127.0.0.2", dir))
	must(t, fs.CreateFile(ctx, "127.0.0.2", dir+"/x.tmp"))
	must(t, fs.RemoveFile(ctx, "127.0.0.2", dir+"/x.tmp"))
	must(t, fs.RemoveDir(ctx, "127.0.0.2", dir))
	must(t, fs.CopyFile(ctx, dir+"_resize/disk", RemotePath("127.0.0.2", dir+"/disk"), false))
	must(t, fs.CopyFile(ctx, dir+"_resize/disk.config", RemotePath("127.0.0.2", dir+"/disk.config"), true))
	want := []string{
		"ssh -o BatchMode=yes 127.0.0.2 mkdir -p " + dir,
		"ssh -o BatchMode=yes 127.0.0.2 touch " + dir + "/x.tmp",
		"ssh -o BatchMode=yes 127.0.0.2 rm " + dir + "/x.tmp",
		"ssh -o BatchMode=yes 127.0.0.2 rm -rf " + dir,
		"scp -r " + dir + "_resize/disk 127.0.0.2:" + dir + "/disk",
		"scp -C -r " + dir + "_resize/disk.config 127.0.0.2:" + dir + "/disk.config",
	}
	for i, w := range want {
		if i >= len(r.calls) || strings.Join(r.calls[i], " ") != w {
			t.Errorf("command %d: got %q, want %q", i, r.calls, w)
		}
	}
}

// TestRsyncTransportRunsNovasCommands: the rsync transport's copy and directory commands are
// RsyncDriver's, and its temporary trees are gone afterwards.
func TestRsyncTransportRunsNovasCommands(t *testing.T) {
	r := &recorder{}
	fs, err := New("rsync", r.run)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	dir := "/var/lib/nova/instances/u1"
	must(t, fs.CopyFile(ctx, "/a/disk", "h:/b/disk", false))
	must(t, fs.CopyFile(ctx, "/a/disk.config", "h:/b/disk.config", true))
	must(t, fs.CreateDir(ctx, "h", dir))
	must(t, fs.RemoveDir(ctx, "h", dir))
	if got := strings.Join(r.calls[0], " "); got != "rsync -r --sparse /a/disk h:/b/disk" {
		t.Errorf("copy: %q", got)
	}
	if got := strings.Join(r.calls[1], " "); got != "rsync -r --sparse /a/disk.config h:/b/disk.config --compress" {
		t.Errorf("compressed copy: %q", got)
	}
	mk := r.calls[2]
	if !slices.Equal(mk[:4], []string{"rsync", "--archive", "--relative", "--no-implied-dirs"}) ||
		!strings.HasSuffix(mk[4], "/./var/lib/nova/instances/u1") || mk[5] != "h:/" {
		t.Errorf("create_dir: %q", mk)
	}
	tmp := strings.TrimSuffix(mk[4], "/./var/lib/nova/instances/u1")
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary tree %s left: %v", tmp, err)
	}
	rm := r.calls[4]
	if !slices.Equal(rm[:6], []string{"rsync", "--archive", "--delete", "--include", "u1", "--exclude"}) ||
		rm[len(rm)-1] != "h:/var/lib/nova/instances" {
		t.Errorf("remove_dir: %q", rm)
	}
}

// TestFailureNamesTheCommand: a failed command's error carries its argv and output, as
// nova's ProcessExecutionError does.
func TestFailureNamesTheCommand(t *testing.T) {
	r := &recorder{fail: errors.New("exit status 255")}
	fs, _ := New("ssh", r.run)
	err := fs.CreateDir(t.Context(), "vm2", "/x")
	var ce *CommandError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "ssh -o BatchMode=yes vm2 mkdir -p /x") ||
		!strings.Contains(err.Error(), "Permission denied") {
		t.Fatalf("error: %v", err)
	}
	if _, err := New("nfs", r.run); err == nil {
		t.Error("transport nfs accepted")
	}
}

// TestExecDeadlineEndsTheCommand: a command past its deadline is killed, with its children.
func TestExecDeadlineEndsTheCommand(t *testing.T) {
	fs, _ := New("ssh", Exec(nil))
	fs.Timeout = 300 * time.Millisecond
	fs.run = func(ctx context.Context, _ []string) ([]byte, error) {
		return Exec(nil)(ctx, []string{"sh", "-c", "sleep 30 & wait"})
	}
	err := fs.CreateDir(t.Context(), "h", "/x")
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error: %v", err)
	}
}

// TestExecCopiesALocalFile: Exec really runs the command (cp stands in for scp).
func TestExecCopiesALocalFile(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	must(t, os.WriteFile(src, []byte("disk"), 0o644))
	if _, err := Exec(nil)(t.Context(), []string{"cp", src, dst}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(dst); string(b) != "disk" {
		t.Errorf("copied %q", b)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
