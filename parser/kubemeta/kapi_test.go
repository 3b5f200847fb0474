package kubemeta

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"

	"github.com/logspool/logspool/parser"
	"github.com/logspool/logspool/parser/kubemeta/kapitest"
)

// The proofs against a real kube-apiserver (with etcd): see kapitest for how
// it is built and why these tests skip outside CI when it is missing.

// apiProxy sits between the provider and the real API server: it records
// every request and can answer the next watch requests with 410 Gone (as
// the API server does to a watch that fell behind its history) or hold
// requests (a slow API server).
type apiProxy struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []string // "METHOD path?query"

	gone atomic.Int32 // answer this many watch requests with 410
	hold atomic.Bool  // hang every request until released
	rel  chan struct{}
}

func newAPIProxy(t *testing.T, s *kapitest.Server) *apiProxy {
	t.Helper()
	up, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(up)
	rp.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // loopback test server
	rp.FlushInterval = -1                                                                  // stream watches
	p := &apiProxy{rel: make(chan struct{})}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.reqs = append(p.reqs, r.Method+" "+r.URL.RequestURI())
		hold, rel := p.hold.Load(), p.rel
		p.mu.Unlock()
		if hold {
			select {
			case <-rel:
			case <-r.Context().Done():
				return
			}
		}
		if r.URL.Query().Get("watch") == "true" && p.gone.Add(-1) >= 0 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusGone)
			_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 1 (2)","reason":"Expired","code":410}`))
			return
		}
		r.Header.Set("Authorization", "Bearer "+s.Token)
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		p.release()
		p.srv.CloseClientConnections()
		p.srv.Close()
	})
	return p
}

func (p *apiProxy) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.hold.Load() {
		p.hold.Store(false)
		close(p.rel)
		p.rel = make(chan struct{})
	}
}

func (p *apiProxy) requests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.reqs...)
}

// clients returns the provider's clients through the proxy (no credentials:
// the proxy adds them).
func (p *apiProxy) config() *rest.Config {
	return &rest.Config{Host: p.srv.URL, QPS: 50, Burst: 100}
}

func startProvider(t testing.TB, cfg *rest.Config, mod func(*Config)) *Provider {
	t.Helper()
	p, stop := runProvider(t, cfg, mod)
	t.Cleanup(stop)
	return p
}

// runProvider starts a provider and waits until it synced; stop ends it.
func runProvider(t testing.TB, cfg *rest.Config, mod func(*Config)) (*Provider, func()) {
	t.Helper()
	client, err := NewPodsClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	meta, err := metadata.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := Config{NodeName: "n1", Client: client, Metadata: meta, StartJitter: -1, Metrics: NewMetrics(nil)}
	if mod != nil {
		mod(&c)
	}
	p, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = p.Run(ctx) }()
	stop := func() { cancel(); <-done }
	select {
	case <-p.Synced():
	case <-time.After(60 * time.Second):
		stop()
		t.Fatal("the provider did not sync with the API server")
	}
	return p, stop
}

// cluster creates objects as the controllers would have.
type cluster struct {
	t  *testing.T
	c  kubernetes.Interface
	ns string
}

func (c *cluster) namespace(labels map[string]string) {
	c.t.Helper()
	if _, err := c.c.CoreV1().Namespaces().Create(kapitest.Ctx(c.t), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: c.ns, Labels: labels}}, metav1.CreateOptions{}); err != nil {
		c.t.Fatal(err)
	}
}

func controller(kind, apiVersion, name string, uid string) []metav1.OwnerReference {
	return []metav1.OwnerReference{{APIVersion: apiVersion, Kind: kind, Name: name, UID: typesUID(uid), Controller: ptr(true)}}
}

var selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "x"}}

var podTemplate = corev1.PodTemplateSpec{
	ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "x"}},
	Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img"}}},
}

// deployment creates a Deployment and a ReplicaSet it owns, named rsName.
func (c *cluster) deployment(name, rsName string) *appsv1.ReplicaSet {
	c.t.Helper()
	d, err := c.c.AppsV1().Deployments(c.ns).Create(kapitest.Ctx(c.t), &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       appsv1.DeploymentSpec{Selector: selector, Template: podTemplate},
	}, metav1.CreateOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	rs, err := c.c.AppsV1().ReplicaSets(c.ns).Create(kapitest.Ctx(c.t), &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: rsName, OwnerReferences: controller("Deployment", "apps/v1", name, string(d.UID))},
		Spec:       appsv1.ReplicaSetSpec{Selector: selector, Template: podTemplate},
	}, metav1.CreateOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	return rs
}

func (c *cluster) cronJob(name, jobName string) *batchv1.Job {
	c.t.Helper()
	cj, err := c.c.BatchV1().CronJobs(c.ns).Create(kapitest.Ctx(c.t), &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: batchv1.CronJobSpec{Schedule: "0 * * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "c", Image: "img"}}}}}}},
	}, metav1.CreateOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	job, err := c.c.BatchV1().Jobs(c.ns).Create(kapitest.Ctx(c.t), &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: jobName, OwnerReferences: controller("CronJob", "batch/v1", name, string(cj.UID))},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{Name: "c", Image: "img"}}}}},
	}, metav1.CreateOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	return job
}

// pod creates a pod scheduled on node.
func (c *cluster) pod(name, node string, labels map[string]string, owner []metav1.OwnerReference) *corev1.Pod {
	c.t.Helper()
	p, err := c.c.CoreV1().Pods(c.ns).Create(kapitest.Ctx(c.t), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, OwnerReferences: owner,
			Annotations: map[string]string{"team": "shop", "kubectl.kubernetes.io/last-applied-configuration": "{}"}},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "main", Image: "registry.local/web:1.2"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	return p
}

func TestKAPIMetadataOfThisNodesPods(t *testing.T) {
	s := kapitest.Start(t)
	c := &cluster{t: t, c: s.Admin, ns: "shop"}
	c.namespace(map[string]string{"env": "prod"})
	rs := c.deployment("web", "web-rs-not-hash-named")
	job := c.cronJob("nightly", "nightly-28000000")
	web := c.pod("web-1", "n1", map[string]string{"app.kubernetes.io/name": "web", "tier": "front"},
		controller("ReplicaSet", "apps/v1", rs.Name, string(rs.UID)))
	batch := c.pod("nightly-1", "n1", nil, controller("Job", "batch/v1", job.Name, string(job.UID)))
	db := c.pod("db-0", "n1", nil, controller("StatefulSet", "apps/v1", "db", "uid-db"))
	ds := c.pod("agent-x", "n1", nil, controller("DaemonSet", "apps/v1", "agent", "uid-agent"))
	other := c.pod("web-2", "n2", map[string]string{"app": "web"}, nil)

	p := startProvider(t, s.Config(), func(c *Config) {
		c.Annotations = Filter{Include: []string{"team"}}
		c.NamespaceLabels = true
		c.Wait = 200 * time.Millisecond
	})
	look := func(pod *corev1.Pod) parser.KubeHandle {
		return p.Lookup(parser.PathMeta{Namespace: pod.Namespace, PodName: pod.Name, PodUID: string(pod.UID), ContainerName: "main"})
	}
	h := look(web)
	k := kubeFields(t, h.Current())
	for path, want := range map[string]any{
		"labels.app_kubernetes_io/name": "web", "labels.tier": "front", "annotations.team": "shop",
		"namespace_labels.env": "prod", "node.name": "n1",
		"replicaset.name": "web-rs-not-hash-named", "deployment.name": "web",
	} {
		if got := field(k, path); got != want {
			t.Errorf("web-1: kubernetes.%s = %v, want %v", path, got, want)
		}
	}
	if len(k["annotations"].(map[string]any)) != 1 {
		t.Errorf("annotations %v: want only the included one", k["annotations"])
	}
	if got := string(h.Current().Container); got != `,"image":{"name":"registry.local/web:1.2"}` {
		t.Errorf("container members %s", got)
	}
	for _, tc := range []struct {
		pod         *corev1.Pod
		path, value string
	}{{batch, "job.name", "nightly-28000000"}, {batch, "cronjob.name", "nightly"}, {db, "statefulset.name", "db"}, {ds, "daemonset.name", "agent"}} {
		if got := field(kubeFields(t, look(tc.pod).Current()), tc.path); got != tc.value {
			t.Errorf("%s: kubernetes.%s = %v, want %s", tc.pod.Name, tc.path, got, tc.value)
		}
	}
	if m := look(other).Current(); m != nil {
		t.Errorf("a pod of another node has metadata: %s", m.Kubernetes)
	}

	// A label change, and a namespace label change, show up as new versions.
	v := h.Current().Version
	web, err := s.Admin.CoreV1().Pods("shop").Get(kapitest.Ctx(t), "web-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	web.Labels["tier"] = "back"
	if _, err := s.Admin.CoreV1().Pods("shop").Update(kapitest.Ctx(t), web, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	m := waitMeta(t, h, "the changed label", func(m *parser.KubeMeta) bool { return field(kubeFields(t, m), "labels.tier") == "back" })
	if m.Version <= v {
		t.Errorf("version %d after a change from %d", m.Version, v)
	}
	ns, err := s.Admin.CoreV1().Namespaces().Get(kapitest.Ctx(t), "shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ns.Labels["env"] = "staging"
	if _, err := s.Admin.CoreV1().Namespaces().Update(kapitest.Ctx(t), ns, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitMeta(t, h, "the changed namespace label", func(m *parser.KubeMeta) bool {
		return field(kubeFields(t, m), "namespace_labels.env") == "staging"
	})

	// A pod created after the start, looked up before the watch delivers it.
	newPod := make(chan *corev1.Pod, 1)
	go func() { newPod <- c.pod("web-3", "n1", map[string]string{"app": "late"}, nil) }()
	created := <-newPod
	late := p.Lookup(parser.PathMeta{PodUID: string(created.UID), ContainerName: "main"})
	waitMeta(t, late, "the new pod", func(m *parser.KubeMeta) bool { return m != nil && field(kubeFields(t, m), "labels.app") == "late" })

	// A deleted pod keeps its metadata for the grace period.
	if err := s.Admin.CoreV1().Pods("shop").Delete(kapitest.Ctx(t), "web-1", kapitest.Zero()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the deletion", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		e := p.entries["u/"+string(web.UID)]
		return e != nil && !e.deletedAt.IsZero()
	})
	if look(web).Current() == nil {
		t.Error("a pod deleted just now lost its metadata")
	}
}

// TestKAPIOutage: the API server stops mid-run. Known pods keep their
// metadata, a lookup of an unknown pod does not wait, the watch resumes when
// the server is back and the waiting handle gets its pod.
func TestKAPIOutage(t *testing.T) {
	s := kapitest.Start(t)
	c := &cluster{t: t, c: s.Admin, ns: "shop"}
	c.namespace(nil)
	known := c.pod("known", "n1", map[string]string{"app": "known"}, nil)
	p := startProvider(t, s.Config(), func(c *Config) { c.Wait = 10 * time.Minute })
	kh := p.Lookup(parser.PathMeta{PodUID: string(known.UID)})

	s.StopAPIServer()
	waitFor(t, "the provider to notice the outage", p.apiDown)
	if got := testutilGauge(p.m.apiUp); got != 0 {
		t.Errorf("logspool_k8s_metadata_api_up = %v during the outage", got)
	}
	// With a 10-minute Wait, a lookup that waited would outlast this test.
	done := make(chan parser.KubeHandle, 1)
	go func() { done <- p.Lookup(parser.PathMeta{Namespace: "shop", PodName: "during", ContainerName: "main"}) }()
	var dh parser.KubeHandle
	select {
	case dh = <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("a lookup waited for an API server that is down")
	}
	if dh.Current() != nil {
		t.Fatal("metadata for a pod nobody created")
	}
	if m := kh.Current(); m == nil || field(kubeFields(t, m), "labels.app") != "known" {
		t.Fatal("a known pod lost its metadata in the outage")
	}

	s.StartAPIServer()
	c.pod("during", "n1", map[string]string{"app": "during"}, nil)
	waitMeta(t, dh, "the pod created after the outage", func(m *parser.KubeMeta) bool { return m != nil })
	waitFor(t, "the API to be up again", func() bool { return !p.apiDown() })
}

// TestKAPIRelistAfterGone: watches answered 410 Gone make the informers
// list again; a pod deleted and one created meanwhile are seen. The first
// requests ask for the API server's watch cache, never a quorum read of etcd.
func TestKAPIRelistAfterGone(t *testing.T) {
	s := kapitest.Start(t)
	c := &cluster{t: t, c: s.Admin, ns: "shop"}
	c.namespace(nil)
	c.pod("a", "n1", map[string]string{"v": "1"}, nil)
	px := newAPIProxy(t, s)
	p := startProvider(t, px.config(), nil)
	for _, r := range px.requests() {
		if !strings.Contains(r, "resourceVersion=0") && !strings.Contains(r, "sendInitialEvents=true") {
			t.Errorf("initial request %q is not served from the watch cache (resourceVersion=0 or a watch list)", r)
		}
		if strings.Contains(r, "/pods") && !strings.Contains(r, "fieldSelector=spec.nodeName%3Dn1") {
			t.Errorf("pod request %q is not limited to this node", r)
		}
	}

	px.gone.Store(1000)
	px.srv.CloseClientConnections() // break the current watches
	b := c.pod("b", "n1", map[string]string{"v": "b"}, nil)
	before := len(px.requests())
	waitFor(t, "watches answered 410", func() bool { return px.gone.Load() < 1000-3 })
	px.gone.Store(0)
	hb := p.Lookup(parser.PathMeta{PodUID: string(b.UID)})
	waitMeta(t, hb, "the pod created during the 410s", func(m *parser.KubeMeta) bool { return m != nil })
	relisted := false
	for _, r := range px.requests()[before:] {
		if strings.HasPrefix(r, "GET /api/v1/pods?") && !strings.Contains(r, "watch=true") || strings.Contains(r, "sendInitialEvents=true") {
			relisted = true
		}
	}
	if !relisted {
		t.Errorf("no relist after 410 Gone; requests: %v", px.requests()[before:])
	}
	if p.apiDown() {
		t.Error("410 Gone counted as an outage")
	}
}

// TestKAPISlowServer: an API server that does not answer at all (requests
// hang) never makes shipping wait beyond Config.Wait per unknown file.
func TestKAPISlowServer(t *testing.T) {
	s := kapitest.Start(t)
	c := &cluster{t: t, c: s.Admin, ns: "shop"}
	c.namespace(nil)
	px := newAPIProxy(t, s)
	px.hold.Store(true)
	client, _ := NewPodsClient(px.config())
	meta, _ := metadata.NewForConfig(px.config())
	p, err := New(Config{NodeName: "n1", Client: client, Metadata: meta, StartJitter: -1, Wait: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = p.Run(ctx) }()
	defer func() { cancel(); px.release(); <-done }()
	pod := c.pod("x", "n1", nil, nil)
	h := p.Lookup(parser.PathMeta{PodUID: string(pod.UID)}) // returns after Wait: nothing answers
	if h.Current() != nil {
		t.Fatal("metadata from a server that never answered")
	}
	px.release()
	waitMeta(t, h, "the pod once the server answers", func(m *parser.KubeMeta) bool { return m != nil })
}

func typesUID(s string) types.UID { return types.UID(s) }

func testutilGauge(g prometheus.Gauge) float64 { return testutil.ToFloat64(g) }

// BenchmarkProviderHeap110Pods reports the live heap a running provider
// holds for a full node (110 pods with labels, annotations and owners) in a
// cluster of 1,000 ReplicaSets and 200 Jobs, against a real API server:
// informers, caches, snapshots and all, measured after GC as the growth
// from before the provider started.
func BenchmarkProviderHeap110Pods(b *testing.B) {
	s := kapitest.Start(b)
	ctx := context.Background()
	if _, err := s.Admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	create := func(n int, f func(i int) error) {
		var wg sync.WaitGroup
		errs := make(chan error, n)
		sem := make(chan struct{}, 16)
		for i := range n {
			wg.Add(1)
			sem <- struct{}{}
			go func() { defer wg.Done(); defer func() { <-sem }(); errs <- f(i) }()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	create(1000, func(i int) error {
		_, err := s.Admin.AppsV1().ReplicaSets("shop").Create(ctx, &appsv1.ReplicaSet{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("web%d-7d9f8b6c5", i), Labels: map[string]string{"app": "x"},
				OwnerReferences: controller("Deployment", "apps/v1", fmt.Sprintf("web%d", i), fmt.Sprintf("uid-%d", i))},
			Spec: appsv1.ReplicaSetSpec{Selector: selector, Template: podTemplate},
		}, metav1.CreateOptions{})
		return err
	})
	create(200, func(i int) error {
		_, err := s.Admin.BatchV1().Jobs("shop").Create(ctx, &batchv1.Job{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("job-%d", i)},
			Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
				Containers: []corev1.Container{{Name: "c", Image: "img"}}}}},
		}, metav1.CreateOptions{})
		return err
	})
	create(110, func(i int) error {
		pod := realisticPod(i)
		pod.Namespace, pod.UID, pod.ResourceVersion, pod.ManagedFields = "shop", "", "", nil
		pod.OwnerReferences = controller("ReplicaSet", "apps/v1", fmt.Sprintf("web%d-7d9f8b6c5", i), "uid-rs")
		_, err := s.Admin.CoreV1().Pods("shop").Create(ctx, pod, metav1.CreateOptions{})
		return err
	})
	for b.Loop() {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		p, stop := runProvider(b, s.Config(), func(c *Config) {
			c.Annotations = Filter{Include: []string{"team"}}
			c.Logger = slog.New(slog.DiscardHandler)
		})
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/(1<<20), "MiB")
		runtime.KeepAlive(p)
		stop()
	}
}
