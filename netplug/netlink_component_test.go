//go:build component

package netplug_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/novalet/novalet/internal/testenv"
	"github.com/novalet/novalet/netplug"
	"github.com/novalet/novalet/netplug/netplugtest"
)

// freshNamespace makes a throwaway named network namespace and removes it at the end.
func freshNamespace(t *testing.T) string {
	t.Helper()
	testenv.RequireRoot(t)
	name := fmt.Sprintf("novalet-np-%d", time.Now().UnixNano()%1e9)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	return name
}

func ipn(t *testing.T, ns string, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"-n", ns}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip -n %s %v: %v %s", ns, args, err, out)
	}
	return string(out)
}

func realEnv(t *testing.T) (netplugtest.Env, string) {
	ns := freshNamespace(t)
	p, err := netplug.Open("/run/netns/" + ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return netplugtest.Env{
		P: p,
		AddBridge: func(t *testing.T, name string, mtu int) {
			ipn(t, ns, "link", "add", name, "mtu", fmt.Sprint(mtu), "type", "bridge")
			ipn(t, ns, "link", "set", name, "up")
		},
		AddTap: func(t *testing.T, name, master string, mtu int) {
			ipn(t, ns, "tuntap", "add", "dev", name, "mode", "tap")
			ipn(t, ns, "link", "set", name, "mtu", fmt.Sprint(mtu))
			if master != "" {
				ipn(t, ns, "link", "set", name, "master", master)
			}
		},
		BridgeExists: func(t *testing.T, name string) bool {
			out, err := exec.Command("ip", "-n", ns, "link", "show", name).CombinedOutput()
			return err == nil && strings.Contains(string(out), name)
		},
	}, ns
}

func TestNetlinkConformance(t *testing.T) {
	netplugtest.Run(t, func(t *testing.T) netplugtest.Env { e, _ := realEnv(t); return e })
}

// The bridge is made the way the linuxbridge agent makes it, and QEMU (through libvirt, with
// managed='no') can open the tap the way it does: TUNSETIFF with IFF_TAP|IFF_NO_PI|IFF_VNET_HDR.
func TestNetlinkBridgeSettingsAndTapOpens(t *testing.T) {
	e, ns := realEnv(t)
	const network, port = "0c1d2e3f-aaaa-4bbb-8ccc-ddddeeeeffff", "9f8e7d6c-1234-4567-89ab-cdef01234567"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.P.Plug(ctx, netplug.VIF{PortID: port, NetworkID: network, MTU: 1450}); err != nil {
		t.Fatal(err)
	}
	var links []struct {
		MTU      int `json:"mtu"`
		LinkInfo struct {
			Kind string `json:"info_kind"`
			Data struct {
				ForwardDelay int `json:"forward_delay"`
				STPState     int `json:"stp_state"`
			} `json:"info_data"`
		} `json:"linkinfo"`
	}
	if err := json.Unmarshal([]byte(ipn(t, ns, "-d", "-j", "link", "show", netplug.BridgeName(network))), &links); err != nil || len(links) != 1 {
		t.Fatalf("bridge details: %v %+v", err, links)
	}
	if b := links[0]; b.LinkInfo.Kind != "bridge" || b.LinkInfo.Data.ForwardDelay != 0 || b.LinkInfo.Data.STPState != 0 || b.MTU != 1450 {
		t.Errorf("bridge %+v, want forward delay 0, STP off, MTU 1450", b)
	}

	errc, release := make(chan error, 1), make(chan struct{})
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends in the test namespace
		h, err := netns.GetFromName(ns)
		if err == nil {
			err = netns.Set(h)
		}
		if err != nil {
			errc <- err
			return
		}
		fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(fd)
		var req [unix.IFNAMSIZ + 64]byte
		copy(req[:], netplug.TapName(port))
		*(*uint16)(unsafe.Pointer(&req[unix.IFNAMSIZ])) = unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR
		if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TUNSETIFF, uintptr(unsafe.Pointer(&req[0]))); errno != 0 {
			errc <- fmt.Errorf("TUNSETIFF %s: %w", netplug.TapName(port), errno)
			return
		}
		errc <- nil
		<-release
	}()
	if err := <-errc; err != nil {
		t.Fatalf("opening the plugged tap as QEMU would: %v", err)
	}
	carrier := func() bool {
		taps, err := e.P.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, tp := range taps {
			if tp.Name == netplug.TapName(port) {
				return tp.Carrier
			}
		}
		t.Fatal("tap not listed")
		return false
	}
	if !carrier() {
		t.Error("a tap a process holds open is listed without carrier (the reaper would take a live guest's tap)")
	}
	close(release) // the process ends: the kernel drops the carrier
	deadline := time.Now().Add(5 * time.Second)
	for carrier() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if carrier() {
		t.Error("the tap still shows carrier after its holder closed it")
	}
}
