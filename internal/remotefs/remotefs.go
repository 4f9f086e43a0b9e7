// Package remotefs is the libvirt driver's remote filesystem (nova/virt/libvirt/volume/
// remotefs.py): files and directories on another compute host and copies to and from it, over
// ssh/scp ([libvirt] remote_filesystem_transport = ssh, the default) or rsync, exactly the
// commands nova runs. novalet runs as root while nova-compute runs as the nova user whose key
// the other hosts accept, so every command runs as that user (its uid, gid and HOME), with
// BatchMode (never a prompt) and a deadline.
package remotefs

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// User is who runs the commands: nova's uid and gid, and its home (where ~/.ssh lives).
// A nil *User runs them as the calling process.
type User struct {
	UID, GID int
	Home     string
}

// Runner runs one command (argv) and returns its combined output; Exec is the real one.
type Runner func(ctx context.Context, argv []string) ([]byte, error)

// FS runs nova's remotefs commands for one transport.
type FS struct {
	transport string
	run       Runner
	// Timeout bounds each command; the copies of large disks take the longest (0 = 1 hour).
	Timeout time.Duration
}

// Transports are the values of [libvirt] remote_filesystem_transport.
var Transports = []string{"ssh", "rsync"}

// New returns the remote filesystem for transport ("" = ssh) that runs commands with run.
func New(transport string, run Runner) (*FS, error) {
	if transport == "" {
		transport = "ssh"
	}
	if transport != "ssh" && transport != "rsync" {
		return nil, fmt.Errorf("remotefs: remote_filesystem_transport %q is neither ssh nor rsync", transport)
	}
	return &FS{transport: transport, run: run}, nil
}

// Exec returns the Runner that executes commands as u (nil: as this process), with
// HOME=u.Home and a minimal PATH, each in its own process group so that the deadline ends
// ssh and whatever it started.
func Exec(u *User) Runner {
	return func(ctx context.Context, argv []string) ([]byte, error) {
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C"}
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if u != nil {
			cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(u.UID), Gid: uint32(u.GID)}
			cmd.Env = append(cmd.Env, "HOME="+u.Home, "USER=nova", "LOGNAME=nova")
			cmd.Dir = u.Home
		} else if home, err := os.UserHomeDir(); err == nil {
			cmd.Env = append(cmd.Env, "HOME="+home)
		}
		cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
		cmd.WaitDelay = 5 * time.Second
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.Bytes(), err
	}
}

// Transport is ssh or rsync.
func (f *FS) Transport() string { return f.transport }

func (f *FS) exec(ctx context.Context, argv ...string) error {
	timeout := f.Timeout
	if timeout <= 0 {
		timeout = time.Hour
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out, err := f.run(ctx, argv)
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return &CommandError{Argv: argv, Output: strings.TrimSpace(string(out)), Err: err}
	}
	return nil
}

// CommandError is nova's ProcessExecutionError: the command, what it printed, how it ended.
type CommandError struct {
	Argv   []string
	Output string
	Err    error
}

func (e *CommandError) Error() string {
	return fmt.Sprintf("remotefs: %s: %v: %s", strings.Join(e.Argv, " "), e.Err, e.Output)
}

func (e *CommandError) Unwrap() error { return e.Err }

// ssh is nova's utils.ssh_execute.
func (f *FS) ssh(ctx context.Context, host string, cmd ...string) error {
	return f.exec(ctx, append([]string{"ssh", "-o", "BatchMode=yes", host}, cmd...)...)
}

// RemotePath is nova's utils.format_remote_path: host:path, [host]:path for an IPv6 literal.
func RemotePath(host, path string) string {
	if host == "" {
		return path
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return host + ":" + path
}

// CreateFile makes an empty file path on host (the shared-storage probe).
func (f *FS) CreateFile(ctx context.Context, host, path string) error {
	if f.transport == "ssh" {
		return f.ssh(ctx, host, "touch", path)
	}
	return f.withTemp(func(tmp string) error {
		local := filepath.Join(tmp, strings.Trim(filepath.Dir(filepath.Clean(path)), "/"))
		if err := os.MkdirAll(local, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(local, filepath.Base(path)), nil, 0o644); err != nil {
			return err
		}
		return f.synchronize(ctx, tmp, host, path)
	})
}

// RemoveFile removes path on host.
func (f *FS) RemoveFile(ctx context.Context, host, path string) error {
	if f.transport == "ssh" {
		return f.ssh(ctx, host, "rm", path)
	}
	return f.withTemp(func(tmp string) error { return f.removeObject(ctx, tmp, host, path) })
}

// CreateDir makes path (and its parents) on host.
func (f *FS) CreateDir(ctx context.Context, host, path string) error {
	if f.transport == "ssh" {
		return f.ssh(ctx, host, "mkdir", "-p", path)
	}
	return f.withTemp(func(tmp string) error {
		if err := os.MkdirAll(filepath.Join(tmp, strings.Trim(filepath.Clean(path), "/")), 0o755); err != nil {
			return err
		}
		return f.synchronize(ctx, tmp, host, path)
	})
}

// RemoveDir removes path and everything in it on host.
func (f *FS) RemoveDir(ctx context.Context, host, path string) error {
	if f.transport == "ssh" {
		return f.ssh(ctx, host, "rm", "-rf", path)
	}
	return f.withTemp(func(tmp string) error {
		if err := f.exec(ctx, "rsync", "--archive", "--delete-excluded", tmp+"/", RemotePath(host, path)); err != nil {
			return err
		}
		return f.removeObject(ctx, tmp, host, path)
	})
}

// CopyFile copies src to dst, one of them host:path (RemotePath): scp [-C] -r, or rsync -r
// --sparse [--compress]. nova compresses everything but qcow2.
func (f *FS) CopyFile(ctx context.Context, src, dst string, compression bool) error {
	if f.transport == "ssh" {
		argv := []string{"scp"}
		if compression {
			argv = append(argv, "-C")
		}
		return f.exec(ctx, append(argv, "-r", src, dst)...)
	}
	argv := []string{"rsync", "-r", "--sparse", src, dst}
	if compression {
		argv = append(argv, "--compress")
	}
	return f.exec(ctx, argv...)
}

// synchronize is RsyncDriver._synchronize_object: tmp mirrors path; rsync --relative puts the
// last element of path on host.
func (f *FS) synchronize(ctx context.Context, tmp, host, path string) error {
	rel := filepath.Join(tmp, ".") + "/./" + strings.Trim(filepath.Clean(path), "/")
	return f.exec(ctx, "rsync", "--archive", "--relative", "--no-implied-dirs", rel, RemotePath(host, "/"))
}

// removeObject is RsyncDriver._remove_object: an empty tmp synchronised over the parent,
// deleting only path's last element.
func (f *FS) removeObject(ctx context.Context, tmp, host, path string) error {
	clean := filepath.Clean(path)
	return f.exec(ctx, "rsync", "--archive", "--delete", "--include", filepath.Base(clean), "--exclude", "*",
		filepath.Clean(tmp)+"/", RemotePath(host, filepath.Dir(clean)))
}

// withTemp is nova's utils.tempdir; the directory is readable by the user rsync runs as.
func (f *FS) withTemp(fn func(tmp string) error) error {
	tmp, err := os.MkdirTemp("", "novalet-remotefs-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	return fn(tmp)
}
