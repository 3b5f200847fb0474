package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportDirection keeps the data flow one way: inputs -> parser -> spool
// -> shipper, with spool/record as the shared leaf. Stages meet through their
// own interfaces and only cmd wires them: the shipper does not import the
// spool (cmd/logspool/spooladapter.go adapts it to shipper.Source), and
// acknowledgements flow back through those interfaces, never through imports.
// The test server internal/estest knows none of them.
func TestImportDirection(t *testing.T) {
	const mod = "github.com/logspool/logspool/"
	forbidden := map[string][]string{
		"spool/record":        {"cmd", "tailer", "systemd", "parser", "spool", "shipper"},
		"parser":              {"cmd", "tailer", "systemd", "spool", "shipper"},
		"parser/kubemeta":     {"cmd", "tailer", "systemd", "spool", "shipper"},
		"tailer":              {"cmd", "systemd", "spool", "shipper"},
		"systemd":             {"cmd", "tailer", "parser", "spool", "shipper"},
		"systemd/journalfile": {"cmd", "tailer", "parser", "spool", "shipper", "systemd"},
		"spool":               {"cmd", "tailer", "systemd", "parser", "shipper"},
		"shipper":             {"cmd", "tailer", "systemd", "parser", "spool"},
		// Leaves shared by several stages, and the test server, import none
		// of them.
		"internal/configerr":   {"cmd", "tailer", "systemd", "parser", "spool", "shipper"},
		"internal/appendretry": {"cmd", "tailer", "systemd", "parser", "spool", "shipper"},
		"internal/estest":      {"cmd", "tailer", "systemd", "parser", "spool", "shipper"},
	}
	out, err := exec.Command("go", "list", "-deps=false", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", mod+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	seen := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], mod)
		bad, ok := forbidden[pkg]
		if !ok {
			continue
		}
		seen++
		for _, imp := range fields[1:] {
			if !strings.HasPrefix(imp, mod) {
				continue
			}
			dep := strings.TrimPrefix(imp, mod)
			for _, b := range bad {
				if (dep == b || strings.HasPrefix(dep, b+"/")) && dep != "spool/record" {
					t.Errorf("%s imports %s: data flows tailer/systemd -> parser -> spool -> shipper, and only cmd wires stages together", pkg, dep)
				}
			}
		}
	}
	if seen != len(forbidden) {
		t.Fatalf("checked %d of %d packages; go list output:\n%s", seen, len(forbidden), out)
	}
}

// TestAgentDoesNotLinkTheClientset: the agent lists and watches pods through
// kubemeta.NewPodsClient, not client-go's clientset, which registers every
// API group of Kubernetes at start: linked, it made the stripped binary 62 MB
// instead of 35 and the agent's peak RSS about 11 MiB larger (33 MiB of
// resident file pages instead of 23, BenchmarkEndToEnd, issue 14).
func TestAgentDoesNotLinkTheClientset(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if pkg == "k8s.io/client-go/kubernetes" || strings.HasPrefix(pkg, "k8s.io/client-go/kubernetes/typed/") {
			t.Errorf("the agent links %s", pkg)
		}
	}
}
