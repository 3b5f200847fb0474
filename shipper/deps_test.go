package shipper

import (
	"go/build"
	"path/filepath"
	"strings"
	"testing"
)

// TestDependencies keeps the data flow one way: the shipper may use the
// shared record type (spool/record), never the spool itself (it leases
// through its own Source interface, which cmd adapts the spool to), an input,
// the parser or cmd.
func TestDependencies(t *testing.T) {
	const module = "github.com/logspool/logspool/"
	forbidden := []string{"tailer", "systemd", "parser", "cmd", "spool"}
	seen := map[string]bool{}
	var walk func(dir, path string)
	walk = func(dir, path string) {
		if seen[path] {
			return
		}
		seen[path] = true
		pkg, err := build.ImportDir(dir, 0)
		if err != nil {
			t.Fatalf("reading package %s: %v", path, err)
		}
		for _, imp := range pkg.Imports {
			rel, ok := strings.CutPrefix(imp, module)
			if !ok {
				continue
			}
			for _, f := range forbidden {
				if (rel == f || strings.HasPrefix(rel, f+"/")) && rel != "spool/record" {
					t.Errorf("%s imports %s", path, imp)
				}
			}
			walk(filepath.Join("..", filepath.FromSlash(rel)), imp)
		}
	}
	walk(".", module+"shipper")
	if !seen[module+"spool/record"] {
		t.Errorf("dependency walk did not reach spool/record; the test is broken")
	}
}
