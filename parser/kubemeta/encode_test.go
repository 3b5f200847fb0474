package kubemeta

import (
	"encoding/json"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, key string
		want         bool
	}{
		{"app", "app", true},
		{"app", "apps", false},
		{"app*", "app.kubernetes.io/name", true},
		{"*", "", true},
		{"*/name", "app.kubernetes.io/name", true},
		{"*/name", "app.kubernetes.io/names", false},
		{"a*b*c", "a-x-b-y-c", true},
		{"a*b*c", "a-x-c-y-b", false},
		{"a*a", "a", false},
		{"team*", "tea", false},
		{"*io*", "app.kubernetes.io/name", true},
	} {
		if got := match(tc.pattern, tc.key); got != tc.want {
			t.Errorf("match(%q, %q) = %v, want %v", tc.pattern, tc.key, got, tc.want)
		}
	}
}

func TestFilters(t *testing.T) {
	all := Filter{}
	if !all.labels("x") || all.annotations("x") {
		t.Error("an empty filter must select every label and no annotation")
	}
	f := Filter{Include: []string{"app*", "team"}, Exclude: []string{"app.kubernetes.io/managed-by"}}
	for key, want := range map[string]bool{"app": true, "app.kubernetes.io/name": true, "team": true,
		"app.kubernetes.io/managed-by": false, "tier": false} {
		if f.labels(key) != want || f.annotations(key) != want {
			t.Errorf("filter(%q) = %v/%v, want %v", key, f.labels(key), f.annotations(key), want)
		}
	}
}

// decodeMembers parses encoded members (",\"a\":...") as the object {...}.
func decodeMembers(t *testing.T, members []byte) map[string]any {
	t.Helper()
	if len(members) == 0 {
		return map[string]any{}
	}
	if members[0] != ',' {
		t.Fatalf("members %q do not start with ','", members)
	}
	var m map[string]any
	if err := json.Unmarshal(append(append([]byte{'{'}, members[1:]...), '}'), &m); err != nil {
		t.Fatalf("members %q: %v", members, err)
	}
	return m
}

func TestEncodePod(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: "web-abc", Namespace: "shop", UID: "u1",
			Labels: map[string]string{"app.kubernetes.io/name": "web", "app_kubernetes_io/name": "collides",
				"tier": "front", "secret": "drop", "quote\"d": "v\n"},
			Annotations: map[string]string{"note": "hi"},
		},
		Spec: corev1.PodSpec{NodeName: "n1",
			InitContainers: []corev1.Container{{Name: "init", Image: "busybox:1"}},
			Containers:     []corev1.Container{{Name: "nginx", Image: "nginx:1.27"}, {Name: "noimage"}},
		},
		Status: corev1.PodStatus{PodIP: "10.1.2.3"},
	}
	own := owners{replicaSet: "web-5d8f", deployment: "web"}
	labels := Filter{Exclude: []string{"secret"}}
	p := encodePod(pod, own, labels.labels, map[string]string{"env": "prod"}, 7)

	m := p.forContainer("nginx")
	if m.Version != 7 {
		t.Errorf("version %d, want 7", m.Version)
	}
	k := decodeMembers(t, m.Kubernetes)
	want := map[string]any{
		"node": map[string]any{"name": "n1"},
		"labels": map[string]any{"app_kubernetes_io/name": "web", // "app.k..." < "app_k..."
			"tier": "front", "quote\"d": "v\n"},
		"annotations":      map[string]any{"note": "hi"},
		"namespace_labels": map[string]any{"env": "prod"},
		"replicaset":       map[string]any{"name": "web-5d8f"},
		"deployment":       map[string]any{"name": "web"},
	}
	if got, _ := json.Marshal(k); string(got) != mustJSON(t, want) {
		t.Errorf("kubernetes members\n got %s\nwant %s", got, mustJSON(t, want))
	}
	if got := decodeMembers(t, m.Pod); got["ip"] != "10.1.2.3" {
		t.Errorf("pod members %v", got)
	}
	for name, image := range map[string]any{"nginx": "nginx:1.27", "init": "busybox:1", "noimage": nil, "sidecar-not-in-spec": nil} {
		c := decodeMembers(t, p.forContainer(name).Container)
		var got any
		if img, ok := c["image"].(map[string]any); ok {
			got = img["name"]
		}
		if got != image {
			t.Errorf("container %s: image %v, want %v", name, got, image)
		}
	}

	q := encodePod(pod, own, labels.labels, map[string]string{"env": "prod"}, 8)
	if !p.sameAs(q) {
		t.Error("the same pod encoded twice is not sameAs")
	}
	pod.Labels["tier"] = "back"
	if p.sameAs(encodePod(pod, own, labels.labels, map[string]string{"env": "prod"}, 9)) {
		t.Error("a changed label is sameAs")
	}
	if p.sameAs(encodePod(pod, owners{}, labels.labels, nil, 9)) {
		t.Error("lost owners are sameAs")
	}
}

func TestEncodeEmptyPod(t *testing.T) {
	p := encodePod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{UID: "u"}}, owners{}, (&Filter{}).labels, nil, 1)
	m := p.forContainer("x")
	if len(m.Kubernetes) != 0 || len(m.Pod) != 0 || len(m.Container) != 0 {
		t.Errorf("a pod without metadata encodes %q %q %q", m.Kubernetes, m.Pod, m.Container)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
