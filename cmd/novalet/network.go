package main

import (
	"time"

	"github.com/novalet/novalet/agent"
	"github.com/novalet/novalet/config"
)

// networkOptions maps nova.conf onto the agent's networking.
func networkOptions(cfg *config.Config) agent.NetworkOptions {
	d := cfg.Default
	return agent.NetworkOptions{
		VIFPluggingTimeout: time.Duration(d.VIFPluggingTimeout) * time.Second,
		VIFPluggingIsFatal: d.VIFPluggingIsFatal,
	}
}
