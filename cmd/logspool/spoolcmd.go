package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/logspool/logspool/spool"
	"github.com/logspool/logspool/spool/record"
)

// spoolCommand is `logspool spool stats|dump|dlq` on a stopped agent's spool.
func spoolCommand(stdout, stderr io.Writer) *cli.Command {
	dirFlag := &cli.StringFlag{Name: "spool-dir", Value: "/var/lib/logspool", EnvVars: []string{envName("spool-dir")}, Usage: "Badger spool directory"}
	keysFlag := &cli.StringSliceFlag{Name: "key", Usage: "dead-letter `KEY` as dlq list prints it (repeatable; none: all)"}
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
				Action: func(c *cli.Context) error {
					return withSpool(c, true, func(sp *spool.Spool) error {
						w := bufio.NewWriterSize(stdout, 256<<10)
						if err := sp.Dump(func(r record.Record) error {
							_, err := w.Write(append(r.Doc, '\n'))
							return err
						}); err != nil {
							return fmt.Errorf("dumping spool: %w", err)
						}
						return w.Flush()
					})
				},
			},
			{
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
						Action: func(c *cli.Context) error {
							return withSpool(c, false, func(sp *spool.Spool) error {
								keys, err := parseKeys(c.StringSlice("key"))
								if err != nil {
									return err
								}
								n, err := sp.RetryDeadLetters(keys)
								if err != nil {
									return fmt.Errorf("retrying dead letters: %w", err)
								}
								fmt.Fprintf(stdout, "%d dead letters moved back into the queue\n", n)
								return nil
							})
						},
					},
					{
						Name: "drop", Usage: "delete dead letters", Flags: []cli.Flag{dirFlag, keysFlag},
						Action: func(c *cli.Context) error {
							return withSpool(c, false, func(sp *spool.Spool) error {
								keys, err := parseKeys(c.StringSlice("key"))
								if err != nil {
									return err
								}
								n, err := sp.DropDeadLetters(keys)
								if err != nil {
									return fmt.Errorf("dropping dead letters: %w", err)
								}
								fmt.Fprintf(stdout, "%d dead letters deleted\n", n)
								return nil
							})
						},
					},
				},
			},
		},
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
			return nil, fmt.Errorf("--key %q: want a number from `dlq list`", s)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

func printSpoolStats(w io.Writer, st spool.Stats) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "queued records\t%d\n", st.QueuedRecords)
	fmt.Fprintf(tw, "queued bytes\t%d (%s of %s cap)\n", st.QueuedBytes, size(float64(st.QueuedBytes)), size(float64(st.MaxBytes)))
	fmt.Fprintf(tw, "segments\t%d\n", st.Segments)
	fmt.Fprintf(tw, "dead letters\t%d (%s)\n", st.DeadLetters, size(float64(st.DeadLetterBytes)))
	fmt.Fprintf(tw, "disk\t%s\n", size(float64(st.DiskBytes)))
	return tw.Flush()
}

func listDeadLetters(w io.Writer, sp *spool.Spool) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	err := sp.DeadLetters(func(key uint64, dl spool.DeadLetter) error {
		doc := json.RawMessage(dl.Record.Doc)
		if !json.Valid(doc) {
			b, _ := json.Marshal(string(dl.Record.Doc))
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
