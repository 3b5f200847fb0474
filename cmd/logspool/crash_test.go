package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/logspool/logspool/internal/estest"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// crashScenario writes container logs with sequence numbers, rotating them
// kubelet-style, while the agent is SIGKILLed at random moments and
// restarted; then one last agent drains everything.
type crashScenario struct {
	files       int           // container log files
	linesPerSec int           // per file
	rotateEvery int           // lines between rotations
	kills       int           // SIGKILLs
	minUp       time.Duration // agent uptime before a kill: random in [minUp, 2*minUp)
}

// soak makes the scenario harsher when LOGSPOOL_SOAK_KILLS is set: that
// many kills, faster rotation, shorter uptimes; `make torture`
// (LOGSPOOL_TORTURE=1) runs 40 kills. `make test` keeps the 8 kills of the
// regression test.
func (sc *crashScenario) soak() {
	n, err := strconv.Atoi(os.Getenv("LOGSPOOL_SOAK_KILLS"))
	if (err != nil || n <= 0) && os.Getenv("LOGSPOOL_TORTURE") == "1" {
		n, err = 40, nil
	}
	if err == nil && n > 0 {
		sc.kills, sc.rotateEvery, sc.minUp, sc.linesPerSec = n, 200, 100*time.Millisecond, 1000
	}
}

// writeWhileKilling runs the writers and the kill loop; start starts one
// agent run. It returns how many lines each file got.
func (sc crashScenario) writeWhileKilling(t *testing.T, pt *podTree, start func() *agent) map[int]int {
	t.Helper()
	logs := make([]*podLog, sc.files)
	for i := range logs {
		logs[i] = pt.newPodLog(t, i)
	}
	// The first agent must hold every file before the first line is written:
	// a generation rotated away before any agent ever saw its file is not
	// the agent's to read (a first start reads matched files only), and
	// starting the binary (building it on first use) can take seconds on a
	// loaded machine.
	first := start()
	waitFor(t, 60*time.Second, "the first agent to open every file", func() bool {
		n, err := first.metric("logspool_tailer_files_watched")
		return err == nil && int(n) >= sc.files
	})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, p := range logs {
		wg.Add(1)
		go func(p *podLog) {
			defer wg.Done()
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			perTick := max(1, sc.linesPerSec/100)
			sinceRotate := 0
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				p.write(perTick)
				sinceRotate += perTick
				if sinceRotate >= sc.rotateEvery {
					sinceRotate = 0
					p.rotateKubelet(3)
				}
			}
		}(p)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < sc.kills; i++ {
		a := first
		if i > 0 {
			a = start()
		}
		time.Sleep(sc.minUp + time.Duration(rng.Int64N(int64(sc.minUp))))
		a.kill(t)
	}
	close(stop)
	wg.Wait()
	written := map[int]int{}
	for _, p := range logs {
		p.close()
		written[p.id] = p.seq
	}
	return written
}

// TestCrashLoopStdout: the built binary, SIGKILLed repeatedly while files are
// written and rotated, still prints every line at least once.
func TestCrashLoopStdout(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level crash test")
	}
	pt := newPodTree(t)
	spoolDir := filepath.Join(t.TempDir(), "spool")
	outPath := filepath.Join(t.TempDir(), "out.ndjson")
	out, err := os.OpenFile(outPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	args := []string{"--containers-glob", pt.glob(), "--spool-dir", spoolDir, "--no-journal"}
	sc := crashScenario{files: 4, linesPerSec: 500, rotateEvery: 700, kills: 8, minUp: 300 * time.Millisecond}
	sc.soak()
	written := sc.writeWhileKilling(t, pt, func() *agent { return startAgent(t, out, args...) })

	total := 0
	for _, n := range written {
		total += n
	}
	final := startAgent(t, out, args...)
	defer func() {
		if t.Failed() {
			got, _ := readNDJSON(t, outPath)
			got.check(t, written)
			t.Logf("final agent log:\n%s", final.logs())
		}
	}()
	waitFor(t, 60*time.Second, "every line on stdout", func() bool {
		got, _ := readNDJSON(t, outPath)
		seen := 0
		for k := range got {
			if k[1] <= written[k[0]] {
				seen++
			}
		}
		return seen >= total
	})
	final.stop(t)
	got, broken := readNDJSON(t, outPath)
	dups := got.check(t, written)
	if broken > sc.kills {
		t.Errorf("%d broken NDJSON lines, more than the %d kills can explain", broken, sc.kills)
	}
	t.Logf("%d lines written in %d files with rotations, %d kills: 0 missing, %d duplicates (%.2f%%), %d lines cut by a kill",
		total, sc.files, sc.kills, dups, 100*float64(dups)/float64(total), broken)
}

// TestCrashLoopElasticsearch: the built binary ships to the test server while
// it is SIGKILLed repeatedly, files are written and rotated, and the server
// injects faults (resets after storing, per-item 429, 503, truncated
// bodies). At the end the server holds every line exactly once.
func TestCrashLoopElasticsearch(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level crash test")
	}
	es := estest.NewServer(estest.Options{Discard: false, Logger: quietLogger()})
	defer es.Close()
	for _, f := range []estest.Fault{
		{Kind: estest.FaultResetAfterStore, Fraction: 0.1},
		{Kind: estest.FaultResetBeforeStore, Fraction: 0.05},
		{Kind: estest.FaultItemStatus, Status: 429, Fraction: 0.05},
		{Kind: estest.FaultStatus, Status: 503, Fraction: 0.05},
		{Kind: estest.FaultTruncatedBody, Fraction: 0.05},
	} {
		es.InjectFault(f)
	}
	pt := newPodTree(t)
	spoolDir := filepath.Join(t.TempDir(), "spool")
	args := []string{"--containers-glob", pt.glob(), "--spool-dir", spoolDir, "--no-journal",
		"--es-url", es.URL(), "--es-flush-interval", "100ms", "--es-batch-bytes", "256KiB"}
	sc := crashScenario{files: 4, linesPerSec: 400, rotateEvery: 500, kills: 8, minUp: 400 * time.Millisecond}
	sc.soak()
	written := sc.writeWhileKilling(t, pt, func() *agent { return startAgent(t, io.Discard, args...) })
	total := 0
	for _, n := range written {
		total += n
	}
	final := startAgent(t, io.Discard, args...)
	const index = "logs-logspool-default"
	// A batch with items answered 429 waits a second before it retries
	// them, holding one of the two in-flight slots: under these fault rates
	// the backlog drains slowly, by design (backpressure), not lost.
	deadline := time.Now().Add(180 * time.Second)
	for es.Count(index) < total && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if n := es.Count(index); n < total {
		queued, _ := final.metric("logspool_spool_records")
		t.Errorf("after 180s the server holds %d of %d lines; %v records still queued in the spool; agent log:\n%s", n, total, queued, final.logs())
	}
	final.stop(t)

	got := seqCount{}
	ids := map[string]bool{}
	for _, d := range es.Docs(index) {
		if ids[d.ID] {
			t.Errorf("id %s stored twice", d.ID)
		}
		ids[d.ID] = true
		var doc struct {
			Message string `json:"message"`
		}
		if err := json.Unmarshal(d.Source, &doc); err != nil {
			t.Fatalf("stored document is not JSON: %v", err)
		}
		got.add(doc.Message)
	}
	if dups := got.check(t, written); dups != 0 {
		t.Errorf("%d lines stored more than once (under different ids)", dups)
	}
	st := es.Stats()
	t.Logf("%d lines, %d kills, faults fired; server holds %d documents: 0 missing, 0 duplicates; %d re-sends answered 409; stats %+v",
		total, sc.kills, es.Count(index), es.DuplicateCreates(), st)
}
