package systemd

import (
	"errors"
	"io/fs"
	"os"
)

// DirSummary is what one journal directory of Config.Dirs holds now.
type DirSummary struct {
	Dir    string
	Exists bool  // the directory exists (and is a directory)
	Files  int   // journal files in it and its machine-id sub-directories
	Err    error // the directory itself could not be listed (permissions, I/O)
}

// SummarizeDirs reports, for each directory, whether it exists and how many
// journal files the input would read there now: for a start-up summary and
// `logspool status`, so that a missing or empty directory is reported rather
// than silently idle.
func SummarizeDirs(dirs []string) []DirSummary {
	out := make([]DirSummary, 0, len(dirs))
	for _, d := range dirs {
		ds := DirSummary{Dir: d}
		fi, err := os.Stat(d)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			ds.Err = err
		case !fi.IsDir():
			ds.Err = errors.New("not a directory")
		default:
			ds.Exists = true
			l := listJournalFiles(d, nil)
			ds.Files = len(l.files)
			for _, p := range l.problems {
				if p.path == d {
					ds.Err = p.err // the directory itself; a bad entry is the input's to report
				}
			}
		}
		out = append(out, ds)
	}
	return out
}
