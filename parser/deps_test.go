package parser

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImports keeps the data flow one way: the parser may use the shared
// record type but no other logspool package, besides internal/freelist and
// internal/configerr (leaves of the standard library's kind).
func TestImports(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	const module = "github.com/logspool/logspool/"
	allowed := map[string]bool{module + "spool/record": true, module + "internal/freelist": true, module + "internal/configerr": true}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatalf("parsing imports of %s: %v", name, err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(path, module) && !allowed[path] {
				t.Errorf("%s imports %s; the parser may only import spool/record, internal/freelist and internal/configerr of logspool", name, path)
			}
		}
	}
}
