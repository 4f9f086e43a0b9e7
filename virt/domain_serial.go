package virt

import (
	"path/filepath"

	"libvirt.org/go/libvirtxml"
)

// ConsoleLogFile is the serial console log in the instance directory, what
// get_console_output reads.
const ConsoleLogFile = "console.log"

// configureSerial adds a pty serial port whose output virtlogd also writes to console.log
// (append off: a fresh log per boot, as nova), and the console that points at it.
func configureSerial(s *DomainSpec, d *libvirtxml.Domain) error {
	port := uint(0)
	d.Devices.Serials = append(d.Devices.Serials, libvirtxml.DomainSerial{
		Source: &libvirtxml.DomainChardevSource{Pty: &libvirtxml.DomainChardevSourcePty{}},
		Target: &libvirtxml.DomainSerialTarget{Port: &port},
		Log:    &libvirtxml.DomainChardevLog{File: filepath.Join(s.InstanceDir, ConsoleLogFile), Append: "off"},
	})
	d.Devices.Consoles = append(d.Devices.Consoles, libvirtxml.DomainConsole{
		Source: &libvirtxml.DomainChardevSource{Pty: &libvirtxml.DomainChardevSourcePty{}},
		Target: &libvirtxml.DomainConsoleTarget{Type: "serial", Port: &port},
	})
	return nil
}
