package configerr

import (
	"errors"
	"testing"
)

func TestErrorNamesTheFieldAndMatchesItsKind(t *testing.T) {
	kind := errors.New("pkg: invalid config")
	var err error = New(kind, "Globs[1]", "pattern %q: %s", "[x", "syntax error")
	if got, want := err.Error(), `pkg: invalid config: Globs[1]: pattern "[x": syntax error`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	var ce *Error
	if !errors.Is(err, kind) || !errors.As(err, &ce) || ce.Field != "Globs[1]" {
		t.Errorf("%v: not an *Error of its kind naming Globs[1]", err)
	}
}
