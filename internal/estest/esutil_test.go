package estest

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/elastic/go-elasticsearch/v7"
	"github.com/elastic/go-elasticsearch/v7/esutil"
)

// TestRealBulkIndexerReadsTheResponses drives the client library's own
// BulkIndexer, whose response structs are the reference for the item shape.
func TestRealBulkIndexerReadsTheResponses(t *testing.T) {
	cases := []struct {
		name   string
		flavor Flavor
	}{
		{name: "against elasticsearch 8", flavor: Elasticsearch8},
		{name: "against elasticsearch 7.17", flavor: Elasticsearch7},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, Options{Flavor: tc.flavor})
			c := newESClient(t, s, elasticsearch.Config{DisableRetry: true})
			s.InjectFault(Fault{Kind: FaultItemStatus, IDs: []string{"7", "13"}})
			bi, err := esutil.NewBulkIndexer(esutil.BulkIndexerConfig{Client: c, Index: "logs-bi-default", NumWorkers: 2, FlushBytes: 2048})
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			ok := map[string]string{}
			failed := map[string]string{}
			for i := 0; i < 40; i++ {
				id := strconv.Itoa(i)
				err := bi.Add(context.Background(), esutil.BulkIndexerItem{
					Action:     "create",
					DocumentID: id,
					Body:       strings.NewReader(`{"@timestamp":"2024-05-01T00:00:00Z","message":"m` + id + `"}`),
					OnSuccess: func(_ context.Context, _ esutil.BulkIndexerItem, r esutil.BulkIndexerResponseItem) {
						mu.Lock()
						defer mu.Unlock()
						ok[r.DocumentID] = r.Result
					},
					OnFailure: func(_ context.Context, _ esutil.BulkIndexerItem, r esutil.BulkIndexerResponseItem, err error) {
						mu.Lock()
						defer mu.Unlock()
						if err != nil {
							t.Errorf("transport error: %v", err)
							return
						}
						failed[r.DocumentID] = r.Error.Type
					},
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			if err := bi.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			if len(ok) != 38 || len(failed) != 2 {
				t.Fatalf("ok %d, failed %d", len(ok), len(failed))
			}
			for id, typ := range failed {
				if (id != "7" && id != "13") || typ != "es_rejected_execution_exception" {
					t.Errorf("failed %s with %s", id, typ)
				}
			}
			for id, res := range ok {
				if res != "created" {
					t.Errorf("%s: result %q", id, res)
				}
			}
			st := bi.Stats()
			if st.NumCreated != 38 || st.NumFailed != 2 {
				t.Errorf("indexer stats = %+v", st)
			}
			if s.Count("logs-bi-default") != 38 {
				t.Errorf("count = %d", s.Count("logs-bi-default"))
			}
		})
	}
}
