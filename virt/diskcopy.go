package virt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"
)

// The live disk copy behind a snapshot of a running guest (nova's _live_snapshot). nova
// undefines a persistent domain for the copy and redefines it afterwards, because libvirt
// before 6.0 refused block copies of persistent domains; a crash in between lost the
// definition. Debian's libvirt 9.0 accepts them with VIR_DOMAIN_BLOCK_COPY_TRANSIENT_JOB, so
// the domain stays defined throughout. The job is the same: a shallow mirror of the disk's top
// image into a new qcow2 over the same backing file, waited on until it is ready (in step
// with the guest's writes), then aborted without a pivot, which leaves the copy frozen at that
// instant while the guest keeps its disk.

// copyReadyPoll is how often the copy's readiness is read.
const copyReadyPoll = 50 * time.Millisecond

// CopyDisk implements Hypervisor.
func (c *Conn) CopyDisk(ctx context.Context, uuid, target, dst string) error {
	if _, err := os.Lstat(dst); err == nil {
		return &opError{op: "copy disk " + target + " of domain " + uuid, class: ErrConflict, err: fmt.Errorf("%s exists", dst)}
	}
	op := "copy disk " + target + " of"
	disk := libvirtxml.DomainDisk{
		Source: &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: dst}},
		Driver: &libvirtxml.DomainDiskDriver{Type: "qcow2"},
	}
	destXML, err := disk.Marshal()
	if err != nil {
		return &opError{op: op + " domain " + uuid, class: ErrInvalid, err: err}
	}
	err = c.onDomain(ctx, op, uuid, func(d *libvirt.Domain) error {
		active, err := d.IsActive()
		if err != nil {
			return err
		}
		if !active {
			return fmt.Errorf("domain is shut off, its disk can be read directly: %w", ErrConflict)
		}
		return d.BlockCopy(target, destXML, &libvirt.DomainBlockCopyParameters{}, libvirt.DOMAIN_BLOCK_COPY_SHALLOW|libvirt.DOMAIN_BLOCK_COPY_TRANSIENT_JOB)
	})
	if err != nil {
		return err
	}
	// From here on the job exists: end it whatever happens, and drop a copy that is not whole.
	if err := c.waitCopyReady(ctx, uuid, target); err != nil {
		c.abortCopy(uuid, target)
		_ = os.Remove(dst)
		return err
	}
	if err := c.onDomain(ctx, "end the copy of disk "+target+" of", uuid, func(d *libvirt.Domain) error {
		return d.BlockJobAbort(target, 0)
	}); err != nil {
		c.abortCopy(uuid, target)
		_ = os.Remove(dst)
		return err
	}
	return nil
}

// waitCopyReady waits for the mirror of target to report ready in the live XML.
func (c *Conn) waitCopyReady(ctx context.Context, uuid, target string) error {
	t := time.NewTicker(copyReadyPoll)
	defer t.Stop()
	for {
		ready, err := domainCall(ctx, c, "read the copy of disk "+target+" of", uuid, func(d *libvirt.Domain) (bool, error) {
			raw, err := d.GetXMLDesc(0)
			if err != nil {
				return false, err
			}
			var dom libvirtxml.Domain
			if err := dom.Unmarshal(raw); err != nil {
				return false, err
			}
			return mirrorReady(&dom, target)
		})
		if err != nil || ready {
			return err
		}
		select {
		case <-ctx.Done():
			return wrapErr("wait for the copy of disk "+target+" of domain "+uuid, ctx.Err())
		case <-t.C:
		}
	}
}

// mirrorReady reports whether target's block copy is ready; a disk without a mirror means
// the job ended (failed) before it was.
func mirrorReady(dom *libvirtxml.Domain, target string) (bool, error) {
	if dom.Devices == nil {
		return false, fmt.Errorf("no devices: %w", ErrNotFound)
	}
	for _, d := range dom.Devices.Disks {
		if d.Target == nil || d.Target.Dev != target {
			continue
		}
		if d.Mirror == nil {
			return false, errors.New("the block copy ended before it was ready")
		}
		return d.Mirror.Ready == "yes", nil
	}
	return false, fmt.Errorf("no disk %s: %w", target, ErrNotFound)
}

// abortCopy ends a copy job left behind by a failure, on its own short deadline since the
// caller's may be what expired.
func (c *Conn) abortCopy(uuid, target string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = c.onDomain(ctx, "abort the copy of disk "+target+" of", uuid, func(d *libvirt.Domain) error {
		return d.BlockJobAbort(target, 0)
	})
}

// AbortDiskCopy implements Hypervisor.
func (c *Conn) AbortDiskCopy(ctx context.Context, uuid, target string) error {
	return c.onDomain(ctx, "abort a leftover copy of disk "+target+" of", uuid, func(d *libvirt.Domain) error {
		active, err := d.IsActive()
		if err != nil || !active {
			return err
		}
		info, err := d.GetBlockJobInfo(target, 0)
		if err != nil {
			return err
		}
		if info.Type == 0 { // no job
			return nil
		}
		return d.BlockJobAbort(target, 0)
	})
}
