package virt

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"libvirt.org/go/libvirt"
)

func TestClassifyLibvirtCodes(t *testing.T) {
	classes := []error{ErrNotFound, ErrConflict, ErrUnavailable, ErrTimeout, ErrInvalid}
	tests := []struct {
		name   string
		code   libvirt.ErrorNumber
		domain libvirt.ErrorDomain
		want   error // nil: no class
	}{
		{"no domain", libvirt.ERR_NO_DOMAIN, libvirt.FROM_QEMU, ErrNotFound},
		{"no storage vol", libvirt.ERR_NO_STORAGE_VOL, libvirt.FROM_STORAGE, ErrNotFound},
		{"no metadata", libvirt.ERR_NO_DOMAIN_METADATA, libvirt.FROM_DOMAIN, ErrNotFound},
		{"domain exists", libvirt.ERR_DOM_EXIST, libvirt.FROM_QEMU, ErrConflict},
		{"not running", libvirt.ERR_OPERATION_INVALID, libvirt.FROM_QEMU, ErrConflict},
		{"busy", libvirt.ERR_RESOURCE_BUSY, libvirt.FROM_QEMU, ErrConflict},
		{"no connect", libvirt.ERR_NO_CONNECT, libvirt.FROM_NONE, ErrUnavailable},
		{"rpc", libvirt.ERR_RPC, libvirt.FROM_RPC, ErrUnavailable},
		{"socket refused", libvirt.ERR_SYSTEM_ERROR, libvirt.FROM_RPC, ErrUnavailable},
		{"socket closed", libvirt.ERR_INTERNAL_ERROR, libvirt.FROM_RPC, ErrUnavailable},
		{"remote", libvirt.ERR_SYSTEM_ERROR, libvirt.FROM_REMOTE, ErrUnavailable},
		{"agent unresponsive", libvirt.ERR_AGENT_UNRESPONSIVE, libvirt.FROM_QEMU, ErrUnavailable},
		{"operation timeout", libvirt.ERR_OPERATION_TIMEOUT, libvirt.FROM_QEMU, ErrTimeout},
		{"agent timeout", libvirt.ERR_AGENT_COMMAND_TIMEOUT, libvirt.FROM_QEMU, ErrTimeout},
		{"bad arg", libvirt.ERR_INVALID_ARG, libvirt.FROM_QEMU, ErrInvalid},
		{"bad xml", libvirt.ERR_XML_ERROR, libvirt.FROM_DOMAIN, ErrInvalid},
		{"xml detail", libvirt.ERR_XML_DETAIL, libvirt.FROM_DOMAIN, ErrInvalid},
		{"config unsupported", libvirt.ERR_CONFIG_UNSUPPORTED, libvirt.FROM_QEMU, ErrInvalid},
		{"op unsupported", libvirt.ERR_OPERATION_UNSUPPORTED, libvirt.FROM_QEMU, ErrInvalid},
		{"system error outside rpc", libvirt.ERR_SYSTEM_ERROR, libvirt.FROM_QEMU, nil},
		{"internal error outside rpc", libvirt.ERR_INTERNAL_ERROR, libvirt.FROM_QEMU, nil},
		{"operation failed", libvirt.ERR_OPERATION_FAILED, libvirt.FROM_QEMU, nil},
		{"name taken", libvirt.ERR_OPERATION_FAILED, libvirt.FROM_DOMAIN, ErrConflict},
		{"uuid taken", libvirt.ERR_OPERATION_FAILED, libvirt.FROM_DOMAIN, ErrConflict},
	}
	messages := map[string]string{
		"name taken": "operation failed: domain 'instance-1' already exists with uuid 11111111-0000-4000-8000-000000000001",
		"uuid taken": "operation failed: domain 'instance-1' is already defined with uuid 11111111-0000-4000-8000-000000000001",
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			le := libvirt.Error{Code: tt.code, Domain: tt.domain, Message: "msg " + tt.name + ": " + messages[tt.name], Level: libvirt.ERR_ERROR}
			err := wrapErr("do thing", le)
			for _, c := range classes {
				if got, want := errors.Is(err, c), c == tt.want; got != want {
					t.Errorf("errors.Is(err, %v) = %v, want %v (err: %v)", c, got, want, err)
				}
			}
			// The libvirt error stays reachable for callers that need its code.
			var back libvirt.Error
			if !errors.As(err, &back) || back.Code != tt.code {
				t.Errorf("errors.As lost the libvirt error: %#v", back)
			}
			if !strings.Contains(err.Error(), "do thing") || !strings.Contains(err.Error(), "msg "+tt.name) {
				t.Errorf("message %q lacks the operation or libvirt's message", err.Error())
			}
		})
	}
}

func TestWrapErrNonLibvirt(t *testing.T) {
	if wrapErr("x", nil) != nil {
		t.Fatal("wrapErr(nil) is not nil")
	}
	err := wrapErr("connect", fmt.Errorf("waiting: %w", context.DeadlineExceeded))
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("deadline: got %v, want ErrTimeout wrapping context.DeadlineExceeded", err)
	}
	plain := errors.New("boom")
	err = wrapErr("op", plain)
	if !errors.Is(err, plain) {
		t.Errorf("lost the cause: %v", err)
	}
	for _, c := range []error{ErrNotFound, ErrConflict, ErrUnavailable, ErrTimeout, ErrInvalid} {
		if errors.Is(err, c) {
			t.Errorf("unclassified error matched %v", c)
		}
	}
}

func TestCallGivesUpAtDeadline(t *testing.T) {
	release := make(chan struct{})
	dropped := make(chan int, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := call(ctx, "slow", func() (int, error) {
		<-release // a libvirt call that hangs
		return 42, nil
	}, func(v int) { dropped <- v })
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
	close(release)
	select {
	case v := <-dropped:
		if v != 42 {
			t.Errorf("drop got %d, want the late result 42", v)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the late result was never handed to drop")
	}
}

func TestCallReturnsResultAndWrapsError(t *testing.T) {
	ctx := context.Background()
	v, err := call(ctx, "fast", func() (string, error) { return "ok", nil }, nil)
	if err != nil || v != "ok" {
		t.Fatalf("got %q, %v", v, err)
	}
	_, err = call(ctx, "lookup domain", func() (string, error) {
		return "", libvirt.Error{Code: libvirt.ERR_NO_DOMAIN, Domain: libvirt.FROM_QEMU, Message: "Domain not found"}
	}, nil)
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("got %v, want ErrNotFound", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	ran := false
	_, err = call(cancelled, "never", func() (int, error) { ran = true; return 0, nil }, nil)
	if err == nil || ran {
		t.Errorf("call on a finished context: err=%v ran=%v, want an error and no call", err, ran)
	}
}

func TestFormatVersion(t *testing.T) {
	for v, want := range map[uint32]string{9000000: "9.0.0", 7002022: "7.2.22", 10010001: "10.10.1"} {
		if got := FormatVersion(v); got != want {
			t.Errorf("FormatVersion(%d) = %q, want %q", v, got, want)
		}
	}
}
