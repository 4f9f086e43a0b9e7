package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// referenceDir holds copies of the reference deployment's nova.conf files (../shared/reference),
// so the tests need nothing outside the repository.
const referenceDir = "testdata/reference"

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func load(t *testing.T, sources ...Source) *Config {
	t.Helper()
	c, err := Load(sources)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

func warningsText(c *Config) string {
	var b strings.Builder
	for _, w := range c.Warnings {
		b.WriteString(w.String() + "\n")
	}
	return b.String()
}

func TestReferenceComputeConf(t *testing.T) {
	c := load(t, Source{Path: filepath.Join(referenceDir, "nova.conf")})
	host, _ := os.Hostname()
	checks := []struct {
		name      string
		got, want any
	}{
		{"host defaults to hostname", c.Default.Host, host},
		{"my_ip", c.Default.MyIP, "192.168.10.20"},
		{"transport_url", c.Default.TransportURL, "rabbit://rabbitmq:000000@controller:5672"},
		{"state_path", c.Default.StatePath, "/var/lib/nova"},
		{"instances_path", c.Default.InstancesPath, "/var/lib/nova/instances"},
		{"virt_type", c.Libvirt.VirtType, "qemu"},
		{"vnc enabled", c.VNC.Enabled, true},
		{"server_listen", c.VNC.ServerListen, "0.0.0.0"},
		{"server_proxyclient_address = $my_ip", c.VNC.ServerProxyclientAddress, "192.168.10.20"},
		{"novncproxy_base_url", c.VNC.NoVNCProxyBaseURL, "http://192.168.10.10:6080/vnc_auto.html"},
		{"placement auth_type", c.Placement.AuthType, "password"},
		{"placement auth_url", c.Placement.AuthURL, "http://controller:5000"},
		{"placement username", c.Placement.Username, "placement"},
		{"placement project", c.Placement.ProjectName, "project"},
		{"placement region", c.Placement.RegionName, "RegionOne"},
		{"placement interfaces", c.Placement.ValidInterfaces, []string{"internal", "public"}},
		{"glance api_servers", c.Glance.APIServers, []string{"http://controller:9292"}},
		{"report_interval", c.Default.ReportInterval, 10},
		{"initial_cpu_allocation_ratio", c.Default.InitialCPUAllocationRatio, 16.0},
		{"initial_ram_allocation_ratio", c.Default.InitialRAMAllocationRatio, 1.5},
		{"reserved_host_memory_mb", c.Default.ReservedHostMemoryMB, 512},
		{"cpu_allocation_ratio unset", c.Default.CPUAllocationRatio == nil, true},
		{"control_exchange", c.Default.ControlExchange, "nova"},
		{"heartbeat_timeout_threshold", c.Rabbit.HeartbeatTimeoutThreshold, 60},
		{"rabbit_login_method", c.Rabbit.LoginMethod, "AMQPLAIN"},
		{"metrics_listen", c.Novalet.MetricsListen, "127.0.0.1:9797"},
	}
	for _, ck := range checks {
		if !reflect.DeepEqual(ck.got, ck.want) {
			t.Errorf("%s = %#v, want %#v", ck.name, ck.got, ck.want)
		}
	}
	w := warningsText(c)
	for _, want := range []string{"nova.conf:8: [DEFAULT] use_neutron: unknown option", "nova.conf:9: [DEFAULT] firewall_driver: unknown option"} {
		if !strings.Contains(w, want) {
			t.Errorf("warnings lack %q:\n%s", want, w)
		}
	}
	if len(c.Warnings) != 2 {
		t.Errorf("want exactly 2 warnings, got:\n%s", w)
	}
	// What nova knows and novalet does not read is named once per option, where it is set.
	var ignored []string
	for _, i := range c.Ignored {
		ignored = append(ignored, i.String())
	}
	all := strings.Join(ignored, "\n")
	for _, want := range []string{"nova.conf:12: [api] auth_strategy: set, but novalet does not act on this option",
		"nova.conf:15: [keystone_authtoken] auth_url: set, but novalet does not act", "nova.conf:38: [oslo_concurrency] lock_path"} {
		if !strings.Contains(all, want) {
			t.Errorf("ignored options lack %q:\n%s", want, all)
		}
	}
	if len(c.Ignored) != 11 || strings.Contains(all, "virt_type") || strings.Contains(all, "transport_url") {
		t.Errorf("want the 11 options novalet does not read, got:\n%s", all)
	}
}

func TestReferenceControllerConf(t *testing.T) {
	c := load(t, Source{Path: filepath.Join(referenceDir, "nova-controller.conf")})
	if c.VNC.ServerListen != "192.168.10.10" {
		t.Errorf("server_listen = $my_ip gave %q", c.VNC.ServerListen)
	}
	want := `nova-controller.conf:51: [scheduler] discover_hosts_in_cells_internal: unknown option: nova 26.2.2 does not know it and ignores it; did you mean "discover_hosts_in_cells_interval"?`
	if w := warningsText(c); !strings.Contains(w, want) {
		t.Errorf("warnings lack %q:\n%s", want, w)
	}
}

func TestLaterFileWinsAndConfigDirOrder(t *testing.T) {
	dir := t.TempDir()
	a := writeFile(t, dir, "a.conf", "[DEFAULT]\nreport_interval = 5\nhost = first\n")
	b := writeFile(t, dir, "b.conf", "[DEFAULT]\nreport_interval = 7\n")
	writeFile(t, dir, "d/20-second.conf", "[DEFAULT]\nhost = from-20\n")
	writeFile(t, dir, "d/10-first.conf", "[DEFAULT]\nhost = from-10\nservice_down_time = 99\n")
	writeFile(t, dir, "d/ignored.txt", "[DEFAULT]\nhost = never\n")

	c := load(t, Source{Path: a}, Source{Path: b})
	if c.Default.ReportInterval != 7 || c.Default.Host != "first" {
		t.Errorf("files a,b: report_interval=%d host=%q, want 7 first", c.Default.ReportInterval, c.Default.Host)
	}
	c = load(t, Source{Path: a}, Source{Path: filepath.Join(dir, "d"), Dir: true})
	if c.Default.Host != "from-20" || c.Default.ServiceDownTime != 99 || c.Default.ReportInterval != 5 {
		t.Errorf("file+dir: host=%q service_down_time=%d report_interval=%d", c.Default.Host, c.Default.ServiceDownTime, c.Default.ReportInterval)
	}
	if len(c.Files) != 3 || filepath.Base(c.Files[1]) != "10-first.conf" {
		t.Errorf("files read: %v", c.Files)
	}
	// Within one file the last line wins.
	p := writeFile(t, dir, "dup.conf", "[DEFAULT]\nhost = one\nhost = two\n")
	if c := load(t, Source{Path: p}); c.Default.Host != "two" {
		t.Errorf("repeated key: host = %q, want two", c.Default.Host)
	}
}

func TestInterpolation(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "nova.conf", `[DEFAULT]
my_ip = 10.1.2.3
state_path = /srv/nova
host = ${my_ip}-node
instance_name_template = vm-$$-%08x
mkisofs_cmd = \$HOME/bin/mkisofs
[vnc]
server_listen = $DEFAULT.my_ip
server_proxyclient_address = $server_listen
novncproxy_base_url = http://$my_ip:6080/$novalet.metrics_listen
`)
	c := load(t, Source{Path: p})
	checks := map[string][2]string{
		"instances_path (default from $state_path)": {c.Default.InstancesPath, "/srv/nova/instances"},
		"${my_ip}":         {c.Default.Host, "10.1.2.3-node"},
		"$$ escape":        {c.Default.InstanceNameTemplate, "vm-$-%08x"},
		`\$ escape`:        {c.Default.MkisofsCmd, "$HOME/bin/mkisofs"},
		"$group.name":      {c.VNC.ServerListen, "10.1.2.3"},
		"same group first": {c.VNC.ServerProxyclientAddress, "10.1.2.3"},
		"other group ref":  {c.VNC.NoVNCProxyBaseURL, "http://10.1.2.3:6080/127.0.0.1:9797"},
	}
	for name, gw := range checks {
		if gw[0] != gw[1] {
			t.Errorf("%s: got %q, want %q", name, gw[0], gw[1])
		}
	}
}

func TestInterpolationErrors(t *testing.T) {
	dir := t.TempDir()
	loop := writeFile(t, dir, "loop.conf", "[DEFAULT]\nhost = $my_ip\nmy_ip = $host\n")
	if _, err := Load([]Source{{Path: loop}}); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "refers to itself") {
		t.Errorf("loop: err = %v", err)
	}
	unknown := writeFile(t, dir, "unknown.conf", "[DEFAULT]\nhost = $no_such_option\n")
	_, err := Load([]Source{{Path: unknown}})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "unknown.conf:2") || !strings.Contains(err.Error(), "no_such_option") {
		t.Errorf("unknown reference: err = %v", err)
	}
}

func TestInvalidValuesNameFileLineAndOption(t *testing.T) {
	dir := t.TempDir()
	cases := []struct{ body, want string }{
		{"[DEFAULT]\n\nreport_interval = ten\n", "bad.conf:3: [DEFAULT] report_interval: not an integer"},
		{"[DEFAULT]\nmax_concurrent_builds = -1\n", "bad.conf:2: [DEFAULT] max_concurrent_builds: should be greater than or equal to 0"},
		{"[libvirt]\nvirt_type = xen\n", "bad.conf:2: [libvirt] virt_type: valid values are [kvm, lxc, qemu, parallels]"},
		{"[vnc]\nenabled = maybe\n", "bad.conf:2: [vnc] enabled: unexpected boolean value"},
		{"[oslo_messaging_rabbit]\nrabbit_login_method = KERBEROS\n", "bad.conf:2: [oslo_messaging_rabbit] rabbit_login_method: valid values are"},
	}
	for _, c := range cases {
		p := writeFile(t, dir, "bad.conf", c.body)
		_, err := Load([]Source{{Path: p}})
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("body %q: err = %v, want %q", c.body, err, c.want)
		}
	}
	p := writeFile(t, dir, "syntax.conf", "[DEFAULT\n")
	if _, err := Load([]Source{{Path: p}}); !errors.Is(err, ErrParse) || !strings.Contains(err.Error(), "syntax.conf:1") {
		t.Errorf("syntax: err = %v", err)
	}
	if _, err := Load([]Source{{Path: filepath.Join(dir, "missing.conf")}}); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing file: err = %v", err)
	}
	if _, err := Load([]Source{{Path: filepath.Join(dir, "nodir"), Dir: true}}); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing dir: err = %v", err)
	}
}

func TestDeprecatedNames(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "old.conf", "[DEFAULT]\nvnc_enabled = false\n")
	c := load(t, Source{Path: p})
	if c.VNC.Enabled {
		t.Error("[DEFAULT] vnc_enabled = false did not set [vnc] enabled")
	}
	if w := warningsText(c); !strings.Contains(w, "[DEFAULT] vnc_enabled: deprecated name; use [vnc] enabled") {
		t.Errorf("warnings: %s", w)
	}
	// The current name beats the deprecated one in the same file, wherever it stands.
	p = writeFile(t, dir, "both.conf", "[vnc]\nenabled = true\n[DEFAULT]\nvnc_enabled = false\n")
	if c := load(t, Source{Path: p}); !c.VNC.Enabled {
		t.Error("deprecated name won over the current name in the same file")
	}
	// A later file's deprecated name beats an earlier file's current name.
	q := writeFile(t, dir, "later.conf", "[DEFAULT]\nvnc_enabled = false\n")
	if c := load(t, Source{Path: p}, Source{Path: q}); c.VNC.Enabled {
		t.Error("later file's deprecated name did not win")
	}
}

func TestUnknownReportedOnceWithHints(t *testing.T) {
	dir := t.TempDir()
	a := writeFile(t, dir, "a.conf", "[DEFAULT]\nrepot_interval = 5\nserver_listen = 1.2.3.4\n[bogus]\nx = 1\ny = 2\n[VNC]\nenabled = true\n")
	b := writeFile(t, dir, "b.conf", "[DEFAULT]\nrepot_interval = 6\n")
	c := load(t, Source{Path: a}, Source{Path: b})
	w := warningsText(c)
	for _, want := range []string{
		`a.conf:2: [DEFAULT] repot_interval: unknown option: nova 26.2.2 does not know it and ignores it; did you mean "report_interval"?`,
		`a.conf:3: [DEFAULT] server_listen: unknown option: nova 26.2.2 does not know it and ignores it; did you mean [spice] server_listen or [vnc] server_listen?`,
		`a.conf:5: [bogus] *: nova 26.2.2 has no group [bogus]`,
	} {
		if !strings.Contains(w, want) {
			t.Errorf("warnings lack %q:\n%s", want, w)
		}
	}
	if len(c.Warnings) != 3 {
		t.Errorf("want 3 warnings (each once; [VNC] is [vnc]), got:\n%s", w)
	}
}

func TestSecretsNeverInErrors(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "s.conf", "[DEFAULT]\ntransport_url = rabbit://u:hunter2@h/$nope\n")
	_, err := Load([]Source{{Path: p}})
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("err = %v (must fail without showing the secret)", err)
	}
}

// Every option novalet binds exists in nova's table (or novalet's own group), so a typo in a
// tag cannot silently read nothing.
func TestEveryBoundOptionIsKnown(t *testing.T) {
	cat, err := loadCatalogue()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, b := range boundOptions() {
		n++
		if cat.lookup(b[0], b[1]) == nil {
			t.Errorf("[%s] %s is bound but unknown", b[0], b[1])
		}
	}
	if n < 80 {
		t.Errorf("only %d bound options found", n)
	}
}

// TestSourcesAsOsloConfig: nova-compute's defaults (nova.conf, nova-compute.conf, their .conf.d
// directories) are read when the command line names no file or no directory, first, and the
// command line's sources after them.
func TestSourcesAsOsloConfig(t *testing.T) {
	home, etcNova, etc := t.TempDir(), t.TempDir(), t.TempDir()
	dirs := []string{filepath.Join(home, ".nova"), home, etcNova, etc}
	touch := func(p string) {
		if err := os.WriteFile(p, []byte("[DEFAULT]\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	touch(filepath.Join(etcNova, "nova.conf"))
	touch(filepath.Join(etcNova, "nova-compute.conf"))
	touch(filepath.Join(etc, "nova.conf")) // shadowed by /etc/nova's
	if err := os.Mkdir(filepath.Join(etcNova, "nova-compute.conf.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	got := sourcesIn(nil, dirs)
	want := []Source{{Path: filepath.Join(etcNova, "nova.conf")}, {Path: filepath.Join(etcNova, "nova-compute.conf")},
		{Path: filepath.Join(etcNova, "nova-compute.conf.d"), Dir: true}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("no flags: %v, want %v", got, want)
	}
	// Debian's unit: two --config-file flags; the default directories are still read, first.
	flags := []Source{{Path: "/x/nova.conf"}, {Path: "/x/nova-compute.conf"}}
	got = sourcesIn(flags, dirs)
	want = append([]Source{{Path: filepath.Join(etcNova, "nova-compute.conf.d"), Dir: true}}, flags...)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("--config-file only: %v, want %v", got, want)
	}
	// A --config-dir replaces the default directories; the default files are still read.
	flags = []Source{{Path: "/x/conf.d", Dir: true}}
	got = sourcesIn(flags, dirs)
	want = []Source{{Path: filepath.Join(etcNova, "nova.conf")}, {Path: filepath.Join(etcNova, "nova-compute.conf")}, flags[0]}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("--config-dir only: %v, want %v", got, want)
	}
	// ~/.nova comes before /etc/nova.
	if err := os.Mkdir(filepath.Join(home, ".nova"), 0o755); err != nil {
		t.Fatal(err)
	}
	touch(filepath.Join(home, ".nova", "nova.conf"))
	if got := sourcesIn([]Source{{Path: "/x", Dir: true}}, dirs); got[0].Path != filepath.Join(home, ".nova", "nova.conf") {
		t.Fatalf("search order: %v", got)
	}
}

func TestRPCPingEnabled(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a.conf", "[DEFAULT]\nhost = h\n")
	writeFile(t, dir, "b.conf", "[DEFAULT]\nrpc_ping_enabled = true\n")
	if c := load(t, Source{Path: filepath.Join(dir, "a.conf")}); c.Default.RPCPingEnabled {
		t.Error("rpc_ping_enabled defaults to true; oslo.messaging's default is false")
	}
	if c := load(t, Source{Path: filepath.Join(dir, "b.conf")}); !c.Default.RPCPingEnabled {
		t.Error("rpc_ping_enabled = true not read")
	}
}
