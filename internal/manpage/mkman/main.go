// Command mkman writes novalet(8) to stdout: scripts/deb.sh runs it with the README and the
// built binary's usage texts.
//
//	mkman -readme README.md -usage usage.txt -flags flags.txt -version V -date YYYY-MM-DD
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/novalet/novalet/internal/manpage"
)

func main() {
	readme := flag.String("readme", "README.md", "the README")
	usage := flag.String("usage", "", "`novalet help` output")
	flags := flag.String("flags", "", "`novalet run -h` output")
	version := flag.String("version", "dev", "novalet's version")
	date := flag.String("date", "", "the page's date (YYYY-MM-DD)")
	flag.Parse()
	p := manpage.Page{Version: *version, Date: *date}
	for _, f := range []struct {
		path string
		dst  *string
	}{{*readme, &p.README}, {*usage, &p.Usage}, {*flags, &p.Flags}} {
		b, err := os.ReadFile(f.path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "mkman:", err)
			os.Exit(1)
		}
		*f.dst = string(b)
	}
	out, err := manpage.Render(p)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkman:", err)
		os.Exit(1)
	}
	fmt.Print(out)
}
