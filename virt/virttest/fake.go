package virttest

import "github.com/novalet/novalet/virt/virtfake"

// Fake is virtfake's in-memory hypervisor (which the daemon links for the fake driver), named
// here too, for the tests.
type Fake = virtfake.Fake

// NewFake returns an empty fake listing virt.InstanceNamePrefix domains.
func NewFake() *Fake { return virtfake.New() }
