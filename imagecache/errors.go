package imagecache

import (
	"errors"
	"fmt"
	"syscall"
)

// Error classes of the image-cache port. Callers decide with errors.Is; the cause (an HTTP
// status, an *os.PathError, qemu-img's stderr) stays in the chain and in the message.
var (
	// ErrNotFound: Glance does not know the image (404/410), or a base file asked for is absent.
	ErrNotFound = errors.New("not found")
	// ErrNotAuthorized: Glance refused the user's token (401/403); nova's ImageNotAuthorized.
	ErrNotAuthorized = errors.New("not authorized")
	// ErrCorrupt: the bytes are not what Glance promised (hash, size) or are not a safe image of
	// the declared disk_format (nova's deep format inspection); nova's ImageUnacceptable.
	ErrCorrupt = errors.New("corrupt")
	// ErrNoSpace: the cache's file system is full (ENOSPC/EDQUOT) or would be by this image.
	ErrNoSpace = errors.New("no space")
	// ErrUnavailable: Glance cannot be reached, answered 5xx, or the transfer broke off.
	ErrUnavailable = errors.New("unavailable")
	// ErrInvalid: the request itself is wrong: a malformed image id, an image that is not
	// active, an unsupported disk or container format, a disk smaller than its image.
	ErrInvalid = errors.New("invalid")
)

// DiskTooSmallError is nova's FlavorDiskSmallerThanImage: the flavor's root disk cannot hold
// the image's virtual size. It is of class ErrInvalid.
type DiskTooSmallError struct {
	FlavorSize int64 // bytes asked for
	ImageSize  int64 // virtual size of the base image, bytes
}

func (e *DiskTooSmallError) Error() string {
	// The text is nova's, so a fault built from it reads the same to the user.
	return fmt.Sprintf("Flavor's disk is too small for requested image. Flavor disk is %d bytes, image is %d bytes.",
		e.FlavorSize, e.ImageSize)
}

// Unwrap puts the error in class ErrInvalid.
func (e *DiskTooSmallError) Unwrap() error { return ErrInvalid }

// classed attaches an error class to a cause: errors.Is sees both.
func classed(class error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", class, fmt.Sprintf(format, args...))
}

// reclassed puts err in class as well, leaving its message as it is: for an error that
// already names its class in the same words (glance's).
func reclassed(class, err error) error { return &reclassedError{class: class, err: err} }

type reclassedError struct{ class, err error }

func (e *reclassedError) Error() string   { return e.err.Error() }
func (e *reclassedError) Unwrap() []error { return []error{e.class, e.err} }

// classedErr attaches an error class to an existing error, keeping it in the chain.
func classedErr(class error, err error, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %w", class, fmt.Sprintf(format, args...), err)
}

// fsErr classifies a local file-system error: a full disk is ErrNoSpace, anything else keeps
// no class (it is a host fault, not something a caller can act on differently).
func fsErr(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	if isNoSpace(err) {
		return classedErr(ErrNoSpace, err, format, args...)
	}
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), err)
}

func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}
