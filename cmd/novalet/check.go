package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/novalet/novalet/config"
)

// row is one line of `novalet check`: a dependency, OK or FAIL, why, and what to do.
type row struct {
	Name   string
	OK     bool
	Detail string
	Fix    string
}

func ok(name, format string, a ...any) row {
	return row{Name: name, OK: true, Detail: fmt.Sprintf(format, a...)}
}

func fail(name string, err error, fix string) row {
	return row{Name: name, Detail: err.Error(), Fix: fix}
}

// rowTimeout bounds each check; a dependency that hangs is a FAIL, not a stuck preflight.
const rowTimeout = 30 * time.Second

// checkCommand runs the preflight an operator runs after installing a compute node.
// Exit status 1 when any row fails.
func checkCommand(sources []config.Source, stdout, stderr io.Writer) int {
	cfg, err := config.Load(sources)
	if err != nil {
		printRows(stdout, []row{fail("config", err, "fix the file and line named above")})
		return 1
	}
	for _, w := range append(cfg.Warnings, cfg.Ignored...) {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}
	rows := []row{ok("config", "%d file(s) read (%s); %d warning(s)", len(cfg.Files), strings.Join(cfg.Files, ", "), len(cfg.Warnings)),
		ok("ignored options", "%d option(s) nova knows are set but change nothing under novalet (listed above)", len(cfg.Ignored))}
	rows = append(rows, preflight(cfg)...)
	printRows(stdout, rows)
	for _, r := range rows {
		if !r.OK {
			return 1
		}
	}
	return 0
}

// preflight checks every dependency the agent needs, in the order an operator fixes them.
func preflight(cfg *config.Config) []row {
	bounded := func(f func(ctx context.Context) row) row {
		ctx, cancel := context.WithTimeout(context.Background(), rowTimeout)
		defer cancel()
		return f(ctx)
	}
	rows := []row{
		bounded(func(ctx context.Context) row { return checkDriver(ctx, cfg) }),
		checkInstancesPath(cfg),
		bounded(func(ctx context.Context) row { return checkRabbit(ctx, cfg) }),
	}
	rows = append(rows, checkTakeover(cfg, hostRoots)...)
	return append(rows, checkOpenStack(cfg, bounded)...)
}

func printRows(w io.Writer, rows []row) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tRESULT\tDETAIL")
	for _, r := range rows {
		status := "OK"
		if !r.OK {
			status = "FAIL"
		}
		detail := strings.ReplaceAll(r.Detail, "\n", " ")
		if r.Fix != "" {
			detail += " -- fix: " + r.Fix
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Name, status, detail)
	}
	tw.Flush()
}
