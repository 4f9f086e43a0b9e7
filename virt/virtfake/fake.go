package virtfake

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"libvirt.org/go/libvirtxml"

	"github.com/novalet/novalet/virt"
)

// firstVNCPort is where libvirt's autoport range starts.
const firstVNCPort = 5900

// Fake is an in-memory virt.Hypervisor that enforces the life cycle libvirtd enforces (it
// passes Run): a domain must be defined before it starts, cannot start twice, must be shut
// off before it is undefined, and so on. Every refused transition is an error of the same
// class libvirtd's would be. Every power transition is published as the lifecycle events
// libvirtd sends for it (fake_events.go). CheckClean reports domains a test left defined.
type Fake struct {
	// NamePrefix selects the domains List reports, like virt.WithNamePrefix; set it before use.
	NamePrefix string
	// ShutdownDelay is how long a fake guest takes to power off after the ACPI button (0: at
	// once, within Shutdown); set it before use. A guest paused, stopped or started again
	// meanwhile forgets the press.
	ShutdownDelay time.Duration

	mu      sync.Mutex
	domains map[string]*fakeDomain // by lower-case uuid
	inject  map[string][]error     // method name -> errors to return next, in order

	events *virt.EventFanout // see fake_events.go
	conn   *virt.ConnStates  // see fake_conn.go

	stats     map[string]virt.DomainStats // by lower-case uuid, set by SetStats (fake_stats.go)
	statsHang chan struct{}               // while not nil, DomainStats blocks (HangStats)
}

type fakeDomain struct {
	uuid, name  string
	def         *libvirtxml.Domain
	state       virt.PowerState
	managedSave bool
	savedPaused bool // the managed-save image is of a paused domain: restored, it stays paused
	vncPort     int  // 0 while shut off or without VNC
	boots       int  // starts so far, which a delayed shutdown checks
}

// New returns an empty fake listing virt.InstanceNamePrefix domains.
func New() *Fake {
	return &Fake{
		NamePrefix: virt.InstanceNamePrefix, domains: map[string]*fakeDomain{}, inject: map[string][]error{},
		events: virt.NewEventFanout(), conn: virt.NewConnStates(virt.ConnState{Up: true, Since: time.Now()}),
	}
}

// InjectError makes the next call of method (e.g. "Start") fail with err, before any state
// changes; several injections for one method are returned in order.
func (f *Fake) InjectError(method string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inject[method] = append(f.inject[method], err)
}

// Defined returns the names of the domains currently defined, sorted.
func (f *Fake) Defined() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var names []string
	for _, d := range f.domains {
		names = append(names, d.name)
	}
	sort.Strings(names)
	return names
}

// CheckClean fails t when any domain is still defined: everything defined must be undefined.
func (f *Fake) CheckClean(t TB) {
	t.Helper()
	if left := f.Defined(); len(left) > 0 {
		t.Errorf("virtfake.Fake: domains left defined: %s", strings.Join(left, ", "))
	}
}

// begin locks the fake and applies the context and injected errors common to every method.
// The caller must f.mu.Unlock() when err is nil.
func (f *Fake) begin(ctx context.Context, method string) error {
	if err := ctx.Err(); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("virtfake: %s: %w: %w", method, virt.ErrTimeout, err)
		}
		return fmt.Errorf("virtfake: %s: %w", method, err)
	}
	f.mu.Lock()
	if st := f.conn.Current(); !st.Up {
		f.mu.Unlock()
		return fmt.Errorf("virtfake: %s: %w: %s", method, virt.ErrDisconnected, st.Reason)
	}
	if errs := f.inject[method]; len(errs) > 0 {
		f.inject[method] = errs[1:]
		f.mu.Unlock()
		return errs[0]
	}
	return nil
}

// domain looks the domain up; called with f.mu held.
func (f *Fake) domain(method, id string) (*fakeDomain, error) {
	d, ok := f.domains[strings.ToLower(id)]
	if !ok {
		return nil, fmt.Errorf("virtfake: %s %s: no such domain: %w", method, id, virt.ErrNotFound)
	}
	return d, nil
}

// Define implements virt.Hypervisor.
func (f *Fake) Define(ctx context.Context, xml string) error {
	var def libvirtxml.Domain
	if err := def.Unmarshal(xml); err != nil {
		return fmt.Errorf("virtfake: Define: %v: %w", err, virt.ErrInvalid)
	}
	if def.Name == "" || def.UUID == "" {
		return fmt.Errorf("virtfake: Define: the XML lacks <name> or <uuid>: %w", virt.ErrInvalid)
	}
	if _, err := uuid.Parse(def.UUID); err != nil {
		return fmt.Errorf("virtfake: Define: uuid %q: %w", def.UUID, virt.ErrInvalid)
	}
	if err := f.begin(ctx, "Define"); err != nil {
		return err
	}
	defer f.mu.Unlock()
	id := strings.ToLower(def.UUID)
	for _, d := range f.domains {
		if d.name == def.Name && d.uuid != id {
			return fmt.Errorf("virtfake: Define: domain %q already exists with uuid %s: %w", d.name, d.uuid, virt.ErrConflict)
		}
	}
	if d, ok := f.domains[id]; ok {
		if d.name != def.Name {
			return fmt.Errorf("virtfake: Define: domain %q is already defined with uuid %s: %w", d.name, id, virt.ErrConflict)
		}
		d.def = &def // the new definition applies from the next start
		return nil
	}
	f.domains[id] = &fakeDomain{uuid: id, name: def.Name, def: &def, state: virt.PowerShutdown}
	return nil
}

// transition runs change on the domain if its state is one of from; otherwise the state
// forbids the operation.
func (f *Fake) transition(ctx context.Context, method, id string, from []virt.PowerState, change func(*fakeDomain)) error {
	if err := f.begin(ctx, method); err != nil {
		return err
	}
	defer f.mu.Unlock()
	d, err := f.domain(method, id)
	if err != nil {
		return err
	}
	for _, s := range from {
		if d.state == s {
			change(d)
			return nil
		}
	}
	return fmt.Errorf("virtfake: %s %s: domain is %s: %w", method, d.name, d.state, virt.ErrConflict)
}

var (
	shutOff = []virt.PowerState{virt.PowerShutdown}
	active  = []virt.PowerState{virt.PowerRunning, virt.PowerPaused}
)

// Start implements virt.Hypervisor.
func (f *Fake) Start(ctx context.Context, id string, paused bool) error {
	return f.transition(ctx, "Start", id, shutOff, func(d *fakeDomain) {
		d.vncPort = f.allocVNCPort(d)
		d.boots++
		switch {
		case d.managedSave && paused:
			d.state = virt.PowerPaused
			f.emit(d, virt.TransitionStarted, "started restored")
			f.emit(d, virt.TransitionPaused, "suspended paused")
		case d.managedSave && d.savedPaused:
			// libvirtd resumes only an image saved running (the header's was_running).
			d.state = virt.PowerPaused
			f.emit(d, virt.TransitionStarted, "started restored")
			f.emit(d, virt.TransitionPaused, "suspended restored")
		case d.managedSave:
			d.state = virt.PowerRunning
			f.emit(d, virt.TransitionStarted, "started restored")
			f.emit(d, virt.TransitionResumed, "resumed snapshot")
		case paused:
			d.state = virt.PowerPaused
			f.emit(d, virt.TransitionStarted, "started booted")
			f.emit(d, virt.TransitionPaused, "suspended paused")
		default:
			// QEMU's RESUME, as the vCPUs start, comes before the start is reported.
			d.state = virt.PowerRunning
			f.emit(d, virt.TransitionResumed, "resumed unpaused")
			f.emit(d, virt.TransitionStarted, "started booted")
		}
		d.managedSave, d.savedPaused = false, false // restored
	})
}

// Resume implements virt.Hypervisor.
func (f *Fake) Resume(ctx context.Context, id string) error {
	return f.transition(ctx, "Resume", id, []virt.PowerState{virt.PowerPaused}, func(d *fakeDomain) {
		d.state = virt.PowerRunning
		f.emit(d, virt.TransitionResumed, "resumed unpaused")
	})
}

// Pause implements virt.Hypervisor.
func (f *Fake) Pause(ctx context.Context, id string) error {
	return f.transition(ctx, "Pause", id, active, func(d *fakeDomain) {
		if d.state == virt.PowerRunning { // pausing a paused domain changes nothing
			d.state = virt.PowerPaused
			f.emit(d, virt.TransitionPaused, "suspended paused")
		}
	})
}

// Shutdown implements virt.Hypervisor: the fake guest powers off at once, or ShutdownDelay
// later, unless paused, when it cannot see the button until resumed.
func (f *Fake) Shutdown(ctx context.Context, id string) error {
	return f.transition(ctx, "Shutdown", id, active, func(d *fakeDomain) {
		if d.state != virt.PowerRunning {
			return
		}
		if f.ShutdownDelay <= 0 {
			f.guestPowersOff(d)
			return
		}
		boot := d.boots
		time.AfterFunc(f.ShutdownDelay, func() {
			f.mu.Lock()
			defer f.mu.Unlock()
			if f.domains[d.uuid] == d && d.boots == boot && d.state == virt.PowerRunning {
				f.guestPowersOff(d)
			}
		})
	})
}

// guestPowersOff is the guest answering the power button; called with f.mu held.
func (f *Fake) guestPowersOff(d *fakeDomain) {
	stop(d)
	f.emit(d, virt.TransitionStopped, "stopped shutdown")
}

// Destroy implements virt.Hypervisor.
func (f *Fake) Destroy(ctx context.Context, id string) error {
	return f.transition(ctx, "Destroy", id, active, func(d *fakeDomain) {
		stop(d)
		f.emit(d, virt.TransitionStopped, "stopped destroyed")
	})
}

// Reboot implements virt.Hypervisor; the fake guest is back at once, and the power state
// never changed, so there is no lifecycle event (libvirtd sends none for a reset).
func (f *Fake) Reboot(ctx context.Context, id string, hard bool) error {
	return f.transition(ctx, "Reboot", id, active, func(*fakeDomain) {})
}

// Suspend implements virt.Hypervisor.
func (f *Fake) Suspend(ctx context.Context, id string) error {
	return f.transition(ctx, "Suspend", id, active, func(d *fakeDomain) {
		d.savedPaused = d.state == virt.PowerPaused
		if d.state == virt.PowerRunning { // libvirtd stops the vCPUs before saving memory
			d.state = virt.PowerPaused
			f.emit(d, virt.TransitionPaused, "suspended paused")
		}
		stop(d)
		f.emit(d, virt.TransitionStopped, "stopped saved")
		d.managedSave = true
	})
}

// Undefine implements virt.Hypervisor.
func (f *Fake) Undefine(ctx context.Context, id string) error {
	return f.transition(ctx, "Undefine", id, shutOff, func(d *fakeDomain) { delete(f.domains, d.uuid) })
}

// State implements virt.Hypervisor.
func (f *Fake) State(ctx context.Context, id string) (virt.PowerState, error) {
	if err := f.begin(ctx, "State"); err != nil {
		return virt.PowerNoState, err
	}
	defer f.mu.Unlock()
	d, err := f.domain("State", id)
	if err != nil {
		return virt.PowerNoState, err
	}
	return d.state, nil
}

// List implements virt.Hypervisor.
func (f *Fake) List(ctx context.Context) ([]virt.DomainInfo, error) {
	if err := f.begin(ctx, "List"); err != nil {
		return nil, err
	}
	defer f.mu.Unlock()
	var out []virt.DomainInfo
	for _, d := range f.domains {
		if strings.HasPrefix(d.name, f.NamePrefix) {
			out = append(out, virt.DomainInfo{UUID: d.uuid, Name: d.name, State: d.state})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// VNCPort implements virt.Hypervisor.
func (f *Fake) VNCPort(ctx context.Context, id string) (int, error) {
	if err := f.begin(ctx, "VNCPort"); err != nil {
		return 0, err
	}
	defer f.mu.Unlock()
	d, err := f.domain("VNCPort", id)
	if err != nil {
		return 0, err
	}
	if d.state == virt.PowerShutdown {
		return 0, fmt.Errorf("virtfake: VNCPort %s: domain is not running: %w", d.name, virt.ErrConflict)
	}
	if d.vncPort == 0 {
		return 0, fmt.Errorf("virtfake: VNCPort %s: no VNC display: %w", d.name, virt.ErrNotFound)
	}
	return d.vncPort, nil
}

// DomainXML implements virt.Hypervisor.
func (f *Fake) DomainXML(ctx context.Context, id string) (string, error) {
	if err := f.begin(ctx, "DomainXML"); err != nil {
		return "", err
	}
	defer f.mu.Unlock()
	d, err := f.domain("DomainXML", id)
	if err != nil {
		return "", err
	}
	x, err := d.def.Marshal()
	if err != nil {
		return "", fmt.Errorf("virtfake: DomainXML %s: %w", d.name, err)
	}
	return x, nil
}

// Metadata implements virt.Hypervisor.
func (f *Fake) Metadata(ctx context.Context, id string) (virt.InstanceMetadata, error) {
	if err := f.begin(ctx, "Metadata"); err != nil {
		return virt.InstanceMetadata{}, err
	}
	defer f.mu.Unlock()
	d, err := f.domain("Metadata", id)
	if err != nil {
		return virt.InstanceMetadata{}, err
	}
	if d.def.Metadata == nil {
		return virt.InstanceMetadata{}, fmt.Errorf("virtfake: Metadata %s: no metadata: %w", d.name, virt.ErrNotFound)
	}
	return virt.ParseInstanceMetadata(d.def.Metadata.XML)
}

// allocVNCPort gives a starting domain with an autoport VNC display the lowest free port, as
// libvirt does; called with f.mu held.
func (f *Fake) allocVNCPort(d *fakeDomain) int {
	if d.def.Devices == nil {
		return 0
	}
	for _, g := range d.def.Devices.Graphics {
		if g.VNC == nil {
			continue
		}
		if g.VNC.AutoPort != "yes" && g.VNC.Port > 0 {
			return g.VNC.Port
		}
		used := map[int]bool{}
		for _, o := range f.domains {
			used[o.vncPort] = true
		}
		p := firstVNCPort
		for used[p] {
			p++
		}
		return p
	}
	return 0
}

func stop(d *fakeDomain) {
	d.state = virt.PowerShutdown
	d.vncPort = 0
}

var _ virt.Hypervisor = (*Fake)(nil)
