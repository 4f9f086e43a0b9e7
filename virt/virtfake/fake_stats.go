package virtfake

import (
	"context"
	"sort"
	"strings"
	"sync"

	"libvirt.org/go/libvirtxml"

	"github.com/novalet/novalet/virt"
)

// SetStats sets the counters DomainStats reports for the domain with uuid id while it is
// active (CPUTime, VCPUWait, VCPUDelay, MemoryRSS, MemoryAvailable, Incomplete, Disks, NICs; VCPUs and MemoryMax
// when not zero). UUID, Name and State always come from the fake's own domain.
func (f *Fake) SetStats(id string, s virt.DomainStats) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stats == nil {
		f.stats = map[string]virt.DomainStats{}
	}
	f.stats[strings.ToLower(id)] = s
}

// HangStats makes DomainStats block, as a libvirtd stuck on a guest would, until release is
// called or the caller's context ends (then it fails with virt.ErrTimeout, as *virt.Conn's
// does). release may be called more than once.
func (f *Fake) HangStats() (release func()) {
	ch := make(chan struct{})
	f.mu.Lock()
	f.statsHang = ch
	f.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			f.mu.Lock()
			if f.statsHang == ch {
				f.statsHang = nil
			}
			f.mu.Unlock()
			close(ch)
		})
	}
}

// DomainStats reports the listed domains (NamePrefix) as *virt.Conn's DomainStats does: a
// shut-off domain has only its identity and configured memory, an active one its configured
// vCPUs and memory and the counters SetStats gave it. "DomainStats" takes InjectError.
func (f *Fake) DomainStats(ctx context.Context) ([]virt.DomainStats, error) {
	f.mu.Lock()
	hang := f.statsHang
	f.mu.Unlock()
	if hang != nil {
		select {
		case <-hang:
		case <-ctx.Done(): // begin reports it
		}
	}
	if err := f.begin(ctx, "DomainStats"); err != nil {
		return nil, err
	}
	defer f.mu.Unlock()
	var out []virt.DomainStats
	for _, d := range f.domains {
		if !strings.HasPrefix(d.name, f.NamePrefix) {
			continue
		}
		s := virt.DomainStats{UUID: d.uuid, Name: d.name, State: d.state, MemoryMax: memoryBytes(d.def.Memory)}
		if d.state != virt.PowerShutdown {
			set := f.stats[d.uuid]
			if d.def.VCPU != nil {
				s.VCPUs = int(d.def.VCPU.Value)
			}
			if set.VCPUs != 0 {
				s.VCPUs = set.VCPUs
			}
			if set.MemoryMax != 0 {
				s.MemoryMax = set.MemoryMax
			}
			s.CPUTime, s.MemoryRSS, s.MemoryAvailable, s.Incomplete = set.CPUTime, set.MemoryRSS, set.MemoryAvailable, set.Incomplete
			s.VCPUWait, s.VCPUDelay = set.VCPUWait, set.VCPUDelay
			s.Disks = append([]virt.DiskStats(nil), set.Disks...)
			s.NICs = append([]virt.NICStats(nil), set.NICs...)
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// memoryBytes converts a domain's <memory> to bytes; libvirt's default unit is KiB.
func memoryBytes(m *libvirtxml.DomainMemory) uint64 {
	if m == nil {
		return 0
	}
	mult := map[string]uint64{
		"b": 1, "bytes": 1,
		"KB": 1000, "k": 1024, "KiB": 1024, "": 1024,
		"MB": 1000 * 1000, "M": 1 << 20, "MiB": 1 << 20,
		"GB": 1000 * 1000 * 1000, "G": 1 << 30, "GiB": 1 << 30,
		"TB": 1000 * 1000 * 1000 * 1000, "T": 1 << 40, "TiB": 1 << 40,
	}[m.Unit]
	return uint64(m.Value) * mult
}
