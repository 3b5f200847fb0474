package kubemeta

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	mfake "k8s.io/client-go/metadata/fake"

	"github.com/logspool/logspool/parser"
)

// TestModelKubeMeta drives the provider with random sequences of pod and
// ReplicaSet creations, label changes and deletions (on fake clients), and
// checks after each step that every live pod's handle converges to what a
// model of the cluster says: its labels and its Deployment. Fixed seeds in
// make test; LOGSPOOL_TORTURE=1 runs 1000; LOGSPOOL_SEED=n reruns one.
func TestModelKubeMeta(t *testing.T) {
	seeds := []uint64{1, 2, 3}
	if os.Getenv("LOGSPOOL_TORTURE") == "1" {
		seeds = nil
		for i := range 1000 {
			seeds = append(seeds, uint64(i)+100)
		}
	}
	if s := os.Getenv("LOGSPOOL_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		seeds = []uint64{n}
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Logf("rerun with LOGSPOOL_SEED=%d", seed)
			runModel(t, seed)
		})
	}
}

type modelPod struct {
	uid    string
	labels map[string]string
	rs     string // owning ReplicaSet, "" for none
}

func runModel(t *testing.T, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 7))
	env := startFake(t, func(c *Config) { c.Wait = -1 })
	env.waitSynced(t)
	ctx := context.Background()
	pods := map[string]*modelPod{}  // name -> model
	rsDeploy := map[string]string{} // ReplicaSet -> its Deployment
	handles := map[string]parser.KubeHandle{}
	rsNames := []string{"rs-a", "rs-b", "rs-c"}
	for step := range 40 {
		switch op := r.IntN(6); {
		case op == 0 || len(pods) == 0: // create a pod
			name := fmt.Sprintf("p%d", step)
			m := &modelPod{uid: fmt.Sprintf("uid-%d-%d", seed, step), labels: map[string]string{"app": fmt.Sprint(r.IntN(3))}}
			var owner []metav1.OwnerReference
			if r.IntN(2) == 0 {
				m.rs = rsNames[r.IntN(len(rsNames))]
				owner = ownerRef("ReplicaSet", m.rs)
			}
			pod := testPod(name, m.uid, m.labels, owner)
			if _, err := env.kube.CoreV1().Pods("shop").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			pods[name] = m
			handles[name] = env.p.Lookup(parser.PathMeta{PodUID: m.uid, ContainerName: "c"})
		case op == 1: // change a label
			name := pick(r, pods)
			m := pods[name]
			m.labels = map[string]string{"app": fmt.Sprint(r.IntN(3)), "v": fmt.Sprint(step)}
			var owner []metav1.OwnerReference
			if m.rs != "" {
				owner = ownerRef("ReplicaSet", m.rs)
			}
			if _, err := env.kube.CoreV1().Pods("shop").Update(ctx, testPod(name, m.uid, m.labels, owner), metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
		case op == 2: // delete a pod: its handle keeps the last metadata
			name := pick(r, pods)
			if err := env.kube.CoreV1().Pods("shop").Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			delete(pods, name)
			delete(handles, name)
			delete(handles, name+"/2")
		case op == 3: // a ReplicaSet appears
			rs := rsNames[r.IntN(len(rsNames))]
			if _, ok := rsDeploy[rs]; ok {
				continue
			}
			d := "d-" + rs
			obj := metaObj("apps/v1", "ReplicaSet", "shop", rs, ownerRef("Deployment", d))
			if _, err := env.meta.Resource(gvrReplicaSets).Namespace("shop").(mfake.MetadataClient).CreateFake(obj, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			rsDeploy[rs] = d
		case op == 4: // a ReplicaSet goes
			rs := rsNames[r.IntN(len(rsNames))]
			if _, ok := rsDeploy[rs]; !ok {
				continue
			}
			if err := env.meta.Resource(gvrReplicaSets).Namespace("shop").Delete(ctx, rs, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			delete(rsDeploy, rs)
		default: // a second lookup of a live pod agrees with the first
			name := pick(r, pods)
			handles[name+"/2"] = env.p.Lookup(parser.PathMeta{Namespace: "shop", PodName: name, ContainerName: "c"})
		}
		// Invariant: every live pod's handles converge to the model.
		for key, h := range handles {
			name, _, _ := cutSlash(key)
			m := pods[name]
			wantDeploy := any(nil)
			if d, ok := rsDeploy[m.rs]; ok && m.rs != "" {
				wantDeploy = d
			}
			converged := func(km *parser.KubeMeta) bool {
				if km == nil {
					return false
				}
				k := decodeMembers(t, km.Kubernetes)
				for lk, lv := range m.labels {
					if field(k, "labels."+lk) != lv {
						return false
					}
				}
				labels, _ := k["labels"].(map[string]any)
				return len(labels) == len(m.labels) && field(k, "deployment.name") == wantDeploy
			}
			deadline := time.Now().Add(20 * time.Second)
			for !converged(h.Current()) {
				if time.Now().After(deadline) {
					t.Fatalf("seed %d step %d: pod %s (%+v, rs deploy %v) has %s", seed, step, key, m, rsDeploy, describe(h.Current()))
				}
				time.Sleep(2 * time.Millisecond)
			}
		}
	}
}

func pick(r *rand.Rand, pods map[string]*modelPod) string {
	names := make([]string, 0, len(pods))
	for n := range pods {
		names = append(names, n)
	}
	sortStrings(names)
	return names[r.IntN(len(names))]
}

func cutSlash(s string) (string, string, bool) {
	for i := range len(s) {
		if s[i] == '/' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func describe(m *parser.KubeMeta) string {
	if m == nil {
		return "no metadata"
	}
	return string(m.Kubernetes)
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}
