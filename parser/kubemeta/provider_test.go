package kubemeta

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	kfake "k8s.io/client-go/kubernetes/fake"
	mfake "k8s.io/client-go/metadata/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/logspool/logspool/parser"
)

// Unit tests on client-go's fake clients. The proofs against a real API
// server are in kapi_test.go.

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// klog's flush daemon, started by client-go's init.
		goleak.IgnoreTopFunction("k8s.io/klog/v2.(*loggingT).flushDaemon"))
}

// fakePods is a fake clientset's pods client, which, like the fake
// clientset, tells the reflector that it cannot stream the initial list.
type fakePods struct{ PodsClient }

func (fakePods) IsWatchListSemanticsUnSupported() bool { return true }

func fakePodsOf(c *kfake.Clientset) PodsClient { return fakePods{c.CoreV1().Pods("")} }

// fakeEnv is a provider on fake clients, running until the test ends.
type fakeEnv struct {
	p     *Provider
	kube  *kfake.Clientset
	meta  *mfake.FakeMetadataClient
	clock *fakeClock
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }
func newFakeClock() *fakeClock           { return &fakeClock{now: time.Unix(1_700_000_000, 0)} }
func ptr[T any](v T) *T                  { return &v }
func ctxT(t *testing.T) context.Context  { return t.Context() }
func ownerRef(kind, name string) []metav1.OwnerReference {
	return []metav1.OwnerReference{{Kind: kind, Name: name, UID: types.UID("uid-" + name), Controller: ptr(true)}}
}

func startFake(t *testing.T, mod func(*Config), objs ...runtime.Object) *fakeEnv {
	t.Helper()
	var kubeObjs, metaObjs []runtime.Object
	for _, o := range objs {
		if _, ok := o.(*metav1.PartialObjectMetadata); ok {
			metaObjs = append(metaObjs, o)
		} else {
			kubeObjs = append(kubeObjs, o)
		}
	}
	scheme := mfake.NewTestScheme()
	if err := metav1.AddMetaToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	env := &fakeEnv{kube: kfake.NewClientset(kubeObjs...), meta: mfake.NewSimpleMetadataClient(scheme, metaObjs...), clock: newFakeClock()}
	cfg := Config{NodeName: "n1", Client: fakePodsOf(env.kube), Metadata: env.meta, StartJitter: -1, Wait: 5 * time.Second, Now: env.clock.Now}
	if mod != nil {
		mod(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	env.p = p
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = p.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return env
}

func (env *fakeEnv) waitSynced(t *testing.T) {
	t.Helper()
	select {
	case <-env.p.Synced():
	case <-time.After(30 * time.Second):
		t.Fatal("the provider did not sync")
	}
}

func testPod(name, uid string, labels map[string]string, owner []metav1.OwnerReference) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", UID: types.UID(uid), Labels: labels, OwnerReferences: owner,
			Annotations: map[string]string{"kubectl.kubernetes.io/last-applied-configuration": strings.Repeat("x", 1000), "team": "a"}},
		Spec:   corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Image: "img:1"}}},
		Status: corev1.PodStatus{PodIP: "10.0.0.1"},
	}
}

func metaObj(apiVersion, kind, ns, name string, owner []metav1.OwnerReference) *metav1.PartialObjectMetadata {
	return &metav1.PartialObjectMetadata{
		TypeMeta:   metav1.TypeMeta{APIVersion: apiVersion, Kind: kind},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + name), OwnerReferences: owner},
	}
}

// kubeFields decodes a snapshot's "kubernetes" members.
func kubeFields(t *testing.T, m *parser.KubeMeta) map[string]any {
	t.Helper()
	if m == nil {
		t.Fatal("no metadata")
	}
	return decodeMembers(t, m.Kubernetes)
}

func field(m map[string]any, path string) any {
	var v any = m
	for _, k := range strings.Split(path, ".") {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

// waitMeta polls h until cond holds for its snapshot.
func waitMeta(t *testing.T, h parser.KubeHandle, what string, cond func(*parser.KubeMeta) bool) *parser.KubeMeta {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		m := h.Current()
		if cond(m) {
			return m
		}
		if time.Now().After(deadline) {
			var got []byte
			if m != nil {
				got, _ = json.Marshal(map[string]string{"kubernetes": string(m.Kubernetes), "pod": string(m.Pod)})
			}
			t.Fatalf("timed out waiting for %s; last metadata %s", what, got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFakeOwnersAndLabels(t *testing.T) {
	env := startFake(t, func(c *Config) { c.Annotations = Filter{Include: []string{"team"}} },
		testPod("web-1", "p1", map[string]string{"app": "web", "pod-template-hash": "h"}, ownerRef("ReplicaSet", "web-rs")),
		testPod("cron-1", "p2", nil, ownerRef("Job", "nightly-1")),
		metaObj("apps/v1", "ReplicaSet", "shop", "web-rs", ownerRef("Deployment", "web")),
		metaObj("batch/v1", "Job", "shop", "nightly-1", ownerRef("CronJob", "nightly")),
	)
	env.waitSynced(t)
	h := env.p.Lookup(parser.PathMeta{PodUID: "p1", ContainerName: "c"})
	k := kubeFields(t, h.Current())
	for path, want := range map[string]any{"labels.app": "web", "replicaset.name": "web-rs", "deployment.name": "web",
		"node.name": "n1", "annotations.team": "a"} {
		if got := field(k, path); got != want {
			t.Errorf("kubernetes.%s = %v, want %v", path, got, want)
		}
	}
	if field(k, "annotations.kubectl_kubernetes_io/last-applied-configuration") != nil {
		t.Error("an annotation outside the include list was written")
	}
	if got := string(h.Current().Container); got != `,"image":{"name":"img:1"}` {
		t.Errorf("container members %s", got)
	}
	k = kubeFields(t, env.p.Lookup(parser.PathMeta{Namespace: "shop", PodName: "cron-1", ContainerName: "c"}).Current())
	if field(k, "job.name") != "nightly-1" || field(k, "cronjob.name") != "nightly" {
		t.Errorf("job owner fields %v", k)
	}
}

// TestFakeOwnerArrivesLater: a ReplicaSet delivered after its pod updates the
// pod's snapshot (a new version) with the Deployment.
func TestFakeOwnerArrivesLater(t *testing.T) {
	env := startFake(t, nil, testPod("web-1", "p1", map[string]string{"app": "web"}, ownerRef("ReplicaSet", "web-rs")))
	env.waitSynced(t)
	h := env.p.Lookup(parser.PathMeta{PodUID: "p1", ContainerName: "c"})
	first := h.Current()
	if field(kubeFields(t, first), "deployment.name") != nil {
		t.Fatal("a deployment without its ReplicaSet")
	}
	rs := metaObj("apps/v1", "ReplicaSet", "shop", "web-rs", ownerRef("Deployment", "web"))
	if _, err := env.meta.Resource(gvrReplicaSets).Namespace("shop").(mfake.MetadataClient).CreateFake(rs, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	m := waitMeta(t, h, "the deployment", func(m *parser.KubeMeta) bool { return field(kubeFields(t, m), "deployment.name") == "web" })
	if m.Version <= first.Version {
		t.Errorf("version went from %d to %d", first.Version, m.Version)
	}
}

// TestFakeDeploymentFallback: without its ReplicaSet in the cache, a pod
// whose ReplicaSet is named <deployment>-<pod-template-hash> still gets the
// Deployment's name.
func TestFakeDeploymentFallback(t *testing.T) {
	env := startFake(t, nil,
		testPod("web-7c9-x", "p1", map[string]string{"pod-template-hash": "7c9"}, ownerRef("ReplicaSet", "web-7c9")),
		testPod("odd-1", "p2", map[string]string{"pod-template-hash": "zzz"}, ownerRef("ReplicaSet", "odd-abc")))
	env.waitSynced(t)
	if got := field(kubeFields(t, env.p.Lookup(parser.PathMeta{PodUID: "p1"}).Current()), "deployment.name"); got != "web" {
		t.Errorf("deployment %v, want web", got)
	}
	if got := field(kubeFields(t, env.p.Lookup(parser.PathMeta{PodUID: "p2"}).Current()), "deployment.name"); got != nil {
		t.Errorf("deployment %v from a name that does not end in the hash", got)
	}
}

// TestFakeUnknownPodWaitsThenArrives: the lookup of a pod the watch has not
// delivered waits; a pod created meanwhile ends the wait with its metadata.
func TestFakeUnknownPodWaitsThenArrives(t *testing.T) {
	env := startFake(t, nil)
	env.waitSynced(t)
	go func() {
		time.Sleep(100 * time.Millisecond)
		_, _ = env.kube.CoreV1().Pods("shop").Create(context.Background(), testPod("late", "p9", map[string]string{"app": "late"}, nil), metav1.CreateOptions{})
	}()
	h := env.p.Lookup(parser.PathMeta{PodUID: "p9", ContainerName: "c"})
	if m := h.Current(); m == nil || field(kubeFields(t, m), "labels.app") != "late" {
		t.Fatalf("the lookup returned before the pod arrived: %v", m)
	}
}

// TestFakeUnknownPodTimesOut: a pod that never shows up makes the lookup
// return after Config.Wait with no metadata; when the pod appears later the
// same handle picks it up.
func TestFakeUnknownPodTimesOut(t *testing.T) {
	env := startFake(t, func(c *Config) { c.Wait = 50 * time.Millisecond })
	env.waitSynced(t)
	h := env.p.Lookup(parser.PathMeta{PodUID: "p9", ContainerName: "c"})
	if m := h.Current(); m != nil {
		t.Fatalf("metadata %v for an unknown pod", m)
	}
	if _, err := env.kube.CoreV1().Pods("shop").Create(context.Background(), testPod("late", "p9", nil, nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitMeta(t, h, "the late pod", func(m *parser.KubeMeta) bool { return m != nil })
}

// TestFakeDeleteGrace: a deleted pod stays available to lookups for
// DeleteGrace, then is gone; a handle taken before keeps its metadata.
func TestFakeDeleteGrace(t *testing.T) {
	env := startFake(t, func(c *Config) { c.DeleteGrace = time.Minute; c.Wait = -1 },
		testPod("web-1", "p1", map[string]string{"app": "web"}, nil))
	env.waitSynced(t)
	before := env.p.Lookup(parser.PathMeta{PodUID: "p1", ContainerName: "c"})
	if err := env.kube.CoreV1().Pods("shop").Delete(context.Background(), "web-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the deletion to be seen", func() bool {
		env.p.mu.Lock()
		defer env.p.mu.Unlock()
		e := env.p.entries["u/p1"]
		return e != nil && !e.deletedAt.IsZero()
	})
	env.clock.Add(59 * time.Second)
	env.p.sweep()
	if env.p.Lookup(parser.PathMeta{PodUID: "p1"}).Current() == nil {
		t.Fatal("a pod deleted 59 s ago lost its metadata")
	}
	env.clock.Add(2 * time.Second)
	env.p.sweep()
	if m := env.p.Lookup(parser.PathMeta{PodUID: "p1"}).Current(); m != nil {
		t.Fatalf("a pod deleted 61 s ago still has metadata: %s", m.Kubernetes)
	}
	if before.Current() == nil {
		t.Fatal("a handle taken before the deletion lost its metadata")
	}
}

// TestFakeStatusUpdateKeepsSnapshot: an update that changes nothing written
// (a status change other than the IP) keeps the same snapshot pointer, so
// decoders do not re-encode.
func TestFakeStatusUpdateKeepsSnapshot(t *testing.T) {
	pod := testPod("web-1", "p1", map[string]string{"app": "web"}, nil)
	env := startFake(t, nil, pod)
	env.waitSynced(t)
	h := env.p.Lookup(parser.PathMeta{PodUID: "p1", ContainerName: "c"})
	first := h.Current()
	pod = pod.DeepCopy()
	pod.Status.Phase = corev1.PodRunning
	pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	if _, err := env.kube.CoreV1().Pods("shop").UpdateStatus(context.Background(), pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod.Labels = map[string]string{"app": "web", "v": "2"}
	if _, err := env.kube.CoreV1().Pods("shop").Update(context.Background(), pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitMeta(t, h, "the new label", func(m *parser.KubeMeta) bool { return field(kubeFields(t, m), "labels.v") == "2" })
	// Two events, one of which changed a label: exactly one new version.
	if v := h.Current().Version; v != first.Version+1 {
		t.Errorf("version %d after one status and one label update from %d: want %d", v, first.Version, first.Version+1)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{NodeName: "n", Client: fakePodsOf(kfake.NewClientset()), Metadata: mfake.NewSimpleMetadataClient(mfake.NewTestScheme())}
	for _, tc := range []struct {
		name  string
		mod   func(*Config)
		field string
	}{
		{"a node name is required", func(c *Config) { c.NodeName = "" }, "NodeName"},
		{"a client is required", func(c *Config) { c.Client = nil }, "Client"},
		{"a metadata client is required", func(c *Config) { c.Metadata = nil }, "Metadata"},
		{"a negative grace is refused", func(c *Config) { c.DeleteGrace = -1 }, "DeleteGrace"},
		{"an empty pattern is refused", func(c *Config) { c.Labels.Exclude = []string{""} }, "Labels.Exclude[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.mod(&c)
			err := c.Validate()
			ce, isCE := err.(*parser.ConfigError)
			if !isCE || ce.Field != tc.field || !errors.Is(err, parser.ErrInvalidConfig) {
				t.Fatalf("Validate() = %v, want a ConfigError on %s", err, tc.field)
			}
		})
	}
	if err := ok.Validate(); err != nil {
		t.Fatalf("a valid config: %v", err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestFakeJitteredStart: with a start delay, the provider sends nothing to
// the API server before it ends, and stopping during it returns at once.
func TestFakeJitteredStart(t *testing.T) {
	var asked time.Duration
	old := startDelay
	startDelay = func(max time.Duration) time.Duration { asked = max; return max }
	defer func() { startDelay = old }()
	kube := kfake.NewClientset(testPod("a", "p1", nil, nil))
	scheme := mfake.NewTestScheme()
	if err := metav1.AddMetaToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	meta := mfake.NewSimpleMetadataClient(scheme)
	p, err := New(Config{NodeName: "n1", Client: fakePodsOf(kube), Metadata: meta, StartJitter: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	time.Sleep(200 * time.Millisecond) // well inside the hour
	if n := len(kube.Actions()) + len(meta.Actions()); n != 0 {
		t.Fatalf("%d API calls during the start delay", n)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return when stopped during its start delay")
	}
	if asked != time.Hour {
		t.Errorf("start delay drawn below %v, want below Config.StartJitter (1h)", asked)
	}
	if (Config{}).withDefaults().StartJitter != DefaultStartJitter {
		t.Error("no default start jitter")
	}
}

// TestFakeDeletedPodsGoWithoutSync: when one watch never syncs (here the
// Jobs list is forbidden, as with RBAC that lacks it), deleted pods still
// leave the cache after their grace period.
func TestFakeDeletedPodsGoWithoutSync(t *testing.T) {
	kube := kfake.NewClientset(testPod("a", "p1", nil, nil))
	scheme := mfake.NewTestScheme()
	if err := metav1.AddMetaToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	meta := mfake.NewSimpleMetadataClient(scheme)
	meta.PrependReactor("list", "jobs", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(gvrJobs.GroupResource(), "", errors.New("no RBAC"))
	})
	clock := newFakeClock()
	p, err := New(Config{NodeName: "n1", Client: fakePodsOf(kube), Metadata: meta, StartJitter: -1, Wait: -1, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = p.Run(ctx) }()
	defer func() { cancel(); <-done }()
	h := p.Lookup(parser.PathMeta{PodUID: "p1"})
	waitMeta(t, h, "the pod", func(m *parser.KubeMeta) bool { return m != nil })
	if err := kube.CoreV1().Pods("shop").Delete(context.Background(), "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the deletion", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		e := p.entries["u/p1"]
		return e != nil && !e.deletedAt.IsZero()
	})
	clock.Add(DefaultDeleteGrace + time.Second)
	p.sweep()
	p.mu.Lock()
	n := len(p.entries)
	p.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d entries left after the grace period of the only, deleted, pod", n)
	}
}
