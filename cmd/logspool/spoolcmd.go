package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/logspool/logspool/spool"
	"github.com/logspool/logspool/spool/record"
)

// spoolCommand is `logspool spool stats|dump|dlq|salvage` on a stopped
// agent's spool.
func spoolCommand(stdout, stderr io.Writer) *cli.Command {
	dirFlag := &cli.StringFlag{Name: "spool-dir", Value: defaultSpoolDir, EnvVars: []string{envName("spool-dir")}, Usage: "Badger spool directory"}
	return &cli.Command{
		Name:  "spool",
		Usage: "inspect a spool directory (of a stopped agent; `logspool status` shows a running one)",
		Subcommands: []*cli.Command{
			{
				Name: "stats", Usage: "print queue, dead-letter and disk figures", Flags: []cli.Flag{dirFlag},
				Action: func(c *cli.Context) error {
					return withSpool(c, true, func(sp *spool.Spool) error { return printSpoolStats(stdout, sp.Stats()) })
				},
			},
			{
				Name: "dump", Usage: "print the queued documents as NDJSON, oldest first", Flags: []cli.Flag{dirFlag},
				Action: dumpAction(stdout),
			},
			{
				Name:  "salvage",
				Usage: "repair a damaged spool: keep every intact record, quarantine the damaged bytes, rewind the affected sources",
				Description: "Run it (with the agent stopped) when the agent refuses to start on a damaged spool. The raw bytes of\n" +
					"every damaged entry are copied to DIR/quarantine; the sources whose records they held are rewound to\n" +
					"the position before them, so the lines still on disk are read again (same _id: Elasticsearch keeps\n" +
					"one copy). A damaged index is moved to DIR/quarantine and rebuilt from the data files.",
				Flags: []cli.Flag{dirFlag},
				Action: func(c *cli.Context) error {
					dir := c.String("spool-dir")
					rep, err := spool.Salvage(spool.Config{Dir: dir})
					if rep != nil {
						printSalvage(stdout, rep)
					}
					if err != nil {
						return fmt.Errorf("salvaging spool %s: %w", dir, err)
					}
					return nil
				},
			},
			dlqCommand(stdout, dirFlag),
		},
	}
}

// dumpAction prints the queued documents as NDJSON, oldest first.
func dumpAction(stdout io.Writer) cli.ActionFunc {
	return func(c *cli.Context) error {
		return withSpool(c, true, func(sp *spool.Spool) error {
			w := bufio.NewWriterSize(stdout, 256<<10)
			var line []byte
			if err := sp.Dump(func(r record.Record) error {
				line = append(r.AppendDoc(line[:0]), '\n') // the Meta spliced back in
				_, err := w.Write(line)
				return err
			}); err != nil {
				return fmt.Errorf("dumping spool: %w", err)
			}
			return w.Flush()
		})
	}
}

// dlqCommand is `logspool spool dlq list|retry|drop`.
func dlqCommand(stdout io.Writer, dirFlag cli.Flag) *cli.Command {
	keysFlag := &cli.StringSliceFlag{Name: "key", Usage: "dead-letter `KEY` as dlq list prints it (repeatable; none: all)"}
	return &cli.Command{
		Name:  "dlq",
		Usage: "inspect and re-drive dead letters (documents Elasticsearch refused for good)",
		Subcommands: []*cli.Command{
			{
				Name: "list", Usage: "print dead letters as NDJSON: key, time, reason, id, document", Flags: []cli.Flag{dirFlag},
				Action: func(c *cli.Context) error {
					return withSpool(c, true, func(sp *spool.Spool) error { return listDeadLetters(stdout, sp) })
				},
			},
			{
				Name: "retry", Usage: "move dead letters back into the queue", Flags: []cli.Flag{dirFlag, keysFlag},
				Action: editDeadAction(stdout, (*spool.Spool).RetryDeadLetters, "retrying", "moved back into the queue"),
			},
			{
				Name: "drop", Usage: "delete dead letters", Flags: []cli.Flag{dirFlag, keysFlag},
				Action: editDeadAction(stdout, (*spool.Spool).DropDeadLetters, "dropping", "deleted"),
			},
		},
	}
}

// editDeadAction runs edit (retry or drop) on the dead letters --key names
// and says how many it moved: "<n> dead letters <done>".
func editDeadAction(stdout io.Writer, edit func(*spool.Spool, []uint64) (int, error), doing, done string) cli.ActionFunc {
	return func(c *cli.Context) error {
		return withSpool(c, false, func(sp *spool.Spool) error {
			keys, err := parseKeys(c.StringSlice("key"))
			if err != nil {
				return err
			}
			n, err := edit(sp, keys)
			if err != nil {
				return fmt.Errorf("%s dead letters: %w", doing, err)
			}
			fmt.Fprintf(stdout, "%d dead letters %s\n", n, done)
			return nil
		})
	}
}

// withSpool opens --spool-dir (read-only for inspection) and runs fn.
func withSpool(c *cli.Context, readOnly bool, fn func(*spool.Spool) error) error {
	dir := c.String("spool-dir")
	sp, err := spool.Open(spool.Config{Dir: dir, ReadOnly: readOnly})
	if readOnly && isUnclean(err) {
		// A spool left by a crashed agent (or copied off a dead node) needs
		// its write-ahead log replayed, which read-only mode cannot do.
		fmt.Fprintf(c.App.ErrWriter, "%s was not closed cleanly; opening it read-write to replay its log\n", dir)
		sp, err = spool.Open(spool.Config{Dir: dir})
	}
	if errors.Is(err, spool.ErrLocked) {
		return fmt.Errorf("%s is held by a running logspool agent (use `logspool status`, or stop it): %w", dir, err)
	}
	if err != nil {
		return fmt.Errorf("opening spool %s: %w", dir, err)
	}
	ferr := fn(sp)
	if err := sp.Close(); err != nil && ferr == nil {
		ferr = fmt.Errorf("closing spool %s: %w", dir, err)
	}
	return ferr
}

// isUnclean reports whether a read-only open failed because the spool was
// not closed cleanly.
func isUnclean(err error) bool {
	return errors.Is(err, spool.ErrUnclean)
}

func parseKeys(ss []string) ([]uint64, error) {
	keys := make([]uint64, 0, len(ss))
	for _, s := range ss {
		k, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return nil, &configError{where: "--key", value: s, hasValue: true, why: "want a number from `dlq list`"}
		}
		keys = append(keys, k)
	}
	return keys, nil
}

func printSpoolStats(w io.Writer, st spool.Stats) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "queued records\t%d\n", st.QueuedRecords)
	fmt.Fprintf(tw, "queued bytes\t%d (%s)\n", st.QueuedBytes, size(float64(st.QueuedBytes)))
	fmt.Fprintf(tw, "segments\t%d\n", st.Segments)
	fmt.Fprintf(tw, "dead letters\t%d (%s)\n", st.DeadLetters, size(float64(st.DeadLetterBytes)))
	fmt.Fprintf(tw, "disk\t%s of %s cap\n", size(float64(st.DiskBytes)), size(float64(st.MaxBytes)))
	return tw.Flush()
}

// printSalvage reports what salvage found and did.
func printSalvage(w io.Writer, rep *spool.SalvageReport) {
	if len(rep.Damaged) == 0 {
		fmt.Fprintf(w, "no damage found in %s: nothing to do (%d records queued)\n", rep.Dir, rep.RecordsKept)
		return
	}
	if rep.Rebuilt {
		fmt.Fprintf(w, "the index was damaged (%s);\nit was moved aside and rebuilt from the data files: every intact record is queued again (some may be sent twice, under the same _id)\n", rep.IndexError)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "damaged\toffset\tbytes\trecords\tquarantined to\twhy")
	for _, d := range rep.Damaged {
		recs := "?"
		if d.Records > 0 {
			recs = strconv.FormatInt(d.Records, 10)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\n", d.File, d.Offset, d.Bytes, recs, d.Quarantined, d.Reason)
	}
	_ = tw.Flush()
	keys := make([]string, 0, len(rep.Rewound))
	for k := range rep.Rewound {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "source %s: %s (its lines still on disk are read again)\n", k, rep.Rewound[k])
	}
	fmt.Fprintf(w, "%d records kept, %d in damaged entries; quarantine: %s\n", rep.RecordsKept, rep.RecordsLost, rep.Quarantine)
}

func listDeadLetters(w io.Writer, sp *spool.Spool) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	err := sp.DeadLetters(func(key uint64, dl spool.DeadLetter) error {
		doc := json.RawMessage(dl.Record.Document())
		if !json.Valid(doc) {
			b, _ := json.Marshal(string(doc))
			doc = b
		}
		return enc.Encode(struct {
			Key    uint64          `json:"key"`
			Time   time.Time       `json:"time"`
			Reason string          `json:"reason"`
			ID     string          `json:"_id"`
			Doc    json.RawMessage `json:"document"`
		}{key, dl.Time.UTC(), dl.Reason, dl.Record.ID.String(), doc})
	})
	if err != nil {
		return fmt.Errorf("listing dead letters: %w", err)
	}
	return bw.Flush()
}
