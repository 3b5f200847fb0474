package testlogs

import "fmt"

// Workload is the kind of application a container runs; see the package doc.
type Workload uint8

// Workloads.
const (
	Mixed Workload = iota
	Nginx
	Envoy
	Logfmt
	Klog
	JSON
	Java
	Python
	numWorkloads
)

var workloadNames = [numWorkloads]string{"mixed", "nginx", "envoy", "logfmt", "klog", "json", "java", "python"}

func (w Workload) String() string {
	if w < numWorkloads {
		return workloadNames[w]
	}
	return fmt.Sprintf("Workload(%d)", uint8(w))
}

// nodeWeights is the share of events (per mille) each workload has on the
// node that Mixed stands for, and nodeOrder the order Node hands them out.
var (
	nodeWeights = [numWorkloads]int{Nginx: 180, Envoy: 100, Logfmt: 150, Klog: 140, JSON: 200, Java: 130, Python: 100}
	nodeOrder   = []Workload{Nginx, JSON, Logfmt, Java, Envoy, Klog, Python, JSON}
)

// Container is one container of a pod, as the kubelet lays out its log.
type Container struct {
	Namespace string
	Pod       string
	UID       string // pod UID
	Name      string // container name
	ID        string // 64 hex digits
	Workload  Workload
}

// PodDir is the container's log directory under /var/log/pods:
// <namespace>_<pod>_<uid>/<container>.
func (c Container) PodDir() string { return c.Namespace + "_" + c.Pod + "_" + c.UID + "/" + c.Name }

// LinkName is the kubelet's symlink name under /var/log/containers:
// <pod>_<namespace>_<container>-<id>.log.
func (c Container) LinkName() string {
	return c.Pod + "_" + c.Namespace + "_" + c.Name + "-" + c.ID + ".log"
}

// deployments names the deployments a workload runs as: namespace,
// deployment, container.
var deployments = [numWorkloads][][3]string{
	Mixed:  {{"default", "mixed-workload", "app"}},
	Nginx:  {{"ingress-nginx", "ingress-nginx-controller", "controller"}, {"ingress-nginx", "ingress-nginx-internal-controller", "controller"}},
	Envoy:  {{"shop", "frontend", "istio-proxy"}, {"shop", "catalog", "istio-proxy"}},
	Logfmt: {{"payments", "payments-api", "api"}, {"payments", "ledger", "ledger"}},
	Klog:   {{"cert-manager", "cert-manager", "cert-manager-controller"}, {"kube-system", "cluster-autoscaler", "cluster-autoscaler"}},
	JSON:   {{"shop", "checkout", "checkout"}, {"shop", "orders", "orders"}, {"shop", "notifications", "worker"}},
	Java:   {{"shop", "cart-service", "cart"}, {"shop", "pricing", "pricing"}},
	Python: {{"ml", "recommendations", "web"}, {"ml", "feature-store", "api"}},
}

// Node returns n containers of a node, workloads in a fixed rotation
// (nginx, json, logfmt, java, envoy, klog, python, json, ...), names and ids
// from seed.
func Node(seed uint64, n int) []Container {
	r := newRNG(seed ^ 0x6e6f6465)
	seen := map[Workload]int{}
	out := make([]Container, n)
	for i := range out {
		w := nodeOrder[i%len(nodeOrder)]
		d := deployments[w][seen[w]%len(deployments[w])]
		seen[w]++
		out[i] = newContainer(&r, w, d)
	}
	return out
}

// ContainerOf returns one container running w, names and ids from seed.
func ContainerOf(w Workload, seed uint64) Container {
	r := newRNG(seed ^ 0x63746e72 ^ uint64(w)<<40)
	return newContainer(&r, w, deployments[w][0])
}

func newContainer(r *rng, w Workload, d [3]string) Container {
	const podChars = "bcdfghjklmnpqrstvwxz2456789"
	rs := make([]byte, 0, 16)
	for range 10 {
		rs = append(rs, podChars[r.n(len(podChars))])
	}
	rs = append(rs, '-')
	for range 5 {
		rs = append(rs, podChars[r.n(len(podChars))])
	}
	id := appendHex64(appendHex64(appendHex64(appendHex64(nil, r.u64()), r.u64()), r.u64()), r.u64())
	return Container{
		Namespace: d[0], Pod: d[1] + "-" + string(rs), Name: d[2],
		UID: string(appendUUID(nil, r.u64(), r.u64())), ID: string(id), Workload: w,
	}
}
