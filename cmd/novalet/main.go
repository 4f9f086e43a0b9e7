// Command novalet is a drop-in replacement for OpenStack Zed's nova-compute: one daemon per
// compute node that reads the node's nova.conf.
//
//	novalet run     [--config-file FILE]... [--config-dir DIR]...
//	novalet check   [--config-file FILE]... [--config-dir DIR]...
//	novalet version
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"

	"github.com/novalet/novalet/config"
)

// version is set at build time (-ldflags "-X main.version=...").
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "version", "--version":
		fmt.Fprintf(stdout, "novalet %s (for nova-compute %s, compute RPC API 6.x; %s)\n", version, novaVersion+" (Zed)", runtime.Version())
		return 0
	case "check":
		sources, _, code := parseFlags("check", args[1:], stderr)
		if code >= 0 {
			return code
		}
		return checkCommand(sources, stdout, stderr)
	case "run":
		sources, logs, code := parseFlags("run", args[1:], stderr)
		if code >= 0 {
			return code
		}
		return runCommand(sources, logs, stdout, stderr)
	case "help", "-h", "--help":
		usage(stdout)
		return 0
	}
	fmt.Fprintf(stderr, "novalet: unknown command %q\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: novalet COMMAND [--config-file FILE]... [--config-dir DIR]... [LOGGING FLAGS]

commands:
  run       run the compute agent
  check     preflight: config, libvirt, instances_path, RabbitMQ, Keystone, Placement, Glance, Neutron
  version   print the version

Flags are nova-compute's: --config-file may repeat (later files win), --config-dir adds
DIR/*.conf in sorted order. As oslo.config does, without --config-file the first nova.conf and
nova-compute.conf in ~/.nova, ~, /etc/nova, /etc are read, and without --config-dir the
nova.conf.d and nova-compute.conf.d there, before the flags' files.

Logging flags are oslo.log's and win over [DEFAULT] in the files: --log-file FILE, --log-dir DIR,
--debug (-d), --use-json, --use-syslog, --use-journal, --syslog-log-facility NAME,
--log-date-format FMT, --watch-log-file. With none of log_file, log_dir, use_stderr and
use_journal, records go to stdout, in oslo's text format unless use_json.
`)
}

// sourceFlag keeps --config-file and --config-dir in command-line order, as oslo.config does.
type sourceFlag struct {
	sources *[]config.Source
	dir     bool
}

func (f sourceFlag) String() string { return "" }
func (f sourceFlag) Set(v string) error {
	*f.sources = append(*f.sources, config.Source{Path: v, Dir: f.dir})
	return nil
}

// parseFlags returns the config sources and oslo.log's flags, or an exit code >= 0 when the
// command must stop.
func parseFlags(cmd string, args []string, stderr io.Writer) ([]config.Source, logFlags, int) {
	var sources []config.Source
	var logs logFlags
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Var(sourceFlag{&sources, false}, "config-file", "a nova.conf file (repeatable; later files win)")
	fs.Var(sourceFlag{&sources, true}, "config-dir", "a directory of *.conf files (repeatable)")
	logs.register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, logs, 0
		}
		return nil, logs, 2
	}
	logs.parsed(fs)
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "novalet %s: unexpected argument %q\n", cmd, fs.Arg(0))
		return nil, logs, 2
	}
	sources = config.Sources(sources)
	if len(sources) == 0 {
		fmt.Fprintln(stderr, "novalet: no --config-file given and neither nova.conf nor nova-compute.conf exists in ~/.nova, ~, /etc/nova or /etc")
		return nil, logs, 1
	}
	return sources, logs, -1
}
