package shipper

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/logspool/logspool/internal/estest"
	"github.com/logspool/logspool/spool/record"
)

// labelRecords returns n documents whose kubernetes.labels together use
// keys distinct keys (the way a cluster's pods bring their own labels).
func labelRecords(n, keys int) []record.Record {
	recs := make([]record.Record, n)
	base := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	perDoc := keys / n
	for i := range recs {
		var labels []string
		for j := range perDoc {
			labels = append(labels, fmt.Sprintf(`"team_%d/label-%d":"v"`, i, j))
		}
		ts := base.Add(time.Duration(i) * time.Millisecond)
		recs[i] = record.Record{
			ID:   record.FileID("node-1", "labels", int64(i)),
			Time: ts.UnixNano(),
			Doc: fmt.Appendf(nil, `{"@timestamp":"%s","message":"m","kubernetes":{"labels":{%s},"annotations":{"a_%d":"x"}}}`,
				ts.Format(time.RFC3339Nano), strings.Join(labels, ","), i),
		}
	}
	return recs
}

// TestLabelKeysDoNotExplodeTheMapping: 3,000 distinct label keys (three times
// the default limit of 1,000 fields) are accepted where the template maps
// labels as one field, and the template is accepted by each flavour.
func TestLabelKeysDoNotExplodeTheMapping(t *testing.T) {
	for _, tc := range []struct {
		name    string
		flavor  estest.Flavor
		version string
		typ     string
	}{
		{"Elasticsearch 8: flattened", estest.Elasticsearch8, "", "flattened"},
		{"Elasticsearch 7.17: flattened", estest.Elasticsearch7, "", "flattened"},
		{"OpenSearch 2.17: flat_object", estest.OpenSearch2, "", "flat_object"},
		{"OpenSearch 2.5 has no flat_object: an object", estest.OpenSearch2, "2.5.0", "object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newEstest(t, estest.Options{Flavor: tc.flavor, Version: tc.version})
			recs := labelRecords(30, 3000)
			s, _ := estestShipper(t, srv, newMemSource(t, recs...), nil)
			sum := mustDrain(t, s)
			body := string(TemplateBody(Config{}, s.Flavor()))
			if !strings.Contains(body, `"labels":{"type":"`+tc.typ+`"}`) {
				t.Fatalf("template maps labels otherwise than %s: %s", tc.typ, body)
			}
			if tc.typ == "object" {
				// One field per key: the limit refuses most documents. The
				// flattened types are what prevents that.
				if sum.Delivered == 30 {
					t.Errorf("3,000 keyword fields accepted: the test server no longer enforces the fields limit")
				}
				return
			}
			if sum.Delivered != 30 {
				t.Errorf("delivered %+v, want all 30 documents", sum)
			}
		})
	}
}

// TestTemplateTypesMatchTheProduct: each product refuses the other's type,
// as the real ones do, so the choice per flavour matters.
func TestTemplateTypesMatchTheProduct(t *testing.T) {
	es := Flavor{Distribution: DistElasticsearch, Version: "8.15.3", Major: 8}
	os2 := Flavor{Distribution: DistOpenSearch, Version: "2.17.1", Major: 2}
	for _, tc := range []struct {
		name   string
		flavor estest.Flavor
		body   []byte
		ok     bool
	}{
		{"Elasticsearch takes its template", estest.Elasticsearch8, TemplateBody(Config{}, es), true},
		{"Elasticsearch refuses flat_object", estest.Elasticsearch8, TemplateBody(Config{}, os2), false},
		{"OpenSearch takes its template", estest.OpenSearch2, TemplateBody(Config{}, os2), true},
		{"OpenSearch refuses flattened", estest.OpenSearch2, TemplateBody(Config{}, es), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newEstest(t, estest.Options{Flavor: tc.flavor})
			status := putTemplate(t, srv.URL(), tc.body)
			if ok := status == 200; ok != tc.ok {
				t.Errorf("PUT template answered %d, want ok=%t", status, tc.ok)
			}
		})
	}
}

func putTemplate(t *testing.T, url string, body []byte) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, url+"/_index_template/t", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
