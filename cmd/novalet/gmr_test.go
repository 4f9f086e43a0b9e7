package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/novalet/novalet/config"
)

func TestGuruReportMasksSecrets(t *testing.T) {
	p := filepath.Join(t.TempDir(), "nova.conf")
	const conf = "[DEFAULT]\nhost = cmp1\ntransport_url = rabbit://nova:RABBITPW@ctl:5672/\n[placement]\npassword = PLACEMENTPW\nauth_type = password\n"
	if err := os.WriteFile(p, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load([]config.Source{{Path: p}})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	writeGuruReport(&out, cfg, nil)
	s := out.String()
	for _, secret := range []string{"RABBITPW", "PLACEMENTPW"} {
		if strings.Contains(s, secret) {
			t.Errorf("the report shows a secret (%s)", secret)
		}
	}
	for _, want := range []string{"Guru Meditation", "Package", "Configuration", "Threads", "host = cmp1", "transport_url = ***",
		"password = ***", "goroutine ", "not serving yet"} {
		if !strings.Contains(s, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}
