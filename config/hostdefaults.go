package config

import (
	"bufio"
	"net"
	"os"
	"strings"
)

// PyBaseDir stands in for nova's pybasedir (the directory of nova's Python package, from
// which state_path defaults). A Go binary has no such directory; /var/lib/nova is the
// state_path every distribution's nova.conf sets, so novalet uses it.
const PyBaseDir = "/var/lib/nova"

// hostDefaults computes the defaults nova computes on the host it runs on.
func hostDefaults() map[optKey]string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	return map[optKey]string{
		{"DEFAULT", "host"}:         host,
		{"DEFAULT", "console_host"}: host,
		{"DEFAULT", "my_ip"}:        myIPv4(),
		{"DEFAULT", "pybasedir"}:    PyBaseDir,
	}
}

// myIPv4 is oslo's netutils.get_my_ipv4 without sending anything: the first IPv4 address of
// the interface that holds the default route, else 127.0.0.1.
func myIPv4() string {
	ifname := defaultRouteInterface("/proc/net/route")
	if ifname == "" {
		return "127.0.0.1"
	}
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return "127.0.0.1"
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return "127.0.0.1"
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
			return ipn.IP.String()
		}
	}
	return "127.0.0.1"
}

// defaultRouteInterface reads the kernel's IPv4 routing table for the 0.0.0.0/0 route.
func defaultRouteInterface(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		// Iface Destination Gateway Flags RefCnt Use Metric Mask ...
		if len(fields) >= 8 && fields[1] == "00000000" && fields[7] == "00000000" {
			return fields[0]
		}
	}
	return ""
}
