package tailer

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImportsStayInTheirLane keeps the data flow one way: the tailer may use
// the parser and the record type, never the spool implementation, the
// shipper or cmd, and never hpcloud/tail (it is only measured against).
func TestImportsStayInTheirLane(t *testing.T) {
	forbidden := []string{
		"github.com/logspool/logspool/spool",
		"github.com/logspool/logspool/shipper",
		"github.com/logspool/logspool/cmd",
		"github.com/logspool/logspool/systemd",
		"github.com/hpcloud/tail",
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			for _, bad := range forbidden {
				if (path == bad || strings.HasPrefix(path, bad+"/")) && path != "github.com/logspool/logspool/spool/record" {
					t.Errorf("%s imports %s", name, path)
				}
			}
		}
	}
}
