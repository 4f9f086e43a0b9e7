package main

import (
	"fmt"
	"io"

	"github.com/novalet/novalet/config"
)

// runCommand starts the agent. This version stops after the start-up steps that exist: it
// reads the configuration and checks the local parts; registering the compute service and
// consuming Nova's RPC are not implemented yet, and it says so instead of pretending.
func runCommand(sources []config.Source, stdout, stderr io.Writer) int {
	cfg, err := config.Load(sources)
	if err != nil {
		fmt.Fprintf(stderr, "novalet run: %v\n", err)
		return 1
	}
	log := newLogger(stderr, cfg.Default.Debug)
	for _, w := range cfg.Warnings {
		log.Warn("config", "file", w.File, "line", w.Line, "group", w.Group, "option", w.Option, "message", w.Message)
	}
	failed := false
	for _, r := range preflight(cfg) {
		if r.OK {
			log.Info("preflight", "check", r.Name, "detail", r.Detail)
		} else {
			failed = true
			log.Error("preflight", "check", r.Name, "detail", r.Detail, "fix", r.Fix)
		}
	}
	if failed {
		return 1
	}
	log.Error("novalet run: the compute service (registration with the conductor, Nova RPC) is not implemented in this version; nothing was registered")
	return 3
}
