// Package virtfake is the in-memory virt.Hypervisor: the unit tests' libvirt and the
// hypervisor of `compute_driver = fake.FakeDriver` (nova's fake driver option, for scale
// runs). It passes the same conformance suite as the libvirt adapter (virt/virttest), and
// does not import package testing, so the daemon can link it.
package virtfake

// TB is the part of testing.TB that CheckClean uses.
type TB interface {
	Helper()
	Errorf(format string, args ...any)
}
