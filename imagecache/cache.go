// Package imagecache owns the node's image files the way nova's libvirt driver lays them out:
// Glance v2 downloads cached in <instances_path>/_base/<sha1(image id)> (verified while
// streaming, format-inspected, converted to raw when force_raw_images), per-instance qcow2
// overlays with their disk.info, config-drive ISOs, pruning of unused bases, and the cache's
// usage. Glance is reached through a Fetcher (openstack/glance's client).
//
// Cache is the port; Local is the real implementation on the local file system (qemu-img and
// genisoimage do the image work), Fake is the in-process double for other packages' tests. Both
// pass the conformance suite in imagecache/cachetest.
package imagecache

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Cache is the image-cache port the agent consumes.
type Cache interface {
	// Ensure makes sure the image is in the cache and returns the base file's absolute path,
	// <instances_path>/<subdirectory_name>/<sha1(image id)>. Concurrent calls for one image
	// share one download.
	Ensure(ctx context.Context, req Request) (string, error)
	// CreateOverlay creates <instanceDir>/disk, a qcow2 overlay backed by base (a path Ensure
	// returned), and records it in <instanceDir>/disk.info. rootSize 0 keeps the image's virtual
	// size (flavor root_gb 0); a size below it is a *DiskTooSmallError. It returns the disk path.
	// An existing disk backed by base is accepted as is.
	CreateOverlay(ctx context.Context, base, instanceDir string, rootSize int64) (string, error)
	// CreateOverlayAs is CreateOverlay writing <instanceDir>/<name> instead of disk, for the
	// other disks nova backs by a base file: a rescue's disk.rescue. name is a plain file
	// name starting with "disk." (see InstanceFileName); anything else is ErrInvalid.
	CreateOverlayAs(ctx context.Context, base, instanceDir, name string, rootSize int64) (string, error)
	// CopyAs copies base (a path Ensure returned) to <instanceDir>/<name>, as nova's Raw image
	// backend places a kernel or ramdisk: name is "kernel", "ramdisk", or starts with
	// "kernel." or "ramdisk." (a rescue's kernel.rescue); anything else is ErrInvalid. An
	// existing file is kept, as nova does. It returns the file's path.
	CopyAs(ctx context.Context, base, instanceDir, name string) (string, error)
	// RebaseDisk is nova's _rebase_with_qemu_img on <instanceDir>/disk: its backing file
	// becomes base (a path Ensure returned), the data that differs copied into the disk
	// (qemu-img rebase, safe mode); base "" flattens the disk onto no backing file.
	RebaseDisk(ctx context.Context, instanceDir, base string) error
	// GrowDisk grows the qcow2 disk <instanceDir>/disk to size bytes of virtual size, as
	// nova's resize_image grows a resized instance's root disk (qemu-img resize). A disk as
	// big or bigger is left alone: disks never shrink. A missing disk is ErrNotFound.
	GrowDisk(ctx context.Context, instanceDir string, size int64) error
	// BuildConfigDrive writes files (relative paths such as "openstack/latest/meta_data.json")
	// into an ISO 9660 image labelled config-2 at <instanceDir>/disk.config, replacing any old
	// one, records it in disk.info, and returns its path.
	BuildConfigDrive(ctx context.Context, instanceDir string, files map[string][]byte) (string, error)
	// BuildConfigDriveAs is BuildConfigDrive writing <instanceDir>/<name> instead of
	// disk.config: a rescue's disk.config.rescue. name starts with "disk.config." and is a
	// plain file name; anything else is ErrInvalid.
	BuildConfigDriveAs(ctx context.Context, instanceDir, name string, files map[string][]byte) (string, error)
	// Prune removes unused base files old enough per [image_cache], and, when free space is
	// under the watermark, unused ones younger than that. inUse holds the image ids (image_ref,
	// kernel_id, ramdisk_id) of every instance on this host; bases backing an instance disk
	// under instances_path are kept as well. now is the reference time for ages.
	Prune(ctx context.Context, inUse map[string]bool, now time.Time) (PruneResult, error)
	// Usage reports the cache's state: the base files' size on disk, how many of them instance
	// disks under instances_path are backed by and how many are unused, and the free space of
	// instances_path. A cache with no base directory yet is empty, not an error.
	Usage(ctx context.Context) (Usage, error)
	// CleanLeftovers removes temp files that interrupted downloads, conversions, overlays,
	// config drives and snapshots left behind. It is meant for start-up, before work is
	// accepted.
	CleanLeftovers(ctx context.Context) ([]string, error)

	// SnapshotDir creates a fresh work directory for one snapshot under snapshots_directory,
	// reachable by QEMU for a live copy, and returns it with the function that removes it.
	SnapshotDir(ctx context.Context) (dir string, remove func(), err error)
	// Extract writes the disk image src (srcFormat, its backing chain folded in) to dst as
	// one whole image in format ("qcow2" or "raw"), nova's extract_snapshot; qcow2 output is
	// compressed when snapshot_compression is set. On failure dst does not exist.
	Extract(ctx context.Context, src, srcFormat, dst, format string) error
}

// Request names one image to fetch and how to reach Glance. The caller resolves the endpoint
// (glance.Endpoint) and the token (the RPC context's auth token), as nova does; the cache's
// Fetcher makes the calls.
type Request struct {
	ImageID string
	// Endpoint is Glance's base URL, e.g. "http://controller:9292" (a trailing "/v2" is fine).
	Endpoint string
	// Token is the user's token, sent as X-Auth-Token. It is never logged.
	Token string
	// ServiceToken, when set, is sent as X-Service-Token ([service_user] send_service_user_token).
	ServiceToken string
	// GlobalRequestID is sent as X-OpenStack-Request-ID so Glance's logs match the request.
	GlobalRequestID string
	// Raw fetches the image as nova's fetch_raw_image does a kernel or ramdisk (aki, ari):
	// stored as downloaded (checksums still verified), with no disk format inspection or
	// conversion. Such a base is never a disk's backing file.
	Raw bool
}

// PruneResult tells what one pass did.
type PruneResult struct {
	Removed    []string // base files deleted
	FreedBytes int64    // their allocated size
	InUse      int      // base files kept because an instance uses them
	TooYoung   int      // unused base files kept because they are younger than the minimum age
}

// Usage is the cache's state at one moment. Base files are "<sha1>" and nova's legacy
// "<sha1>_<suffix>" copies; temp files of work in progress are not counted.
type Usage struct {
	SizeBytes int64 // space the base files take on disk (allocated, so a sparse base counts less)
	InUse     int   // base files an instance disk under instances_path is backed by
	Unused    int   // the other base files: those Prune may remove
	FreeBytes int64 // free space of the file system holding instances_path
}

// BaseName is the cache file name nova gives an image: sha1 of the id, hex.
func BaseName(imageID string) string {
	sum := sha1.Sum([]byte(imageID))
	return hex.EncodeToString(sum[:])
}

// checkInstanceFileName accepts a plain file name in an instance directory that starts with
// prefix and goes beyond it ("disk.rescue" for "disk."), and is none of the names the cache
// gives its own files (disk.info, temp files): Prune reads the backing file of every "disk*",
// and CleanLeftovers removes "*.part.*".
func checkInstanceFileName(name, prefix string) error {
	if len(name) <= len(prefix) || !strings.HasPrefix(name, prefix) || strings.ContainsAny(name, "/\\\x00") ||
		name == "disk.info" || strings.HasPrefix(name, "disk.info.") || strings.Contains(name, ".part") {
		return classed(ErrInvalid, "%q is not an instance file name starting with %q", name, prefix)
	}
	return nil
}

// validateImageID keeps anything but a canonical UUID away from paths and URLs.
func validateImageID(id string) error {
	if len(id) != 36 {
		return classed(ErrInvalid, "image id %q is not a UUID", id)
	}
	if _, err := uuid.Parse(id); err != nil {
		return classed(ErrInvalid, "image id %q is not a UUID", id)
	}
	return nil
}

// isBaseName reports whether name is an original base file's name (40 hex digits).
func isBaseName(name string) bool {
	if len(name) != sha1.Size*2 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
