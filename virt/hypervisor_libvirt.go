package virt

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"
)

var _ Hypervisor = (*Conn)(nil)

// Define implements Hypervisor. libvirtd validates the XML against its schema too, so a
// malformed domain fails here rather than at start.
func (c *Conn) Define(ctx context.Context, xml string) error {
	var d libvirtxml.Domain
	if err := d.Unmarshal(xml); err != nil {
		return &opError{op: "define domain", class: ErrInvalid, err: err}
	}
	if d.Name == "" || d.UUID == "" {
		return &opError{op: "define domain", class: ErrInvalid, err: errors.New("the XML lacks <name> or <uuid>")}
	}
	_, err := connCall(ctx, c, "define domain "+d.Name+" "+d.UUID, func(lv *libvirt.Connect) (struct{}, error) {
		dom, err := lv.DomainDefineXMLFlags(xml, libvirt.DOMAIN_DEFINE_VALIDATE)
		if err != nil {
			return struct{}{}, err
		}
		return struct{}{}, dom.Free()
	}, nil)
	return err
}

// Start implements Hypervisor.
func (c *Conn) Start(ctx context.Context, uuid string, paused bool) error {
	flags := libvirt.DOMAIN_NONE
	if paused {
		flags = libvirt.DOMAIN_START_PAUSED
	}
	return c.onDomain(ctx, "start", uuid, func(d *libvirt.Domain) error { return d.CreateWithFlags(flags) })
}

// Resume implements Hypervisor.
func (c *Conn) Resume(ctx context.Context, uuid string) error {
	return c.onDomain(ctx, "resume", uuid, func(d *libvirt.Domain) error { return d.Resume() })
}

// Pause implements Hypervisor.
func (c *Conn) Pause(ctx context.Context, uuid string) error {
	return c.onDomain(ctx, "pause", uuid, func(d *libvirt.Domain) error { return d.Suspend() })
}

// Shutdown implements Hypervisor. The ACPI button, not the guest agent: nova images rarely
// run one, and libvirt's default would wait for it first.
func (c *Conn) Shutdown(ctx context.Context, uuid string) error {
	return c.onDomain(ctx, "shut down", uuid, func(d *libvirt.Domain) error {
		return d.ShutdownFlags(libvirt.DOMAIN_SHUTDOWN_ACPI_POWER_BTN)
	})
}

// Destroy implements Hypervisor.
func (c *Conn) Destroy(ctx context.Context, uuid string) error {
	return c.onDomain(ctx, "destroy", uuid, func(d *libvirt.Domain) error { return d.Destroy() })
}

// Reboot implements Hypervisor.
func (c *Conn) Reboot(ctx context.Context, uuid string, hard bool) error {
	if hard {
		return c.onDomain(ctx, "reset", uuid, func(d *libvirt.Domain) error { return d.Reset(0) })
	}
	return c.onDomain(ctx, "reboot", uuid, func(d *libvirt.Domain) error {
		return d.Reboot(libvirt.DOMAIN_REBOOT_ACPI_POWER_BTN)
	})
}

// Suspend implements Hypervisor.
func (c *Conn) Suspend(ctx context.Context, uuid string) error {
	return c.onDomain(ctx, "managed-save", uuid, func(d *libvirt.Domain) error { return d.ManagedSave(0) })
}

// Undefine implements Hypervisor with nova's flags (delete_configuration).
func (c *Conn) Undefine(ctx context.Context, uuid string) error {
	return c.onDomain(ctx, "undefine", uuid, func(d *libvirt.Domain) error {
		active, err := d.IsActive()
		if err != nil {
			return err
		}
		if active {
			return fmt.Errorf("domain is active: %w", ErrConflict)
		}
		return d.UndefineFlags(libvirt.DOMAIN_UNDEFINE_MANAGED_SAVE | libvirt.DOMAIN_UNDEFINE_NVRAM)
	})
}

// State implements Hypervisor.
func (c *Conn) State(ctx context.Context, uuid string) (PowerState, error) {
	return domainCall(ctx, c, "get state of", uuid, func(d *libvirt.Domain) (PowerState, error) {
		s, _, err := d.GetState()
		return powerState(s), err
	})
}

// List implements Hypervisor, sorted by name.
func (c *Conn) List(ctx context.Context) ([]DomainInfo, error) {
	return connCall(ctx, c, "list domains", func(lv *libvirt.Connect) ([]DomainInfo, error) {
		doms, err := lv.ListAllDomains(0)
		if err != nil {
			return nil, err
		}
		defer func() {
			for i := range doms {
				doms[i].Free()
			}
		}()
		var out []DomainInfo
		for i := range doms {
			name, err := doms[i].GetName()
			if err != nil {
				if isNoDomain(err) { // undefined since the listing
					continue
				}
				return nil, err
			}
			if !strings.HasPrefix(name, c.namePrefix) {
				continue
			}
			id, err := doms[i].GetUUIDString()
			if err != nil {
				return nil, err
			}
			s, _, err := doms[i].GetState()
			if isNoDomain(err) {
				continue
			}
			if err != nil {
				return nil, err
			}
			out = append(out, DomainInfo{UUID: id, Name: name, State: powerState(s)})
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
		return out, nil
	}, nil)
}

// VNCPort implements Hypervisor: libvirt picks the port at start (autoport), so only the live
// XML knows it.
func (c *Conn) VNCPort(ctx context.Context, uuid string) (int, error) {
	return domainCall(ctx, c, "get VNC port of", uuid, func(d *libvirt.Domain) (int, error) {
		active, err := d.IsActive()
		if err != nil {
			return 0, err
		}
		if !active {
			return 0, fmt.Errorf("domain is not running: %w", ErrConflict)
		}
		raw, err := d.GetXMLDesc(0)
		if err != nil {
			return 0, err
		}
		var dx libvirtxml.Domain
		if err := dx.Unmarshal(raw); err != nil {
			return 0, fmt.Errorf("parse live XML: %w", err)
		}
		return vncPort(&dx)
	})
}

// vncPort is the port of the domain's first VNC display.
func vncPort(d *libvirtxml.Domain) (int, error) {
	if d.Devices != nil {
		for _, g := range d.Devices.Graphics {
			if g.VNC != nil && g.VNC.Port > 0 {
				return g.VNC.Port, nil
			}
		}
	}
	return 0, fmt.Errorf("no VNC display: %w", ErrNotFound)
}

// DomainXML implements Hypervisor. The inactive XML is the persistent definition, whatever the
// domain's state; nova reads the XML of a domain it has just powered off, which is the same.
func (c *Conn) DomainXML(ctx context.Context, uuid string) (string, error) {
	return domainCall(ctx, c, "get XML of", uuid, func(d *libvirt.Domain) (string, error) {
		return d.GetXMLDesc(libvirt.DOMAIN_XML_INACTIVE)
	})
}

// Metadata implements Hypervisor.
func (c *Conn) Metadata(ctx context.Context, uuid string) (InstanceMetadata, error) {
	return domainCall(ctx, c, "get nova metadata of", uuid, func(d *libvirt.Domain) (InstanceMetadata, error) {
		raw, err := d.GetMetadata(libvirt.DOMAIN_METADATA_ELEMENT, NovaMetadataNS, libvirt.DOMAIN_AFFECT_CURRENT)
		if err != nil {
			return InstanceMetadata{}, err
		}
		return parseInstanceMetadata(raw, true) // libvirt strips the namespace
	})
}

// onDomain runs f on the domain with uuid; see domainCall.
func (c *Conn) onDomain(ctx context.Context, op, uuid string, f func(*libvirt.Domain) error) error {
	_, err := domainCall(ctx, c, op, uuid, func(d *libvirt.Domain) (struct{}, error) {
		return struct{}{}, f(d)
	})
	return err
}

// domainCall looks the domain up and runs f on it in one bounded call, freeing the handle
// afterwards even when the caller stopped waiting.
func domainCall[T any](ctx context.Context, c *Conn, op, uuid string, f func(*libvirt.Domain) (T, error)) (T, error) {
	return connCall(ctx, c, op+" domain "+uuid, func(lv *libvirt.Connect) (T, error) {
		d, err := lv.LookupDomainByUUIDString(uuid)
		if err != nil {
			var zero T
			return zero, err
		}
		defer d.Free()
		return f(d)
	}, nil)
}

// powerState maps libvirt's domain state to nova's power state (nova's LIBVIRT_POWER_STATE).
func powerState(s libvirt.DomainState) PowerState {
	switch s {
	case libvirt.DOMAIN_RUNNING, libvirt.DOMAIN_BLOCKED:
		return PowerRunning
	case libvirt.DOMAIN_PAUSED:
		return PowerPaused
	case libvirt.DOMAIN_SHUTDOWN, libvirt.DOMAIN_SHUTOFF:
		return PowerShutdown
	case libvirt.DOMAIN_CRASHED:
		return PowerCrashed
	case libvirt.DOMAIN_PMSUSPENDED:
		return PowerSuspended
	}
	return PowerNoState
}

func isNoDomain(err error) bool {
	var le libvirt.Error
	return errors.As(err, &le) && le.Code == libvirt.ERR_NO_DOMAIN
}
