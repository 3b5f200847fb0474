package tailer

import (
	"os"
	"path/filepath"
)

// GlobMatch is what one glob of Config.Globs matches now.
type GlobMatch struct {
	Glob  string
	Files int   // regular files the tailer would follow (compressed rotations are skipped)
	Err   error // a malformed pattern
}

// MatchGlobs reports, for each glob, how many files the tailer would follow
// if it scanned now: for a start-up summary and `logspool status`, so that a
// glob that matches nothing is reported rather than silently idle. It counts
// each file once per glob, following symlinks as the tailer does.
func MatchGlobs(globs []string) []GlobMatch {
	out := make([]GlobMatch, 0, len(globs))
	for _, g := range globs {
		gm := GlobMatch{Glob: g}
		matches, err := filepath.Glob(g)
		if err != nil {
			gm.Err = err
		}
		seen := make(map[fileID]bool, len(matches))
		for _, p := range matches {
			if skipName(p) {
				continue
			}
			fi, err := os.Stat(p)
			if err != nil || !fi.Mode().IsRegular() {
				continue
			}
			if id, _, err := statOf(fi); err == nil {
				if seen[id] {
					continue
				}
				seen[id] = true
			}
			gm.Files++
		}
		out = append(out, gm)
	}
	return out
}
