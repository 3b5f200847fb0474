package testdocs

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/klauspost/compress/s2"

	"github.com/logspool/logspool/parser/testlogs"
)

func TestRecords(t *testing.T) {
	recs := Records(1, testlogs.Docker, 4000, 500)
	if len(recs) != 4000 {
		t.Fatalf("%d records, want 4000", len(recs))
	}
	ids := map[[16]byte]bool{}
	var raw, z int
	var seg []byte
	for i, r := range recs {
		var doc struct {
			Message    string `json:"message"`
			Kubernetes struct {
				Namespace string `json:"namespace"`
			} `json:"kubernetes"`
			Log struct {
				Flags []string `json:"flags"`
			} `json:"log"`
		}
		if err := json.Unmarshal(r.Document(), &doc); err != nil || doc.Kubernetes.Namespace == "" || len(doc.Log.Flags) > 0 {
			t.Fatalf("record %d: %v: %s", i, err, r.Document())
		}
		if ids[r.ID] {
			t.Fatalf("record %d: id %s twice", i, r.ID)
		}
		ids[r.ID] = true
		// The documents as the spool stores them: a batch in one S2 block.
		seg = r.AppendDoc(seg)
		if (i+1)%500 == 0 {
			raw += len(seg)
			z += len(s2.Encode(nil, seg))
			seg = seg[:0]
		}
	}
	t.Logf("%d documents of %d bytes on average; S2 shrinks batches of 500 %.2f times", len(recs), raw/len(recs), float64(raw)/float64(z))
	if !bytes.Equal(Records(1, testlogs.Docker, 4000, 500)[3999].Document(), recs[3999].Document()) {
		t.Errorf("two calls gave different documents")
	}
}
