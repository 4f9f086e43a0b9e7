package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/novalet/novalet/config"
)

func TestTakeoverRows(t *testing.T) {
	root := t.TempDir()
	r := takeoverRoots{etcNova: filepath.Join(root, "etc/nova"), systemdEtc: filepath.Join(root, "systemd"), proc: filepath.Join(root, "proc")}
	for _, d := range []string{r.etcNova, filepath.Join(r.systemdEtc, "multi-user.target.wants"), filepath.Join(r.proc, "4242")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	novaConf := filepath.Join(r.etcNova, "nova.conf")
	computeConf := filepath.Join(r.etcNova, "nova-compute.conf")
	os.WriteFile(novaConf, []byte("[DEFAULT]\nhost = h\n"), 0o644)
	os.WriteFile(computeConf, []byte("[libvirt]\nvirt_type = qemu\n"), 0o644)
	wants := filepath.Join(r.systemdEtc, "multi-user.target.wants", "nova-compute.service")
	os.Symlink("/lib/systemd/system/nova-compute.service", wants)
	os.WriteFile(filepath.Join(r.proc, "4242", "cmdline"), []byte("/usr/bin/python3\x00/usr/bin/nova-compute\x00--config-file=/etc/nova/nova.conf\x00"), 0o644)

	load := func(files ...string) *config.Config {
		var src []config.Source
		for _, f := range files {
			src = append(src, config.Source{Path: f})
		}
		c, err := config.Load(src)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	rows := checkTakeover(load(novaConf), r)
	byName := map[string]row{}
	for _, x := range rows {
		byName[x.Name] = x
	}
	if c := byName["nova-compute.conf"]; c.OK || !strings.Contains(c.Fix, "--config-file "+computeConf) {
		t.Errorf("nova-compute.conf present, not passed: %+v", c)
	}
	if c := byName["nova-compute"]; c.OK || !strings.Contains(c.Detail, "4242") || !strings.Contains(c.Fix, "mask") {
		t.Errorf("nova-compute running: %+v", c)
	}
	os.Remove(filepath.Join(r.proc, "4242", "cmdline"))
	if c := checkNovaCompute(r); c.OK || !strings.Contains(c.Detail, "enabled") {
		t.Errorf("nova-compute enabled: %+v", c)
	}
	os.Remove(wants)
	os.Symlink("/dev/null", filepath.Join(r.systemdEtc, "nova-compute.service"))
	if c := checkNovaCompute(r); !c.OK || !strings.Contains(c.Detail, "masked") {
		t.Errorf("nova-compute masked: %+v", c)
	}
	if c := checkComputeConf(load(novaConf, computeConf), r); !c.OK {
		t.Errorf("nova-compute.conf passed: %+v", c)
	}
}
