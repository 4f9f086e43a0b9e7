package imagecache

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/novalet/novalet/openstack/glance"
)

// Fake is the cache for other packages' tests: the real logic on a real directory (paths,
// Glance calls, checksums, one download per image, disk.info, pruning), with qemu-img and
// genisoimage replaced by Go (see fakeTools). It passes the same conformance suite as Local,
// and lets a test inject failures and see what was asked.
type Fake struct {
	local *Local

	mu       sync.Mutex
	failures map[string][]error
	calls    []FakeCall
}

// FakeCall records one call to the Fake.
type FakeCall struct {
	Op      string // "Ensure", "CreateOverlay", "BuildConfigDrive", "Prune", "Usage", "CleanLeftovers", "SnapshotDir", "Extract", "CopyAs", "RebaseDisk"
	ImageID string // Ensure
	Raw     bool   // Ensure of a kernel or ramdisk
	Path    string // CreateOverlay's base, BuildConfigDrive's instance directory
	Size    int64  // CreateOverlay's root size
	Name    string // the file CreateOverlay or BuildConfigDrive writes: "disk", "disk.config", "disk.rescue", ...
}

var _ Cache = (*Fake)(nil)

// NewFake returns a Fake over instancesPath with nova's defaults, and Glance retries that do
// not slow tests down.
func NewFake(instancesPath string) (*Fake, error) {
	o := DefaultOptions()
	o.InstancesPath = instancesPath
	gopts := glance.DefaultClientOptions()
	gopts.RetryDelay = 10 * time.Millisecond
	g, err := glance.NewClient(gopts)
	if err != nil {
		return nil, fmt.Errorf("imagecache: fake: %w", err)
	}
	o.Fetcher = g
	return NewFakeWithOptions(o)
}

// NewFakeWithOptions returns a Fake with the given options.
func NewFakeWithOptions(o Options) (*Fake, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	return &Fake{local: newLocal(o, fakeTools{}), failures: map[string][]error{}}, nil
}

// BaseDir is <instances_path>/<subdirectory_name>.
func (f *Fake) BaseDir() string { return f.local.BaseDir() }

// FailNext makes the next call of op return err instead of doing anything.
func (f *Fake) FailNext(op string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failures[op] = append(f.failures[op], err)
}

// Calls returns the calls made so far, in order.
func (f *Fake) Calls() []FakeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]FakeCall(nil), f.calls...)
}

// record notes a call and pops the failure queued for it, if any.
func (f *Fake) record(c FakeCall) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, c)
	if q := f.failures[c.Op]; len(q) > 0 {
		f.failures[c.Op] = q[1:]
		return q[0]
	}
	return nil
}

// Ensure implements Cache.
func (f *Fake) Ensure(ctx context.Context, req Request) (string, error) {
	if err := f.record(FakeCall{Op: "Ensure", ImageID: req.ImageID, Raw: req.Raw}); err != nil {
		return "", err
	}
	return f.local.Ensure(ctx, req)
}

// CreateOverlay implements Cache.
func (f *Fake) CreateOverlay(ctx context.Context, base, instanceDir string, rootSize int64) (string, error) {
	return f.CreateOverlayAs(ctx, base, instanceDir, "disk", rootSize)
}

// CreateOverlayAs implements Cache; it is recorded as a "CreateOverlay" call.
func (f *Fake) CreateOverlayAs(ctx context.Context, base, instanceDir, name string, rootSize int64) (string, error) {
	if err := f.record(FakeCall{Op: "CreateOverlay", Path: base, Size: rootSize, Name: name}); err != nil {
		return "", err
	}
	return f.local.CreateOverlayAs(ctx, base, instanceDir, name, rootSize)
}

// CopyAs implements Cache; it is recorded as a "CopyAs" call.
func (f *Fake) CopyAs(ctx context.Context, base, instanceDir, name string) (string, error) {
	if err := f.record(FakeCall{Op: "CopyAs", Path: base, Name: name}); err != nil {
		return "", err
	}
	return f.local.CopyAs(ctx, base, instanceDir, name)
}

// RebaseDisk implements Cache; it is recorded as a "RebaseDisk" call with the new base as
// Path ("" to flatten).
func (f *Fake) RebaseDisk(ctx context.Context, instanceDir, base string) error {
	if err := f.record(FakeCall{Op: "RebaseDisk", Path: base, Name: "disk"}); err != nil {
		return err
	}
	return f.local.RebaseDisk(ctx, instanceDir, base)
}

// GrowDisk implements Cache; it is recorded as a "GrowDisk" call.
func (f *Fake) GrowDisk(ctx context.Context, instanceDir string, size int64) error {
	if err := f.record(FakeCall{Op: "GrowDisk", Path: instanceDir, Size: size}); err != nil {
		return err
	}
	return f.local.GrowDisk(ctx, instanceDir, size)
}

// BuildConfigDrive implements Cache; read the result with ReadFakeConfigDrive.
func (f *Fake) BuildConfigDrive(ctx context.Context, instanceDir string, files map[string][]byte) (string, error) {
	return f.BuildConfigDriveAs(ctx, instanceDir, "disk.config", files)
}

// BuildConfigDriveAs implements Cache; it is recorded as a "BuildConfigDrive" call.
func (f *Fake) BuildConfigDriveAs(ctx context.Context, instanceDir, name string, files map[string][]byte) (string, error) {
	if err := f.record(FakeCall{Op: "BuildConfigDrive", Path: instanceDir, Name: name}); err != nil {
		return "", err
	}
	return f.local.BuildConfigDriveAs(ctx, instanceDir, name, files)
}

// Prune implements Cache.
func (f *Fake) Prune(ctx context.Context, inUse map[string]bool, now time.Time) (PruneResult, error) {
	if err := f.record(FakeCall{Op: "Prune"}); err != nil {
		return PruneResult{}, err
	}
	return f.local.Prune(ctx, inUse, now)
}

// Usage implements Cache.
func (f *Fake) Usage(ctx context.Context) (Usage, error) {
	if err := f.record(FakeCall{Op: "Usage"}); err != nil {
		return Usage{}, err
	}
	return f.local.Usage(ctx)
}

// CleanLeftovers implements Cache.
func (f *Fake) CleanLeftovers(ctx context.Context) ([]string, error) {
	if err := f.record(FakeCall{Op: "CleanLeftovers"}); err != nil {
		return nil, err
	}
	return f.local.CleanLeftovers(ctx)
}

// SnapshotDir implements Cache.
func (f *Fake) SnapshotDir(ctx context.Context) (string, func(), error) {
	if err := f.record(FakeCall{Op: "SnapshotDir"}); err != nil {
		return "", nil, err
	}
	return f.local.SnapshotDir(ctx)
}

// Extract implements Cache.
func (f *Fake) Extract(ctx context.Context, src, srcFormat, dst, format string) error {
	if err := f.record(FakeCall{Op: "Extract", Path: src}); err != nil {
		return err
	}
	return f.local.Extract(ctx, src, srcFormat, dst, format)
}
