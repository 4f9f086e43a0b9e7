// Package netplugfake is the in-memory netplug.Plugger: the unit tests' kernel of bridges and
// taps and the tap plugger of `compute_driver = fake.FakeDriver`. It passes the same
// conformance suite as the netlink adapter (netplug/netplugtest), and does not import package
// testing, so the daemon can link it.
package netplugfake

// TB is the part of testing.TB that CheckClean uses.
type TB interface {
	Helper()
	Errorf(format string, args ...any)
}
