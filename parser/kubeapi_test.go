package parser

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/logspool/logspool/spool/record"
)

// fakeKube is a KubeLookup whose one handle serves whatever cur holds.
type fakeKube struct {
	cur     *KubeMeta
	lookups []PathMeta
}

func (f *fakeKube) Lookup(m PathMeta) KubeHandle {
	f.lookups = append(f.lookups, m)
	return f
}

func (f *fakeKube) Current() *KubeMeta { return f.cur }

type kubeDoc struct {
	Log struct {
		Flags []string `json:"flags"`
	} `json:"log"`
	Kubernetes struct {
		Namespace string `json:"namespace"`
		Pod       struct {
			Name, UID, IP string
		} `json:"pod"`
		Labels     map[string]string     `json:"labels"`
		Deployment struct{ Name string } `json:"deployment"`
		Container  struct{ Name string } `json:"container"`
	} `json:"kubernetes"`
	Container struct {
		ID, Runtime string
		Image       struct{ Name string } `json:"image"`
	} `json:"container"`
}

func TestKubeMetadataInDocuments(t *testing.T) {
	reg := prometheus.NewRegistry()
	cfg := testConfig()
	cfg.Metrics = NewMetrics(reg)
	fk := &fakeKube{}
	cfg.Kube = fk
	d := NewDecoder(cfg, testSource())
	if len(fk.lookups) != 1 || fk.lookups[0].PodUID != "11111111-2222-3333-4444-555555555555" || fk.lookups[0].ContainerName != "nginx" {
		t.Fatalf("lookups %+v: want one, with the path's pod uid and container", fk.lookups)
	}

	decode := func(line string) kubeDoc {
		t.Helper()
		recs := d.Decode(nil, Line{Bytes: []byte(line), Start: 0, End: int64(len(line)) + 1})
		if len(recs) != 1 {
			t.Fatalf("%d records", len(recs))
		}
		var doc kubeDoc
		if err := json.Unmarshal(recs[0].Document(), &doc); err != nil {
			t.Fatalf("invalid document %s: %v", recs[0].Document(), err)
		}
		return doc
	}
	const line = `2024-05-01T10:00:00Z stdout F hello`

	// Unknown pod: path metadata only, flagged.
	doc := decode(line)
	if !slices.Equal(doc.Log.Flags, []string{FlagK8sMetadataMissing}) || doc.Kubernetes.Pod.Name != "web-7d9f.x" || doc.Kubernetes.Labels != nil {
		t.Errorf("unknown pod: %+v", doc)
	}

	// The pod arrives: the next line carries its metadata, unflagged.
	fk.cur = &KubeMeta{Version: 1, Kubernetes: []byte(`,"labels":{"app":"web"},"deployment":{"name":"web"}`),
		Pod: []byte(`,"ip":"10.0.0.7"`), Container: []byte(`,"image":{"name":"nginx:1.27"}`)}
	doc = decode(line)
	if doc.Log.Flags != nil || doc.Kubernetes.Labels["app"] != "web" || doc.Kubernetes.Deployment.Name != "web" ||
		doc.Kubernetes.Pod.IP != "10.0.0.7" || doc.Kubernetes.Pod.UID == "" || doc.Kubernetes.Container.Name != "nginx" ||
		doc.Container.Image.Name != "nginx:1.27" || doc.Container.Runtime != "cri" || doc.Kubernetes.Namespace != "default" {
		t.Errorf("known pod: %+v", doc)
	}

	// A label changes: the next line shows it.
	fk.cur = &KubeMeta{Version: 2, Kubernetes: []byte(`,"labels":{"app":"web2"}`)}
	if doc = decode(line); doc.Kubernetes.Labels["app"] != "web2" || doc.Container.Image.Name != "" {
		t.Errorf("after a change: %+v", doc)
	}
	d.SyncMetrics()
	if got := testutil.ToFloat64(cfg.Metrics.kubeMissing); got != 1 {
		t.Errorf("logspool_parser_k8s_metadata_missing_total = %v, want 1", got)
	}
}

// TestKubeNilHandle: a path without a pod gets no flag and no lookup result.
func TestKubeNilHandle(t *testing.T) {
	cfg := testConfig()
	cfg.Kube = nilLookup{}
	d := NewDecoder(cfg, Source{Path: "/var/log/other.log", FileKey: "k"})
	recs := d.Decode(nil, lines(`2024-05-01T10:00:00Z stdout F hi`)[0])
	var doc kubeDoc
	if err := json.Unmarshal(recs[0].Document(), &doc); err != nil || doc.Log.Flags != nil {
		t.Errorf("doc %s: %v", recs[0].Document(), err)
	}
}

type nilLookup struct{}

func (nilLookup) Lookup(PathMeta) KubeHandle { return nil }

// BenchmarkDecodeDockerKube is BenchmarkDecodeDocker with API metadata of a
// typical pod (six labels, a Deployment): the per-line cost is one pointer
// comparison.
func BenchmarkDecodeDockerKube(b *testing.B) {
	cfg := testConfig()
	cfg.Kube = &fakeKube{cur: &KubeMeta{Version: 1,
		Kubernetes: []byte(`,"node":{"name":"node-1"},"labels":{"app":"web","app_kubernetes_io/name":"web","app_kubernetes_io/instance":"web-prod","app_kubernetes_io/version":"1.4.2","pod-template-hash":"7d9f8b6c5","tier":"frontend"},"replicaset":{"name":"web-7d9f8b6c5"},"deployment":{"name":"web"}`),
		Pod:        []byte(`,"ip":"10.244.1.17"`), Container: []byte(`,"image":{"name":"registry.example.com/shop/web:1.4.2"}`)}}
	d := NewDecoder(cfg, testSource())
	recs := make([]recordT, 0, 256)
	b.SetBytes(int64(len(benchDocker)))
	b.ReportAllocs()
	var off int64
	for b.Loop() {
		recs = d.Decode(recs[:0], Line{Bytes: benchDocker, Start: off, End: off + int64(len(benchDocker)) + 1})
		off += int64(len(benchDocker)) + 1
	}
}

// TestAMetadataChangeStartsANewMetaVersion: the records of one snapshot share
// one Meta; a new snapshot (a label changed mid-file) gives the records
// after it a new Meta, and the old one keeps what its records were made with.
func TestAMetadataChangeStartsANewMetaVersion(t *testing.T) {
	cfg := testConfig()
	fk := &fakeKube{cur: &KubeMeta{Version: 1, Kubernetes: []byte(`,"labels":{"app":"web"}`)}}
	cfg.Kube = fk
	d := NewDecoder(cfg, testSource())
	var recs []record.Record
	for i, l := range lines(`2024-05-01T10:00:00Z stdout F one`, `2024-05-01T10:00:01Z stdout F two`) {
		recs = d.Decode(recs, Line{Bytes: l.Bytes, Start: int64(i) * 100})
	}
	fk.cur = &KubeMeta{Version: 2, Kubernetes: []byte(`,"labels":{"app":"web","canary":"yes"}`)}
	recs = d.Decode(recs, Line{Bytes: []byte(`2024-05-01T10:00:02Z stdout F three`), Start: 200})
	fk.cur = nil // the pod is gone from the cache: flagged, path metadata only
	recs = d.Decode(recs, Line{Bytes: []byte(`2024-05-01T10:00:03Z stdout F four`), Start: 300})
	if len(recs) != 4 {
		t.Fatalf("%d records", len(recs))
	}
	if recs[0].Meta == nil || recs[0].Meta != recs[1].Meta {
		t.Errorf("the records of one snapshot have Metas %p and %p, want one", recs[0].Meta, recs[1].Meta)
	}
	if recs[2].Meta == recs[1].Meta || recs[3].Meta == recs[2].Meta {
		t.Errorf("a new snapshot kept the old Meta")
	}
	for i, want := range []string{`{"app":"web"}`, `{"app":"web"}`, `{"app":"web","canary":"yes"}`, ``} {
		var doc struct {
			Kubernetes struct {
				Labels json.RawMessage `json:"labels"`
			} `json:"kubernetes"`
		}
		mustDoc(t, recs[i])
		if err := json.Unmarshal(recs[i].Document(), &doc); err != nil || string(doc.Kubernetes.Labels) != want {
			t.Errorf("record %d: labels %s (%v), want %s", i, doc.Kubernetes.Labels, err, want)
		}
	}
}
