package manpage

import (
	"os"
	"strings"
	"testing"
)

const usage = `usage: novalet COMMAND [--config-file FILE]...

commands:
  run       run the compute agent
  check     preflight: config, libvirt
  version   print the version

Flags are nova-compute's: --config-file may repeat.
`

const flags = `Usage of run:
  -config-file value
    	a nova.conf file (repeatable; later files win)
  -d	short for --debug
  -log-date-format string
    	[DEFAULT] log_date_format (strftime)
`

func TestRenderTheREADME(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	page, err := Render(Page{Version: "1.2", Date: "2026-12-05", README: string(readme), Usage: usage, Flags: flags})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`.TH NOVALET 8 "2026-12-05" "novalet 1.2"`,
		".TP\n\\fBcheck\\fR\npreflight: config, libvirt\n",
		".TP\n\\fB\\-\\-config\\-file\\fR \\fIFILE\\fR\na nova.conf file (repeatable; later files win)\n",
		".TP\n\\fB\\-d\\fR\nshort for \\-\\-debug\n",
		`\fB\-\-log\-date\-format\fR \fIFORMAT\fR`,
		// the README's takeover steps, as a literal block
		".nf\nsystemctl disable \\-\\-now nova\\-compute",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	macros := map[string]bool{".TH": true, ".SH": true, ".SS": true, ".PP": true, ".TP": true, ".nf": true,
		".fi": true, ".RS": true, ".RE": true, ".BR": true, `.\"`: true}
	for i, l := range strings.Split(page, "\n") {
		if strings.Contains(l, "```") {
			t.Errorf("line %d: Markdown fence left: %q", i+1, l)
		}
		if strings.HasPrefix(l, ".") && !macros[strings.Fields(l)[0]] {
			t.Errorf("line %d: text read as a request: %q", i+1, l)
		}
		for _, r := range l {
			if r > 127 {
				t.Errorf("line %d: raw non-ASCII %q (groff wants \\[uXXXX])", i+1, r)
				break
			}
		}
	}
}

func TestRenderRefusesAMissingSection(t *testing.T) {
	if _, err := Render(Page{README: "# x\n", Usage: usage, Flags: flags}); err == nil {
		t.Error("a README without the section rendered")
	}
}

func TestMarkdown(t *testing.T) {
	got := markdown("A `code` and **strong** [link](http://x).\n\n| a | b | c |\n|---|---|---|\n| `k` | v | w |\n\n```\n.dot -x\n```\n")
	want := ".PP\nA \\fBcode\\fR and \\fBstrong\\fR link <http://x>.\n" +
		".TP\n\\fBk\\fR\nv; w\n" +
		".PP\n.RS 4\n.nf\n\\&.dot \\-x\n.fi\n.RE\n"
	if got != want {
		t.Errorf("markdown:\n%s\nwant:\n%s", got, want)
	}
}
