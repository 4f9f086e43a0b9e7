package agent

import "github.com/novalet/novalet/internal/conductortest"

// fakeConductor is the agent tests' nova-conductor: internal/conductortest's, which keeps the
// Service, ComputeNode and Instance records with the rules nova's conductor applies.
type fakeConductor = conductortest.Fake

var _ Conductor = (*fakeConductor)(nil)

func newFakeConductor() *fakeConductor { return conductortest.New() }
