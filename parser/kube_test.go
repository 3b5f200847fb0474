package parser

import (
	"strings"
	"testing"
)

func TestParsePath(t *testing.T) {
	const (
		id  = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
		uid = "11111111-2222-3333-4444-555555555555"
	)
	tests := []struct {
		name     string
		path     string
		resolved string
		want     PathMeta
	}{
		{
			name: "a kubelet symlink name gives pod, namespace, container and id",
			path: "/var/log/containers/web-7d9f_default_nginx-" + id + ".log",
			want: PathMeta{PodName: "web-7d9f", Namespace: "default", ContainerName: "nginx", ContainerID: id, RestartCount: -1},
		},
		{
			name:     "the resolved pods path adds the uid and restart count",
			path:     "/var/log/containers/web-7d9f_default_nginx-" + id + ".log",
			resolved: "/var/log/pods/default_web-7d9f_" + uid + "/nginx/3.log",
			want:     PathMeta{PodName: "web-7d9f", Namespace: "default", ContainerName: "nginx", ContainerID: id, PodUID: uid, RestartCount: 3},
		},
		{
			name: "pod names with dots and dashes and container names with dashes parse",
			path: "/var/log/containers/my.app-v1.2-abcde_kube-system_side-car-x-" + id + ".log",
			want: PathMeta{PodName: "my.app-v1.2-abcde", Namespace: "kube-system", ContainerName: "side-car-x", ContainerID: id, RestartCount: -1},
		},
		{
			name: "a path under /var/log/pods itself parses",
			path: "/var/log/pods/ns1_pod.a-b_" + uid + "/app/0.log",
			want: PathMeta{Namespace: "ns1", PodName: "pod.a-b", PodUID: uid, ContainerName: "app", RestartCount: 0},
		},
		{
			name: "a rotated pods file keeps its restart count",
			path: "/var/log/pods/ns1_pod_" + uid + "/app/12.log.20240501-100000",
			want: PathMeta{Namespace: "ns1", PodName: "pod", PodUID: uid, ContainerName: "app", RestartCount: 12},
		},
		{
			name: "a static pod's hash uid is accepted",
			path: "/var/log/pods/kube-system_etcd-node1_0123456789abcdef0123456789abcdef/etcd/1.log",
			want: PathMeta{Namespace: "kube-system", PodName: "etcd-node1", PodUID: "0123456789abcdef0123456789abcdef", ContainerName: "etcd", RestartCount: 1},
		},
		{
			name: "docker's own json-file path gives the container id",
			path: "/var/lib/docker/containers/" + id + "/" + id + "-json.log",
			want: PathMeta{ContainerID: id, Runtime: "docker", RestartCount: -1},
		},
		{
			name: "a rotated docker json-file path gives the container id",
			path: "/var/lib/docker/containers/" + id + "/" + id + "-json.log.3",
			want: PathMeta{ContainerID: id, Runtime: "docker", RestartCount: -1},
		},
		{
			name:     "a symlink resolved to docker's file keeps the kubelet names",
			path:     "/var/log/containers/web_default_nginx-" + id + ".log",
			resolved: "/var/lib/docker/containers/" + id + "/" + id + "-json.log",
			want:     PathMeta{PodName: "web", Namespace: "default", ContainerName: "nginx", ContainerID: id, Runtime: "docker", RestartCount: -1},
		},
		{
			name: "a host-mounted prefix does not matter",
			path: "/host/var/log/containers/web_default_nginx-" + id + ".log",
			want: PathMeta{PodName: "web", Namespace: "default", ContainerName: "nginx", ContainerID: id, RestartCount: -1},
		},
		{
			name: "a containers name with a short id gives nothing",
			path: "/var/log/containers/web_default_nginx-0123.log",
			want: PathMeta{RestartCount: -1},
		},
		{
			name: "a containers name with too few fields gives nothing",
			path: "/var/log/containers/web-nginx-" + id + ".log",
			want: PathMeta{RestartCount: -1},
		},
		{
			name: "a pods path with a non-numeric file name gives nothing",
			path: "/var/log/pods/ns_pod_" + uid + "/app/current.log",
			want: PathMeta{RestartCount: -1},
		},
		{
			name: "an unrelated path gives nothing",
			path: "/var/log/syslog",
			want: PathMeta{RestartCount: -1},
		},
		{
			name: "an empty path gives nothing",
			want: PathMeta{RestartCount: -1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ParsePath(tt.path, tt.resolved); got != tt.want {
				t.Fatalf("ParsePath(%q, %q)\n got %+v\nwant %+v", tt.path, tt.resolved, got, tt.want)
			}
		})
	}
}

func FuzzParsePath(f *testing.F) {
	f.Add("/var/log/containers/a_b_c-" + strings.Repeat("a", 64) + ".log")
	f.Add("/var/log/pods/a_b_c/d/0.log")
	f.Fuzz(func(t *testing.T, p string) {
		m := ParsePath(p, p)
		for _, s := range []string{m.Namespace, m.PodName} {
			if strings.Contains(s, "_") {
				t.Fatalf("ParsePath(%q) gave a name with '_': %+v", p, m)
			}
		}
		// Whatever the path, the metadata must encode into a valid document.
		d := NewDecoder(Config{NodeName: testNode, Now: testConfig().Now}, Source{Path: p, FileKey: testFileKey})
		recs := d.Decode(nil, Line{Bytes: []byte("2024-05-01T10:00:00Z stdout F x")})
		mustDoc(t, recs[0])
	})
}
