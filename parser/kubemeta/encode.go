package kubemeta

import (
	"bytes"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/logspool/logspool/parser"
	"github.com/logspool/logspool/spool/record"
)

// owners are the workload names of a pod, from its controller owner and, for
// a ReplicaSet or a Job, that owner's controller.
type owners struct {
	replicaSet, deployment, statefulSet, daemonSet, job, cronJob string
}

// podMeta is one immutable snapshot of a pod's metadata: the encoded members
// for each of its containers.
type podMeta struct {
	uid        string
	containers map[string]*parser.KubeMeta
	other      *parser.KubeMeta // for containers the spec does not name
}

// forContainer returns the snapshot of one container (nil for a nil p).
func (p *podMeta) forContainer(name string) *parser.KubeMeta {
	if p == nil {
		return nil
	}
	if m, ok := p.containers[name]; ok {
		return m
	}
	return p.other
}

// sameAs reports whether q encodes exactly what p does (versions aside).
func (p *podMeta) sameAs(q *podMeta) bool {
	if p == nil || q == nil || p.uid != q.uid || len(p.containers) != len(q.containers) || !sameMeta(p.other, q.other) {
		return false
	}
	for name, m := range p.containers {
		if !sameMeta(m, q.containers[name]) {
			return false
		}
	}
	return true
}

func sameMeta(a, b *parser.KubeMeta) bool {
	return a != nil && b != nil && bytes.Equal(a.Kubernetes, b.Kubernetes) && bytes.Equal(a.Pod, b.Pod) && bytes.Equal(a.Container, b.Container)
}

// encodePod encodes a pod's snapshot with the given version. The pod's labels
// are filtered with labels here; its annotations were filtered by stripPod;
// nsLabels are the namespace's filtered labels (nil when off or unknown).
func encodePod(pod *corev1.Pod, own owners, labels func(string) bool, nsLabels map[string]string, version uint64) *podMeta {
	var k []byte
	if n := pod.Spec.NodeName; n != "" {
		k = appendNamed(k, "node", n)
	}
	k = appendMap(k, "labels", filterMap(pod.Labels, labels))
	k = appendMap(k, "annotations", pod.Annotations)
	k = appendMap(k, "namespace_labels", nsLabels)
	for _, o := range []struct{ field, name string }{
		{"replicaset", own.replicaSet}, {"deployment", own.deployment},
		{"statefulset", own.statefulSet}, {"daemonset", own.daemonSet},
		{"job", own.job}, {"cronjob", own.cronJob},
	} {
		if o.name != "" {
			k = appendNamed(k, o.field, o.name)
		}
	}
	var pm []byte
	if ip := pod.Status.PodIP; ip != "" {
		pm = append(pm, `,"ip":`...)
		pm = appendString(pm, ip)
	}
	p := &podMeta{
		uid:        string(pod.UID),
		containers: map[string]*parser.KubeMeta{},
		other:      &parser.KubeMeta{Version: version, Kubernetes: k, Pod: pm},
	}
	add := func(name, image string) {
		if name == "" {
			return
		}
		m := &parser.KubeMeta{Version: version, Kubernetes: k, Pod: pm}
		if image != "" {
			m.Container = appendNamed(nil, "image", image)
		}
		p.containers[name] = m
	}
	for _, c := range pod.Spec.InitContainers {
		add(c.Name, c.Image)
	}
	for _, c := range pod.Spec.Containers {
		add(c.Name, c.Image)
	}
	for _, c := range pod.Spec.EphemeralContainers {
		add(c.Name, c.Image)
	}
	return p
}

// appendNamed appends ,"field":{"name":"value"}.
func appendNamed(b []byte, field, value string) []byte {
	b = append(b, `,"`...)
	b = append(b, field...)
	b = append(b, `":{"name":`...)
	b = appendString(b, value)
	return append(b, '}')
}

// appendMap appends ,"field":{...} with the keys de-dotted and sorted; nothing
// for an empty map. Keys that are equal once de-dotted ("a.b" and "a_b") would
// be duplicate JSON keys, which Elasticsearch refuses: the first in byte order
// of the original keys wins.
func appendMap(b []byte, field string, m map[string]string) []byte {
	if len(m) == 0 {
		return b
	}
	keys := make([]string, 0, len(m))
	for key := range m {
		keys = append(keys, key)
	}
	slices.Sort(keys)
	b = append(b, `,"`...)
	b = append(b, field...)
	b = append(b, `":{`...)
	seen := make(map[string]bool, len(keys))
	first := true
	for _, key := range keys {
		d := Dedot(key)
		if seen[d] {
			continue
		}
		seen[d] = true
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendString(b, d)
		b = append(b, ':')
		b = appendString(b, m[key])
	}
	return append(b, '}')
}

// Dedot returns a label or annotation key as Filebeat's
// add_kubernetes_metadata writes it (labels.dedot and annotations.dedot,
// both on by default): every '.' replaced by '_', so that
// app.kubernetes.io/name becomes app_kubernetes_io/name and never turns into
// nested objects.
func Dedot(key string) string { return strings.ReplaceAll(key, ".", "_") }

func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	b, _ = record.AppendEscaped(b, []byte(s))
	return append(b, '"')
}
