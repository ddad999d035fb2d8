package registry

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/portcullis-dev/portcullis/internal/image"
)

// Op names a Client operation in errors and statistics.
type Op string

// The operations of a Client.
const (
	OpResolve   Op = "resolve"
	OpManifest  Op = "manifest"
	OpBlob      Op = "blob"
	OpReferrers Op = "referrers"
)

// Error is the error every Client method returns. It names the operation and
// the reference, carries the HTTP status of the registry's answer when there
// was one, and unwraps to its cause. When the registry said the content does
// not exist (HTTP 404, MANIFEST_UNKNOWN, NAME_UNKNOWN, BLOB_UNKNOWN) it also
// unwraps to image.ErrNotFound, so errors.Is(err, image.ErrNotFound) holds.
type Error struct {
	// Op is the operation that failed.
	Op Op
	// Ref is the reference the operation was about, as
	// registry/repository[:tag][@digest].
	Ref string
	// StatusCode is the HTTP status of the registry's answer, or 0 when the
	// failure was not an HTTP error status (network, timeout, verification).
	StatusCode int
	// NotFound is true when the registry said the content does not exist.
	NotFound bool
	// Err is the cause.
	Err error
}

// Error implements error: "<op> <ref>: [HTTP <status>: ]<cause>".
func (e *Error) Error() string {
	if e.StatusCode != 0 {
		return fmt.Sprintf("%s %s: HTTP %d: %v", e.Op, e.Ref, e.StatusCode, e.Err)
	}
	return fmt.Sprintf("%s %s: %v", e.Op, e.Ref, e.Err)
}

// Unwrap returns the cause, and image.ErrNotFound when NotFound is set.
func (e *Error) Unwrap() []error {
	if e.NotFound {
		return []error{e.Err, image.ErrNotFound}
	}
	return []error{e.Err}
}

// DigestMismatchError says that a registry answered with other content than
// the digest that was asked for: a Docker-Content-Digest header or a body
// that hashes to another digest.
type DigestMismatchError struct {
	// Want is the digest that was asked for.
	Want string
	// Got is the digest the registry answered with.
	Got string
}

// Error implements error.
func (e *DigestMismatchError) Error() string {
	return fmt.Sprintf("registry answered with digest %s for %s", e.Got, e.Want)
}

// TooLargeError says that an answer exceeded a size limit of the Client.
type TooLargeError struct {
	// What is "manifest" or "blob".
	What string
	// Limit is the limit in bytes, and Option the Options field that sets it.
	Limit  int64
	Option string
	// Size is the size the registry announced, or -1 when it did not
	// announce one and the body ran past the limit.
	Size int64
}

// Error implements error.
func (e *TooLargeError) Error() string {
	if e.Size >= 0 {
		return fmt.Sprintf("%s of %d bytes is larger than the limit of %d bytes (%s)", e.What, e.Size, e.Limit, e.Option)
	}
	return fmt.Sprintf("%s is larger than the limit of %d bytes (%s)", e.What, e.Limit, e.Option)
}

// InsecureError says that a request would have gone over plain HTTP to a
// registry that is not listed in Options.Insecure.
type InsecureError struct {
	// Host is the registry host (host[:port]).
	Host string
}

// Error implements error.
func (e *InsecureError) Error() string {
	return fmt.Sprintf("refusing plain HTTP to registry %s: it is not listed in Options.Insecure", e.Host)
}

// classify turns the error of a go-containerregistry call into an *Error.
// Errors of this package (digest mismatch, size, insecure) replace the
// url.Error and ping wrappers around them, so messages stay short.
func classify(op Op, ref string, err error) *Error {
	e := &Error{Op: op, Ref: ref, Err: err}
	var (
		dm  *DigestMismatchError
		tl  *TooLargeError
		ins *InsecureError
		te  *transport.Error
	)
	switch {
	case errors.As(err, &dm):
		e.Err = dm
	case errors.As(err, &tl):
		e.Err = tl
	case errors.As(err, &ins):
		e.Err = ins
	case errors.As(err, &te):
		e.StatusCode = te.StatusCode
		e.NotFound = te.StatusCode == http.StatusNotFound
		for _, d := range te.Errors {
			switch d.Code {
			case transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode, transport.BlobUnknownErrorCode:
				e.NotFound = true
			}
		}
	}
	return e
}

// isAuthError reports whether err is the registry refusing the credentials
// (401, 403, UNAUTHORIZED, DENIED), so the next credentials may be tried.
func isAuthError(err error) bool {
	var te *transport.Error
	if !errors.As(err, &te) {
		return false
	}
	if te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden {
		return true
	}
	for _, d := range te.Errors {
		if d.Code == transport.UnauthorizedErrorCode || d.Code == transport.DeniedErrorCode {
			return true
		}
	}
	return false
}

// isOwnError reports whether err is a verification or policy error of this
// package, which must be neither retried nor worked around.
func isOwnError(err error) bool {
	var (
		dm  *DigestMismatchError
		tl  *TooLargeError
		ins *InsecureError
	)
	return errors.As(err, &dm) || errors.As(err, &tl) || errors.As(err, &ins)
}
