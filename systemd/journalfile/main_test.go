package journalfile

import (
	"testing"

	"go.uber.org/goleak"
)

// The package starts no goroutines; the zstd decoder must not leave any
// behind once a File is closed.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
