// Package configerr is the one shape of an invalid configuration, shared by
// every package's Config.Validate: the package's sentinel, the bad field as
// its Config names it, and why. cmd/logspool maps the field back to the flag,
// environment variable or config file line the user typed (see its
// configError), so that no Go field name reaches an operator.
package configerr

import "fmt"

// Error is an invalid Config field. errors.Is(err, Kind) holds, so each
// package's ErrInvalidConfig keeps matching.
type Error struct {
	Kind   error  // the package's sentinel, e.g. "shipper: invalid config"
	Field  string // the field as the Config names it: "BatchBytes", "Globs[1]"
	Reason string // what is wrong with it: "negative (-1)"
}

// New returns the Error of field, the reason formatted from format and args.
func New(kind error, field, format string, args ...any) *Error {
	return &Error{Kind: kind, Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Error reads "<kind>: <field>: <reason>".
func (e *Error) Error() string {
	return fmt.Sprintf("%v: %s: %s", e.Kind, e.Field, e.Reason)
}

// Unwrap returns Kind.
func (e *Error) Unwrap() error { return e.Kind }
