package config

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
)

// nova_options.json is every option nova 26.2.2 registers (nova.conf and the libraries its
// config generator lists), dumped from Debian's python3-nova by gen_options.py. Types, defaults,
// limits, choices and deprecated names come from there, so they are nova's own.
//
//go:embed nova_options.json
var novaOptionsJSON []byte

// optionDef describes one option the way oslo.config registers it.
type optionDef struct {
	Type       string      `json:"type"` // oslo type class: String, Integer, Float, Boolean, List, Dict, Port, URI, HostAddress, HostDomain, MultiString
	Default    any         `json:"default"`
	Dynamic    string      `json:"dynamic,omitempty"` // default computed on the host (e.g. "<current_hostname>")
	Min        *float64    `json:"min,omitempty"`
	Max        *float64    `json:"max,omitempty"`
	Choices    []any       `json:"choices,omitempty"`
	Item       *optionDef  `json:"item,omitempty"` // element type of a List
	Multi      bool        `json:"multi,omitempty"`
	Secret     bool        `json:"secret,omitempty"`
	Deprecated [][2]string `json:"deprecated,omitempty"` // [group, name] pairs still accepted
	Removal    bool        `json:"deprecated_for_removal,omitempty"`
}

// catalogue is the set of groups and options novalet knows: nova's plus its own.
type catalogue struct {
	Nova   string                           `json:"nova"`
	Groups map[string]map[string]*optionDef `json:"groups"`
	// deprecatedNames maps a deprecated (group, name) to the option that replaced it.
	deprecatedNames map[[2]string][2]string
}

// loadCatalogue parses the embedded table once per process.
var loadCatalogue = sync.OnceValues(parseCatalogue)

func parseCatalogue() (*catalogue, error) {
	var c catalogue
	if err := json.Unmarshal(novaOptionsJSON, &c); err != nil {
		return nil, fmt.Errorf("config: embedded option table: %w", err)
	}
	for g, opts := range novaletOptions {
		if c.Groups[g] == nil {
			c.Groups[g] = map[string]*optionDef{}
		}
		for name, def := range opts {
			c.Groups[g][name] = def
		}
	}
	c.deprecatedNames = map[[2]string][2]string{}
	for g, opts := range c.Groups {
		for name, def := range opts {
			for _, d := range def.Deprecated {
				c.deprecatedNames[[2]string{normalizeGroup(d[0]), d[1]}] = [2]string{g, name}
			}
		}
	}
	return &c, nil
}

func (c *catalogue) lookup(group, name string) *optionDef {
	return c.Groups[group][name]
}

// names returns the option names of a group, sorted.
func (c *catalogue) names(group string) []string {
	out := make([]string, 0, len(c.Groups[group]))
	for n := range c.Groups[group] {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func f64(v float64) *float64 { return &v }

// novaletOptions are novalet's own, in the [novalet] group nova does not have.
var novaletOptions = map[string]map[string]*optionDef{
	"novalet": {
		// Where /metrics is served. Port 9797 is not used by any OpenStack service.
		"metrics_listen": {Type: "String", Default: "127.0.0.1:9797"},
		// Upper bound on one libvirt API call; libvirt's own calls have no deadline.
		"libvirt_call_timeout": {Type: "Integer", Default: float64(30), Min: f64(1)},
		// Free space (MiB) under instances_path below which `novalet check` fails.
		"min_free_disk_mb": {Type: "Integer", Default: float64(1024), Min: f64(0)},
	},
}
