package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/logspool/logspool/parser/kubemeta/kapitest"
)

// TestKubernetesMetadataEndToEnd runs the binary against a real
// kube-apiserver with --kubeconfig and NODE_NAME, authenticated as the
// DaemonSet's service account bound by deploy/kubernetes/rbac.yaml (so the
// shipped RBAC is enough), and checks the documents: labels, the Deployment
// through its ReplicaSet, image, node and IP of a known pod; path metadata
// and the k8s_metadata_missing flag for a pod the API does not know; a label
// change in later lines.
func TestKubernetesMetadataEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level test")
	}
	s := kapitest.Start(t)
	ctx := kapitest.Ctx(t)
	admin := s.Admin

	// The shipped RBAC, as kubectl apply -k would create it.
	for _, ns := range []string{"logging", "shop"} {
		if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := admin.CoreV1().ServiceAccounts("logging").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "logspool"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rbac, err := os.ReadFile("../../deploy/kubernetes/rbac.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range strings.Split(string(rbac), "\n---\n") {
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
			t.Fatal(err)
		}
		switch tm.Kind {
		case "ClusterRole":
			var r rbacv1.ClusterRole
			if err := yaml.UnmarshalStrict([]byte(doc), &r); err != nil {
				t.Fatal(err)
			}
			_, err = admin.RbacV1().ClusterRoles().Create(ctx, &r, metav1.CreateOptions{})
		case "ClusterRoleBinding":
			var b rbacv1.ClusterRoleBinding
			if err := yaml.UnmarshalStrict([]byte(doc), &b); err != nil {
				t.Fatal(err)
			}
			_, err = admin.RbacV1().ClusterRoleBindings().Create(ctx, &b, metav1.CreateOptions{})
		default:
			t.Fatalf("rbac.yaml holds a %q", tm.Kind)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	tok, err := admin.CoreV1().ServiceAccounts("logging").CreateToken(ctx, "logspool",
		&authv1.TokenRequest{Spec: authv1.TokenRequestSpec{ExpirationSeconds: ptrTo(int64(3600))}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := s.KubeconfigFor(t, tok.Status.Token)

	// A Deployment's pod on this node (test-node, the harness's NODE_NAME).
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "nginx", Image: "nginx:1.27"}}}}
	dep, err := admin.AppsV1().Deployments("shop").Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{Selector: sel, Template: tmpl}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	yes := true
	rs, err := admin.AppsV1().ReplicaSets("shop").Create(ctx, &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-rs1",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: dep.UID, Controller: &yes}}},
		Spec: appsv1.ReplicaSetSpec{Selector: sel, Template: tmpl}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod, err := admin.CoreV1().Pods("shop").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-1",
		Labels:          map[string]string{"app": "web", "app.kubernetes.io/version": "1.0"},
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: &yes}}},
		Spec: corev1.PodSpec{NodeName: "test-node", Containers: []corev1.Container{{Name: "nginx", Image: "nginx:1.27"}}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	root := t.TempDir()
	known := writeKubeletLog(t, root, "shop", "web-1", string(pod.UID), "nginx", 1)
	unknown := writeKubeletLog(t, root, "shop", "ghost-1", "00000000-dead-beef-0000-000000000000", "app", 2)
	known.write(3)
	unknown.write(3)

	outPath := filepath.Join(t.TempDir(), "out.ndjson")
	out, err := os.Create(outPath)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	a := startAgent(t, out, "--containers-glob", filepath.Join(root, "containers", "*.log"),
		"--spool-dir", filepath.Join(t.TempDir(), "spool"), "--no-journal",
		"--kubeconfig", kubeconfig, "--k8s-metadata", "on")
	defer a.stop(t)

	docs := func() []kubeDoc {
		data, _ := os.ReadFile(outPath)
		var ds []kubeDoc
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var d kubeDoc
			if json.Unmarshal(sc.Bytes(), &d) == nil {
				ds = append(ds, d)
			}
		}
		return ds
	}
	waitFor(t, 60*time.Second, "6 documents", func() bool { return len(docs()) >= 6 })
	for _, d := range docs() {
		k := d.Kubernetes
		switch k.Pod.Name {
		case "web-1":
			if k.Labels["app"] != "web" || k.Labels["app_kubernetes_io/version"] != "1.0" || k.Deployment.Name != "web" ||
				k.ReplicaSet.Name != "web-rs1" || k.Node.Name != "test-node" || d.Container.Image.Name != "nginx:1.27" ||
				k.Namespace != "shop" || k.Pod.UID != string(pod.UID) || len(d.Log.Flags) != 0 {
				t.Errorf("known pod's document: %+v", d)
			}
		case "ghost-1":
			if k.Labels != nil || k.Namespace != "shop" || k.Container.Name != "app" ||
				len(d.Log.Flags) != 1 || d.Log.Flags[0] != "k8s_metadata_missing" {
				t.Errorf("unknown pod's document: %+v", d)
			}
		default:
			t.Errorf("document of pod %q", k.Pod.Name)
		}
	}

	// A label change reaches the documents of lines written after it.
	pod, err = admin.CoreV1().Pods("shop").Get(ctx, "web-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod.Labels["app"] = "web2"
	if _, err := admin.CoreV1().Pods("shop").Update(ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "a document with the new label", func() bool {
		known.write(1) // lines keep coming; the watch delivers the change meanwhile
		for _, d := range docs() {
			if d.Kubernetes.Labels["app"] == "web2" {
				return true
			}
		}
		return false
	})
	a.waitMetric(t, "logspool_parser_k8s_metadata_missing_total", 3, 10*time.Second)
	if v, err := a.metric("logspool_k8s_metadata_api_up"); err != nil || v != 1 {
		t.Errorf("logspool_k8s_metadata_api_up = %v (%v), want 1", v, err)
	}

	// The API server stops: shipping goes on, the known pod with its
	// metadata, a new pod's file with its path metadata, flagged.
	s.StopAPIServer()
	late := writeKubeletLog(t, root, "shop", "late-1", "11111111-2222-3333-4444-555555555555", "app", 3)
	before := len(docs())
	known.write(5)
	late.write(5)
	var lateDocs, knownDocs int
	count := func() {
		lateDocs, knownDocs = 0, 0
		for _, d := range docs()[before:] {
			switch d.Kubernetes.Pod.Name {
			case "late-1":
				lateDocs++
				if len(d.Log.Flags) != 1 || d.Log.Flags[0] != "k8s_metadata_missing" || d.Kubernetes.Namespace != "shop" {
					t.Fatalf("a new pod's document during the outage: %+v", d)
				}
			case "web-1":
				if d.Kubernetes.Labels["app"] == "web2" && d.Kubernetes.Deployment.Name == "web" {
					knownDocs++
				}
			}
		}
	}
	waitFor(t, 60*time.Second, "the documents written with the API server down", func() bool {
		count()
		return lateDocs >= 5 && knownDocs >= 5
	})
	if lateDocs != 5 {
		t.Errorf("%d documents of the new pod, want 5", lateDocs)
	}
	a.waitMetric(t, "logspool_k8s_metadata_api_errors_total", 1, 60*time.Second)
}

type kubeDoc struct {
	Message string `json:"message"`
	Log     struct {
		Flags []string `json:"flags"`
	} `json:"log"`
	Kubernetes struct {
		Namespace string            `json:"namespace"`
		Labels    map[string]string `json:"labels"`
		Pod       struct {
			Name string `json:"name"`
			UID  string `json:"uid"`
		} `json:"pod"`
		Container  struct{ Name string } `json:"container"`
		Node       struct{ Name string } `json:"node"`
		Deployment struct{ Name string } `json:"deployment"`
		ReplicaSet struct{ Name string } `json:"replicaset"`
	} `json:"kubernetes"`
	Container struct {
		Image struct{ Name string } `json:"image"`
	} `json:"container"`
}

// writeKubeletLog lays out one container's log as kubelet does, under root.
func writeKubeletLog(t *testing.T, root, ns, pod, uid, container string, id int) *podLog {
	t.Helper()
	dir := filepath.Join(root, "pods", ns+"_"+pod+"_"+uid, container)
	mustMkdir(t, dir)
	mustMkdir(t, filepath.Join(root, "containers"))
	p := &podLog{t: t, id: id, dir: dir, pad: "x"}
	p.open()
	t.Cleanup(p.close)
	link := filepath.Join(root, "containers", fmt.Sprintf("%s_%s_%s-%064x.log", pod, ns, container, id))
	if err := os.Symlink(filepath.Join(dir, "0.log"), link); err != nil {
		t.Fatal(err)
	}
	return p
}

func ptrTo[T any](v T) *T { return &v }
