package parser

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	cut := prometheus.NewCounter(prometheus.CounterOpts{Name: "test_cut_bytes_total", Help: "cut"})
	cfg := testConfig()
	cfg.Metrics = NewMetrics(reg)
	cfg.CutBytes = cut
	cfg.MaxLineBytes = 4
	d := NewDecoder(cfg, testSource())
	decodeAll(t, d, lines(
		"2024-05-01T10:00:00Z stdout F ok",                              // record
		"2024-05-01T10:00:00Z stdout P ab",                              // partial
		"2024-05-01T10:00:00Z stdout P cdef",                            // cut: 2 bytes, record, truncated
		"2024-05-01T10:00:00Z stdout F ghi",                             // skipped: 3 bytes
		"garbage",                                                       // malformed_cri, record, 3 bytes cut
		"2024-05-01T10:00:00Z stdout F \xff",                            // invalid_utf8, record
		`{"log":"x\n","stream":"stdout","time":"2024-05-01T10:00:00Z"}`, // docker, record
		`{"log":"x\n","stream":"stdout","time":"later"}`,                // invalid_timestamp, record
		`{"log":"x\n"`,                                                  // invalid_json, record
	))
	d.SyncMetrics()
	for _, tc := range []struct {
		name string
		c    prometheus.Counter
		want float64
	}{
		{"records", cfg.Metrics.records, 7},
		{"docker lines", cfg.Metrics.linesDocker, 3},
		{"cri lines", cfg.Metrics.linesCRI, 6},
		{"partial lines", cfg.Metrics.partial, 2},
		{"truncated messages", cfg.Metrics.truncated, 4}, // the joined one and three raw lines
		{"invalid_json", cfg.Metrics.malformed[reasonInvalidJSON], 1},
		{"malformed_cri", cfg.Metrics.malformed[reasonMalformedCRI], 1},
		{"invalid_timestamp", cfg.Metrics.malformed[reasonInvalidTimestamp], 1},
		{"invalid_utf8", cfg.Metrics.malformed[reasonInvalidUTF8], 1},
		{"cut bytes", cut, 2 + 3 + (7 - 4) + (46 - 4) + (12 - 4)},
	} {
		if got := counterValue(t, tc.c); got != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, got, tc.want)
		}
	}
	names := []string{
		"logspool_parser_lines_total", "logspool_parser_records_total", "logspool_parser_malformed_lines_total",
		"logspool_parser_truncated_messages_total", "logspool_parser_partial_lines_total",
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := map[string]int{}
	for _, mf := range mfs {
		series[mf.GetName()] = len(mf.GetMetric())
	}
	for i, want := range []int{2, 1, 5, 1, 1} {
		if series[names[i]] != want {
			t.Errorf("%s has %d series, want %d", names[i], series[names[i]], want)
		}
	}
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func TestNilMetricsAreSafe(t *testing.T) {
	var m *Metrics
	m.malformedLine(reasonInvalidJSON)
	m.truncatedMessage()
	m.partialLine()
	d := NewDecoder(Config{Logger: testConfig().Logger}, testSource())
	if recs := d.Decode(nil, Line{Bytes: []byte(strings.Repeat("x", 10))}); len(recs) != 1 {
		t.Fatalf("got %d records, want 1", len(recs))
	}
	d.SyncMetrics()
}
