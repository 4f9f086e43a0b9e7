//go:build component

package virt

import "libvirt.org/go/libvirt"

// current is the live connection, nil while disconnected, for the tests that use libvirt
// directly.
func (c *Conn) current() *libvirt.Connect {
	c.link.mu.Lock()
	defer c.link.mu.Unlock()
	return c.link.lv
}
