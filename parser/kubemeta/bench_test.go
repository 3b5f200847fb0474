package kubemeta

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// realisticPod is a pod as the API server sends it: eight labels, the
// annotations kubectl and controllers leave (last-applied-configuration is
// kilobytes), managed fields, two containers with full specs, a status.
func realisticPod(i int) *corev1.Pod {
	big := strings.Repeat(`{"apiVersion":"apps/v1","kind":"Deployment","spec":{"template":{"spec":{"containers":[{"name":"web"}]}}}}`, 20)
	var managed []metav1.ManagedFieldsEntry
	for j := range 4 {
		managed = append(managed, metav1.ManagedFieldsEntry{Manager: fmt.Sprintf("m%d", j), Operation: metav1.ManagedFieldsOperationUpdate,
			FieldsV1: &metav1.FieldsV1{Raw: []byte(strings.Repeat(`{"f:metadata":{"f:labels":{}}}`, 30))}})
	}
	ctr := func(name string) corev1.Container {
		return corev1.Container{Name: name, Image: "registry.example.com/shop/" + name + ":1.4.2", Command: []string{"/bin/" + name, "--port=8080"},
			Env: []corev1.EnvVar{{Name: "A", Value: "1"}, {Name: "B", Value: "2"}}, Ports: []corev1.ContainerPort{{ContainerPort: int32(8080 + len(name))}}}
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: fmt.Sprintf("web-7d9f8b6c5-%05d", i), Namespace: fmt.Sprintf("team-%d", i%10), UID: types.UID(fmt.Sprintf("%08d-1111-2222-3333-444444444444", i)),
			Labels: map[string]string{"app": "web", "app.kubernetes.io/name": "web", "app.kubernetes.io/instance": "web-prod",
				"app.kubernetes.io/version": "1.4.2", "app.kubernetes.io/component": "frontend", "app.kubernetes.io/part-of": "shop",
				"pod-template-hash": "7d9f8b6c5", "tier": "frontend"},
			Annotations: map[string]string{"kubectl.kubernetes.io/last-applied-configuration": big, "prometheus.io/scrape": "true",
				"prometheus.io/port": "8080", "team": "shop"},
			OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "web-7d9f8b6c5", UID: "rs", Controller: ptr(true)}},
			ManagedFields:   managed,
		},
		Spec:   corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{ctr("web"), ctr("sidecar")}},
		Status: corev1.PodStatus{PodIP: "10.244.1.17", Phase: corev1.PodRunning},
	}
}

// BenchmarkCacheMemory110Pods reports the heap a full node's metadata keeps
// (110 pods, as stripped objects in the informer cache plus their encoded
// snapshots) and 2,000 cached ReplicaSets of the cluster, measured as the
// live heap growth after GC. The annotations include list is "team", the
// default label filter takes every label.
func BenchmarkCacheMemory110Pods(b *testing.B) {
	p := &Provider{cfg: Config{Annotations: Filter{Include: []string{"team"}}}.withDefaults()}
	var keep []any
	for b.Loop() {
		keep = nil
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		for i := range 110 {
			obj, _ := p.stripPod(realisticPod(i))
			pod := obj.(*corev1.Pod)
			keep = append(keep, pod, encodePod(pod, owners{replicaSet: "web-7d9f8b6c5", deployment: "web"}, p.cfg.Labels.labels, nil, uint64(i)))
		}
		for i := range 2000 {
			obj, _ := stripOwned(&metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("rs-%d", i), Namespace: "ns",
				UID: types.UID(fmt.Sprintf("%036d", i)), Labels: map[string]string{"app": "x", "pod-template-hash": "abc"},
				Annotations:     map[string]string{"deployment.kubernetes.io/revision": "3"},
				OwnerReferences: []metav1.OwnerReference{{Kind: "Deployment", Name: fmt.Sprintf("d-%d", i), UID: "u", Controller: ptr(true)}}}})
			keep = append(keep, obj)
		}
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "MiB")
	}
	runtime.KeepAlive(keep)
}

// BenchmarkHandleCurrent is what a decoder pays per line for the metadata:
// one Current call on its handle while nothing changes.
func BenchmarkHandleCurrent(b *testing.B) {
	e := &entry{ready: make(chan struct{})}
	e.cur.Store(encodePod(realisticPod(1), owners{}, (&Filter{}).labels, nil, 1))
	h := &handle{e: e, container: "web"}
	var m any
	for b.Loop() {
		m = h.Current()
	}
	runtime.KeepAlive(m)
}
