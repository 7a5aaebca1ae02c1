package directory

import (
	"errors"
	"fmt"

	"github.com/hallpass/hallpass/storage"
)

// The kinds of refusal. An *Error unwraps to one of them, so callers can
// test errors.Is(err, ErrNotFound).
var (
	// ErrInvalid: the input breaks a rule; Error.Field names the input.
	ErrInvalid = errors.New("invalid input")
	// ErrNotFound: the record the request names does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a record with that name or id already exists, or the
	// record is hallpass's own (Options.BuiltinClients) and cannot be
	// changed.
	ErrConflict = errors.New("already exists")
)

// Object is the kind of record a request is about.
type Object string

// The objects the service manages.
const (
	ObjectUser   Object = "user"
	ObjectRole   Object = "role"
	ObjectScope  Object = "scope"
	ObjectClient Object = "client"
)

// Error is the service refusing a request for something the caller can
// change: what it sent, or the name it used. Anything else the service
// returns is a failure (of storage, mostly), passed on wrapped.
type Error struct {
	// Kind is ErrInvalid, ErrNotFound or ErrConflict.
	Kind error
	// Object is what the request was about.
	Object Object
	// Field is the input field at fault, by its JSON name (e.g.
	// "redirect_uris"), when Kind is ErrInvalid.
	Field string
	// Message says in plain words what is wrong, for the person who
	// sent the request; it never repeats a password.
	Message string
}

func (e *Error) Error() string { return e.Message }

// Unwrap returns the Kind.
func (e *Error) Unwrap() error { return e.Kind }

func invalid(object Object, field, format string, args ...any) *Error {
	return &Error{Kind: ErrInvalid, Object: object, Field: field, Message: fmt.Sprintf(format, args...)}
}

// NotFound is the refusal for a record that does not exist: object is its
// kind as people say it ("signing key"), id how the request named it.
func NotFound(object Object, id string) *Error {
	return &Error{Kind: ErrNotFound, Object: object, Message: fmt.Sprintf("no %s %q", object, id)}
}

func conflict(object Object, id string) *Error {
	return &Error{Kind: ErrConflict, Object: object, Message: fmt.Sprintf("%s %q already exists", object, id)}
}

// storeErr turns the storage sentinels met while reading or writing the
// record id into refusals; any other error is a failure, passed on. Text
// the store refuses to hold (storage.ErrInvalidInput: a name the CLI was
// given, which no HTTP surface lets through) is the caller's, never a
// failure of the store.
func storeErr(err error, object Object, id string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, storage.ErrNotFound):
		return NotFound(object, id)
	case errors.Is(err, storage.ErrConflict):
		return conflict(object, id)
	case errors.Is(err, storage.ErrInvalidInput):
		return invalid(object, "", "%s %q: text must be valid UTF-8 without NUL characters", object, id)
	}
	return fmt.Errorf("%s %q: %w", object, id, err)
}
