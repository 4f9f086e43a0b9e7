package glance

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Error classes of the client, as nova's _translate_image_exception sorts Glance's answers.
// Callers decide with errors.Is; the HTTP status or transport error stays in the message and
// the chain. The texts are plain class names, so a caller that re-classes an error keeps a
// readable message.
var (
	// ErrNotFound: Glance does not know the image (404, 410); nova's ImageNotFound.
	ErrNotFound = errors.New("not found")
	// ErrNotAuthorized: Glance refused the token (401, 403); nova's ImageNotAuthorized.
	ErrNotAuthorized = errors.New("not authorized")
	// ErrUnavailable: Glance cannot be reached, answered 5xx or nonsense, or a transfer broke off.
	ErrUnavailable = errors.New("unavailable")
	// ErrInvalid: the request is wrong (another 4xx, a malformed endpoint) or the image has no
	// data (204); nova's Invalid / ImageUnacceptable.
	ErrInvalid = errors.New("invalid")
)

// classed attaches a class to a message.
func classed(class error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", class, fmt.Sprintf(format, args...))
}

// classedErr attaches a class to an existing error, keeping it in the chain.
func classedErr(class error, err error, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %w", class, fmt.Sprintf(format, args...), err)
}

// statusErr classifies an error status as nova's _translate_image_exception does.
func statusErr(resp *http.Response, method, url string) error {
	// Glance's error bodies are short HTML/JSON; a little of it helps the operator.
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	detail := strings.Join(strings.Fields(string(body)), " ")
	msg := fmt.Sprintf("%s %s: %s", method, url, resp.Status)
	if detail != "" {
		msg += ": " + detail
	}
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return classed(ErrNotFound, "%s", msg)
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return classed(ErrNotAuthorized, "%s", msg)
	case resp.StatusCode >= 500:
		return classed(ErrUnavailable, "%s", msg)
	case resp.StatusCode >= 400:
		return classed(ErrInvalid, "%s", msg)
	default:
		return classed(ErrUnavailable, "%s: unexpected status", msg)
	}
}
