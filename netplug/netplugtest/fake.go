// Package netplugtest holds the conformance suite every netplug.Plugger passes; its in-memory
// Plugger lives in netplugfake (which the daemon links for the fake driver) and is named here
// too, for the tests.
package netplugtest

import "github.com/novalet/novalet/netplug/netplugfake"

// Fake is netplugfake's in-memory kernel of bridges and taps.
type Fake = netplugfake.Fake

// NewFake returns an empty fake.
func NewFake() *Fake { return netplugfake.New() }
