package virt

import (
	"context"
	"sort"
	"strings"
	"time"

	"libvirt.org/go/libvirt"
)

// DomainStats is one domain's counters as libvirt's bulk statistics report them, converted to
// base units. A counter libvirt did not report is 0 (Disks and NICs then lack the device).
type DomainStats struct {
	UUID  string
	Name  string
	State PowerState
	// VCPUs counts the vCPUs online; 0 while the domain is shut off.
	VCPUs int
	// VCPUWait is the time the vCPUs spent waiting on I/O and VCPUDelay the time they were
	// runnable but waiting for a host CPU (steal as the guest sees it), summed over vCPUs;
	// 0 when libvirt does not report them.
	VCPUWait, VCPUDelay time.Duration
	// CPUTime is the CPU time the domain's QEMU process used since it started.
	CPUTime time.Duration
	// MemoryMax is the configured memory in bytes.
	MemoryMax uint64
	// MemoryRSS is the QEMU process's resident set in bytes.
	MemoryRSS uint64
	// MemoryAvailable is the memory the guest sees, in bytes, as its balloon driver reports it
	// (0 when the guest runs none or has not reported yet).
	MemoryAvailable uint64
	// Incomplete marks an active domain whose QEMU-side counters (memory resident/available,
	// disk I/O) are missing because another job held the domain and the stats were gathered
	// without waiting for it.
	Incomplete bool
	Disks      []DiskStats
	NICs       []NICStats
}

// DiskStats is one top-level disk's I/O counters; Device is the target ("vda").
type DiskStats struct {
	Device                string
	ReadBytes, WriteBytes uint64
	ReadReqs, WriteReqs   uint64
}

// NICStats is one interface's counters as the host sees its tap; Device is the tap's name.
type NICStats struct {
	Device                                string
	RxBytes, RxPackets, RxErrors, RxDrops uint64
	TxBytes, TxPackets, TxErrors, TxDrops uint64
}

// domainStatsTypes are the groups DomainStats asks libvirt for.
const domainStatsTypes = libvirt.DOMAIN_STATS_STATE | libvirt.DOMAIN_STATS_CPU_TOTAL |
	libvirt.DOMAIN_STATS_BALLOON | libvirt.DOMAIN_STATS_VCPU | libvirt.DOMAIN_STATS_INTERFACE |
	libvirt.DOMAIN_STATS_BLOCK

// DomainStats reports the statistics of every domain whose name marks it as an instance (the
// connection's name prefix), sorted by name, in one bulk call (virConnectGetAllDomainStats).
// It asks libvirt not to wait for domain jobs: a domain busy with a migration, a save or a
// stuck monitor comes back Incomplete instead of holding up every other domain.
func (c *Conn) DomainStats(ctx context.Context) ([]DomainStats, error) {
	return connCall(ctx, c, "get domain stats", func(lv *libvirt.Connect) ([]DomainStats, error) {
		recs, err := lv.GetAllDomainStats(nil, domainStatsTypes, libvirt.CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT)
		if err != nil {
			return nil, err
		}
		defer func() {
			for i := range recs {
				recs[i].Domain.Free()
			}
		}()
		out := make([]DomainStats, 0, len(recs))
		for i := range recs {
			// Name and uuid are held by the client-side handle: no round trip, no failure
			// but a vanished handle, which is then left out.
			name, err := recs[i].Domain.GetName()
			if err != nil || !strings.HasPrefix(name, c.namePrefix) {
				continue
			}
			id, err := recs[i].Domain.GetUUIDString()
			if err != nil {
				continue
			}
			out = append(out, convertDomainStats(id, name, &recs[i]))
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
		return out, nil
	}, nil)
}

// convertDomainStats turns one libvirt stats record into DomainStats; libvirt reports memory
// in KiB and CPU time in nanoseconds.
func convertDomainStats(id, name string, r *libvirt.DomainStats) DomainStats {
	s := DomainStats{UUID: id, Name: name, State: PowerNoState}
	if r.State != nil && r.State.StateSet {
		s.State = powerState(r.State.State)
	}
	active := s.State == PowerRunning || s.State == PowerPaused || s.State == PowerSuspended
	// libvirt 9 reports a CPU time for a shut-off domain too, read from a process that is not
	// the domain's; only an active domain's is its own.
	if active && r.Cpu != nil && r.Cpu.TimeSet {
		s.CPUTime = time.Duration(r.Cpu.Time)
	}
	for _, v := range r.Vcpu {
		if v.StateSet && v.State != libvirt.VCPU_OFFLINE {
			s.VCPUs++
		}
		if active && v.WaitSet {
			s.VCPUWait += time.Duration(v.Wait)
		}
		if active && v.DelaySet {
			s.VCPUDelay += time.Duration(v.Delay)
		}
	}
	rss := false
	if b := r.Balloon; b != nil {
		if b.MaximumSet {
			s.MemoryMax = b.Maximum * 1024
		}
		if b.RssSet {
			s.MemoryRSS = b.Rss * 1024
			rss = true
		}
		if b.AvailableSet {
			s.MemoryAvailable = b.Available * 1024
		}
	}
	// libvirt reads the QEMU process's resident set only when it got the domain's job, like
	// the disk counters; without the job (the NOWAIT flag) it still reports state, CPU time
	// and the tap counters, which come from the host.
	s.Incomplete = active && !rss
	for _, b := range r.Block {
		if !b.NameSet || b.Name == "" || !(b.RdBytesSet || b.WrBytesSet || b.RdReqsSet || b.WrReqsSet) {
			continue // an inactive domain's disks carry only sizes
		}
		s.Disks = append(s.Disks, DiskStats{
			Device: b.Name, ReadBytes: b.RdBytes, WriteBytes: b.WrBytes, ReadReqs: b.RdReqs, WriteReqs: b.WrReqs,
		})
	}
	for _, n := range r.Net {
		if !n.NameSet || n.Name == "" {
			continue
		}
		s.NICs = append(s.NICs, NICStats{
			Device:  n.Name,
			RxBytes: n.RxBytes, RxPackets: n.RxPkts, RxErrors: n.RxErrs, RxDrops: n.RxDrop,
			TxBytes: n.TxBytes, TxPackets: n.TxPkts, TxErrors: n.TxErrs, TxDrops: n.TxDrop,
		})
	}
	return s
}
