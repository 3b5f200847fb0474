package deploy_test

import (
	"fmt"
	"net"
	"net/url"
	"path"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
)

const (
	defaultShutdownTimeout = 30 * time.Second
	defaultSpoolDir        = "/var/lib/logspool"
)

// agentReads lists every host path the agent reads; each must reach the
// container at the same path (the symlinks in /var/log/containers are
// absolute) through a read-only hostPath mount.
var agentReads = []string{
	"/var/log/containers",
	"/var/log/pods",
	"/var/log/journal",
	"/run/log/journal",
	"/var/lib/docker/containers",
	"/etc/machine-id",
}

func mustContainer(t *testing.T, spec *corev1.PodSpec, name string) *corev1.Container {
	t.Helper()
	for i := range spec.Containers {
		if spec.Containers[i].Name == name {
			return &spec.Containers[i]
		}
	}
	t.Fatalf("no container %q", name)
	return nil
}

// flagValue returns the value of --name=value (or --name value) in args.
func flagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
		if a == "--"+name && i+1 < len(args) {
			return args[i+1], true
		}
	}
	return "", false
}

// flagValues returns every value of a repeatable flag.
func flagValues(args []string, name string) []string {
	var vs []string
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			vs = append(vs, v)
		} else if a == "--"+name && i+1 < len(args) {
			vs = append(vs, args[i+1])
		}
	}
	return vs
}

// mountFor finds the mount through which the container sees containerPath,
// the deepest one when mounts nest, and the volume behind it.
func mountFor(spec *corev1.PodSpec, c *corev1.Container, containerPath string) (*corev1.VolumeMount, *corev1.Volume) {
	var best *corev1.VolumeMount
	for i := range c.VolumeMounts {
		m := &c.VolumeMounts[i]
		mp := path.Clean(m.MountPath)
		if containerPath == mp || strings.HasPrefix(containerPath, mp+"/") {
			if best == nil || len(mp) > len(path.Clean(best.MountPath)) {
				best = m
			}
		}
	}
	if best == nil {
		return nil, nil
	}
	for i := range spec.Volumes {
		if spec.Volumes[i].Name == best.Name {
			return best, &spec.Volumes[i]
		}
	}
	return best, nil
}

func mustRenderedDaemonSet(t *testing.T) (*appsv1.DaemonSet, *corev1.Container, []object) {
	t.Helper()
	objs := mustRender(t, "kubernetes")
	ds := find[*appsv1.DaemonSet](t, objs, "DaemonSet", "logspool")
	return ds, mustContainer(t, &ds.Spec.Template.Spec, "logspool"), objs
}

func TestDaemonSetMountsEveryLogReadOnlyAtItsHostPath(t *testing.T) {
	ds, c, _ := mustRenderedDaemonSet(t)
	spec := &ds.Spec.Template.Spec
	for _, p := range agentReads {
		t.Run(p, func(t *testing.T) {
			m, v := mountFor(spec, c, p)
			if m == nil || v == nil {
				t.Fatalf("no volume mount covers %s", p)
			}
			if !m.ReadOnly {
				t.Errorf("mount %q at %s is writable, want readOnly", m.Name, m.MountPath)
			}
			if m.SubPath != "" || m.SubPathExpr != "" {
				t.Errorf("mount %q uses a subPath", m.Name)
			}
			if v.HostPath == nil {
				t.Fatalf("volume %q behind %s is not a hostPath", v.Name, p)
			}
			rel := strings.TrimPrefix(p, path.Clean(m.MountPath))
			if host := path.Clean(v.HostPath.Path) + rel; host != p {
				t.Errorf("container path %s shows host path %s, want the same path", p, host)
			}
			if tp := v.HostPath.Type; tp != nil && (*tp == corev1.HostPathDirectoryOrCreate || *tp == corev1.HostPathFileOrCreate) {
				t.Errorf("volume %q would create %s on nodes that lack it", v.Name, v.HostPath.Path)
			}
		})
	}
}

func TestDaemonSetWritesOnlyItsSpool(t *testing.T) {
	ds, c, _ := mustRenderedDaemonSet(t)
	spec := &ds.Spec.Template.Spec
	spoolDir := defaultSpoolDir
	if v, ok := flagValue(c.Args, "spool-dir"); ok {
		spoolDir = v
	}
	m, v := mountFor(spec, c, spoolDir)
	if m == nil || v == nil {
		t.Fatalf("no mount covers the spool dir %s", spoolDir)
	}
	if path.Clean(m.MountPath) != spoolDir {
		t.Errorf("spool mounted at %s, want exactly %s", m.MountPath, spoolDir)
	}
	if m.ReadOnly {
		t.Errorf("spool mount %q is read-only", m.Name)
	}
	if v.HostPath == nil || v.HostPath.Type == nil || *v.HostPath.Type != corev1.HostPathDirectoryOrCreate {
		t.Errorf("spool volume %q must be a hostPath of type DirectoryOrCreate (survives pod restarts), got %+v", v.Name, v.VolumeSource)
	}
	for _, mm := range c.VolumeMounts {
		if !mm.ReadOnly && mm.Name != m.Name {
			t.Errorf("mount %q at %s is writable; only the spool may be", mm.Name, mm.MountPath)
		}
	}
}

func TestDaemonSetConfigFileComesFromTheConfigMap(t *testing.T) {
	ds, c, objs := mustRenderedDaemonSet(t)
	cfgPath, ok := flagValue(c.Args, "config")
	if !ok {
		t.Fatal("no --config argument")
	}
	m, v := mountFor(&ds.Spec.Template.Spec, c, cfgPath)
	if m == nil || v == nil || v.ConfigMap == nil {
		t.Fatalf("--config=%s is not inside a ConfigMap mount", cfgPath)
	}
	if !m.ReadOnly {
		t.Errorf("config mount %q is writable", m.Name)
	}
	cm := find[*corev1.ConfigMap](t, objs, "ConfigMap", v.ConfigMap.Name)
	key := strings.TrimPrefix(strings.TrimPrefix(cfgPath, path.Clean(m.MountPath)), "/")
	body, ok := cm.Data[key]
	if !ok {
		t.Fatalf("ConfigMap %s has no key %q", cm.Name, key)
	}
	var cfg map[string]any
	if err := unmarshalStrict([]byte(body), &cfg); err != nil {
		t.Fatalf("ConfigMap %s key %s is not valid YAML: %v", cm.Name, key, err)
	}
	for k := range cfg {
		if !contractFlags[k] {
			t.Errorf("config key %q is not a logspool flag", k)
		}
	}
	// Without es-url logspool writes NDJSON to stdout; in a pod that output
	// lands in /var/log/containers and is read back: an endless loop.
	urls, _ := cfg["es-url"].([]any)
	if len(urls) == 0 {
		t.Errorf("ConfigMap sets no es-url: in a pod, stdout mode ships its own output forever")
	}
}

func TestDaemonSetSecurityContext(t *testing.T) {
	ds, c, objs := mustRenderedDaemonSet(t)
	sc := c.SecurityContext
	if sc == nil {
		t.Fatal("container has no securityContext")
	}
	checks := []struct {
		name string
		ok   bool
	}{
		{"the root file system is read-only", sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem},
		{"privilege escalation is off", sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation},
		{"the container is not privileged", sc.Privileged == nil || !*sc.Privileged},
		{"every capability is dropped", sc.Capabilities != nil && len(sc.Capabilities.Drop) == 1 && sc.Capabilities.Drop[0] == "ALL"},
		{"only DAC_READ_SEARCH is added back", sc.Capabilities != nil && len(sc.Capabilities.Add) == 1 && sc.Capabilities.Add[0] == "DAC_READ_SEARCH"},
		// The image's default user is 65532 (distroless nonroot); the
		// hostPath spool is root-owned, so the uid must be set to 0 here.
		{"the uid is set to 0 explicitly", sc.RunAsUser != nil && *sc.RunAsUser == 0},
		{"runAsNonRoot does not contradict the uid", sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot},
		{"no host namespaces are shared", !ds.Spec.Template.Spec.HostNetwork && !ds.Spec.Template.Spec.HostPID && !ds.Spec.Template.Spec.HostIPC},
		{"the pod mounts no service account token", ds.Spec.Template.Spec.AutomountServiceAccountToken != nil && !*ds.Spec.Template.Spec.AutomountServiceAccountToken},
	}
	for _, ck := range checks {
		if !ck.ok {
			t.Errorf("want: %s", ck.name)
		}
	}
	sa := find[*corev1.ServiceAccount](t, objs, "ServiceAccount", ds.Spec.Template.Spec.ServiceAccountName)
	if sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
		t.Errorf("ServiceAccount %s automounts its token; logspool reads no API", sa.Name)
	}
	ns := find[*corev1.Namespace](t, objs, "Namespace", "logging")
	if got := ns.Labels["pod-security.kubernetes.io/enforce"]; got != "privileged" {
		t.Errorf("namespace pod-security enforce = %q; hostPath and DAC_READ_SEARCH need privileged", got)
	}
}

func TestDaemonSetProbesHitHealthzOnTheMetricsPort(t *testing.T) {
	_, c, _ := mustRenderedDaemonSet(t)
	addr, ok := flagValue(c.Args, "metrics-addr")
	if !ok {
		t.Fatal("no --metrics-addr: the default 127.0.0.1:2021 is unreachable for probes")
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("--metrics-addr=%s: %v", addr, err)
	}
	if host != "0.0.0.0" && host != "" && host != "::" {
		t.Errorf("--metrics-addr host %q is not reachable from the kubelet", host)
	}
	port, _ := strconv.Atoi(portStr)
	var named *corev1.ContainerPort
	for i := range c.Ports {
		if c.Ports[i].ContainerPort == int32(port) {
			named = &c.Ports[i]
		}
	}
	if named == nil || named.Name == "" {
		t.Fatalf("no named container port for %d", port)
	}
	probes := []struct {
		name  string
		probe *corev1.Probe
	}{
		{"liveness", c.LivenessProbe},
		{"readiness", c.ReadinessProbe},
		{"startup", c.StartupProbe},
	}
	for _, p := range probes {
		t.Run(p.name, func(t *testing.T) {
			if p.probe == nil {
				if p.name == "startup" {
					return
				}
				t.Fatal("missing")
			}
			g := p.probe.HTTPGet
			if g == nil {
				t.Fatal("not an httpGet probe")
			}
			if g.Path != "/healthz" {
				t.Errorf("path %q, want /healthz", g.Path)
			}
			if g.Port != intstr.FromString(named.Name) && g.Port != intstr.FromInt32(int32(port)) {
				t.Errorf("port %v, want %s (%d)", g.Port, named.Name, port)
			}
		})
	}
}

func TestDaemonSetSchedulingAndLifecycle(t *testing.T) {
	ds, c, _ := mustRenderedDaemonSet(t)
	spec := &ds.Spec.Template.Spec

	t.Run("NODE_NAME comes from the downward API", func(t *testing.T) {
		for _, e := range c.Env {
			if e.Name == "NODE_NAME" {
				if e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "spec.nodeName" {
					t.Fatalf("NODE_NAME is %+v, want fieldRef spec.nodeName", e)
				}
				return
			}
		}
		t.Fatal("no NODE_NAME env")
	})
	t.Run("credentials come from an optional Secret", func(t *testing.T) {
		want := map[string]bool{"LOGSPOOL_ES_PASSWORD": false, "LOGSPOOL_ES_API_KEY": false}
		for _, e := range c.Env {
			if _, ok := want[e.Name]; !ok {
				continue
			}
			if e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
				t.Errorf("%s is not a secretKeyRef", e.Name)
				continue
			}
			if o := e.ValueFrom.SecretKeyRef.Optional; o == nil || !*o {
				t.Errorf("%s: the Secret must be optional (the quickstart has none)", e.Name)
			}
			want[e.Name] = true
		}
		for k, seen := range want {
			if !seen {
				t.Errorf("no env %s", k)
			}
		}
	})
	t.Run("every taint is tolerated", func(t *testing.T) {
		for _, tol := range spec.Tolerations {
			if tol.Operator == corev1.TolerationOpExists && tol.Key == "" && tol.Effect == "" {
				return
			}
		}
		t.Fatalf("tolerations %+v lack {operator: Exists} without key or effect", spec.Tolerations)
	})
	t.Run("the pod is node-critical", func(t *testing.T) {
		if spec.PriorityClassName != "system-node-critical" {
			t.Fatalf("priorityClassName %q", spec.PriorityClassName)
		}
	})
	t.Run("the grace period outlasts the drain", func(t *testing.T) {
		drain := defaultShutdownTimeout
		if v, ok := flagValue(c.Args, "shutdown-timeout"); ok {
			d, err := time.ParseDuration(v)
			if err != nil {
				t.Fatalf("--shutdown-timeout=%s: %v", v, err)
			}
			drain = d
		}
		if spec.TerminationGracePeriodSeconds == nil {
			t.Fatal("no terminationGracePeriodSeconds (default 30s is not above the drain)")
		}
		grace := time.Duration(*spec.TerminationGracePeriodSeconds) * time.Second
		if grace < drain+5*time.Second {
			t.Fatalf("grace %s, want at least the drain %s + 5s", grace, drain)
		}
	})
	t.Run("rolling updates never put two pods on one spool", func(t *testing.T) {
		u := ds.Spec.UpdateStrategy
		if u.Type != appsv1.RollingUpdateDaemonSetStrategyType || u.RollingUpdate == nil || u.RollingUpdate.MaxUnavailable == nil {
			t.Fatalf("updateStrategy %+v, want RollingUpdate with maxUnavailable", u)
		}
		if s := u.RollingUpdate.MaxSurge; s != nil && s.String() != "0" && s.String() != "0%" {
			t.Fatalf("maxSurge %s: a surge pod would open the same Badger spool", s)
		}
	})
	t.Run("resources are requested and memory is limited", func(t *testing.T) {
		r := c.Resources
		cpu, mem, lim := r.Requests[corev1.ResourceCPU], r.Requests[corev1.ResourceMemory], r.Limits[corev1.ResourceMemory]
		if cpu.IsZero() || mem.IsZero() || lim.IsZero() {
			t.Fatalf("resources %+v: want cpu and memory requests and a memory limit", r)
		}
		if mem.Cmp(lim) > 0 {
			t.Fatalf("memory request %s above limit %s", mem.String(), lim.String())
		}
		for _, e := range c.Env {
			if e.Name != "GOMEMLIMIT" {
				continue
			}
			q, err := resource.ParseQuantity(strings.TrimSuffix(e.Value, "B"))
			if err != nil {
				t.Fatalf("GOMEMLIMIT=%s: %v", e.Value, err)
			}
			if q.Cmp(lim) >= 0 {
				t.Fatalf("GOMEMLIMIT %s is not below the memory limit %s", e.Value, lim.String())
			}
		}
	})
	t.Run("the container runs logspool run", func(t *testing.T) {
		if len(c.Command) != 0 {
			t.Errorf("command %v overrides the image ENTRYPOINT", c.Command)
		}
		if len(c.Args) == 0 || c.Args[0] != "run" {
			t.Errorf("args %v, want the run subcommand first", c.Args)
		}
		if !strings.HasPrefix(c.Image, "ghcr.io/logspool/logspool:") {
			t.Errorf("image %q", c.Image)
		}
	})
}

func TestQuickstartWiresKibanaAndLogspoolToElasticsearch(t *testing.T) {
	objs := mustRender(t, "quickstart")
	kibana := find[*appsv1.Deployment](t, objs, "Deployment", "kibana")
	es := find[*appsv1.StatefulSet](t, objs, "StatefulSet", "elasticsearch")
	ds := find[*appsv1.DaemonSet](t, objs, "DaemonSet", "logspool")
	esC := mustContainer(t, &es.Spec.Template.Spec, "elasticsearch")
	kbC := mustContainer(t, &kibana.Spec.Template.Spec, "kibana")
	lsC := mustContainer(t, &ds.Spec.Template.Spec, "logspool")

	// reachesES checks that rawURL names a Service by its cluster DNS name,
	// on a port the Service serves, selecting the Elasticsearch pods on
	// their HTTP port.
	reachesES := func(t *testing.T, who, rawURL string) {
		t.Helper()
		u, err := url.Parse(rawURL)
		if err != nil {
			t.Fatalf("%s URL %q: %v", who, rawURL, err)
		}
		if u.Scheme != "http" {
			t.Errorf("%s URL %q: the quickstart runs ES without TLS, want http", who, rawURL)
		}
		labels := strings.Split(u.Hostname(), ".")
		if len(labels) < 3 || labels[2] != "svc" {
			t.Fatalf("%s URL host %q is not <service>.<namespace>.svc[.cluster.local]", who, u.Hostname())
		}
		svc := find[*corev1.Service](t, objs, "Service", labels[0])
		if svc.Namespace != labels[1] {
			t.Fatalf("%s URL names namespace %q, Service %s is in %q", who, labels[1], svc.Name, svc.Namespace)
		}
		port, _ := strconv.Atoi(u.Port())
		var sp *corev1.ServicePort
		for i := range svc.Spec.Ports {
			if int(svc.Spec.Ports[i].Port) == port {
				sp = &svc.Spec.Ports[i]
			}
		}
		if sp == nil {
			t.Fatalf("%s URL port %d is not served by Service %s", who, port, svc.Name)
		}
		for k, v := range svc.Spec.Selector {
			if es.Spec.Template.Labels[k] != v {
				t.Fatalf("Service %s selector %v does not select the Elasticsearch pods %v", svc.Name, svc.Spec.Selector, es.Spec.Template.Labels)
			}
		}
		if len(svc.Spec.Selector) == 0 {
			t.Fatalf("Service %s has no selector", svc.Name)
		}
		target := sp.TargetPort
		found := false
		for _, cp := range esC.Ports {
			if (target.Type == intstr.String && cp.Name == target.StrVal) || (target.Type == intstr.Int && cp.ContainerPort == target.IntVal) {
				found = cp.ContainerPort == 9200
			}
		}
		if !found {
			t.Fatalf("Service %s targetPort %s is not Elasticsearch's HTTP port 9200", svc.Name, target.String())
		}
	}

	t.Run("Kibana's ELASTICSEARCH_HOSTS", func(t *testing.T) {
		for _, e := range kbC.Env {
			if e.Name == "ELASTICSEARCH_HOSTS" {
				reachesES(t, "kibana", e.Value)
				return
			}
		}
		t.Fatal("kibana has no ELASTICSEARCH_HOSTS")
	})
	t.Run("logspool's --es-url", func(t *testing.T) {
		urls := flagValues(lsC.Args, "es-url")
		if len(urls) != 1 {
			t.Fatalf("want one --es-url from the quickstart patch, got %v (args %v)", urls, lsC.Args)
		}
		reachesES(t, "logspool", urls[0])
		// The patch appends: the base's arguments must all still be there.
		base := mustContainer(t, &find[*appsv1.DaemonSet](t, mustRender(t, "kubernetes"), "DaemonSet", "logspool").Spec.Template.Spec, "logspool")
		if got, want := len(lsC.Args), len(base.Args)+1; got != want {
			t.Fatalf("quickstart args %v, want the base's %v plus --es-url", lsC.Args, base.Args)
		}
	})
	t.Run("Elasticsearch is a single node without security", func(t *testing.T) {
		env := map[string]string{}
		for _, e := range esC.Env {
			env[e.Name] = e.Value
		}
		if env["discovery.type"] != "single-node" {
			t.Errorf("discovery.type = %q", env["discovery.type"])
		}
		if env["xpack.security.enabled"] != "false" {
			t.Errorf("xpack.security.enabled = %q", env["xpack.security.enabled"])
		}
		opts := strings.Fields(env["ES_JAVA_OPTS"])
		var xms, xmx string
		for _, o := range opts {
			if v, ok := strings.CutPrefix(o, "-Xms"); ok {
				xms = v
			}
			if v, ok := strings.CutPrefix(o, "-Xmx"); ok {
				xmx = v
			}
		}
		if xms == "" || xms != xmx {
			t.Fatalf("ES_JAVA_OPTS %q: want equal -Xms and -Xmx", env["ES_JAVA_OPTS"])
		}
		heap, err := javaSize(xmx)
		if err != nil {
			t.Fatalf("-Xmx%s: %v", xmx, err)
		}
		lim := esC.Resources.Limits[corev1.ResourceMemory]
		if lim.IsZero() {
			t.Fatal("Elasticsearch has no memory limit")
		}
		heap.Add(heap)
		if heap.Cmp(lim) > 0 {
			t.Errorf("heap %s is over half the memory limit %s", xmx, lim.String())
		}
	})
	t.Run("Elasticsearch and Kibana are 7.17 of the same release", func(t *testing.T) {
		esTag := esC.Image[strings.LastIndex(esC.Image, ":")+1:]
		kbTag := kbC.Image[strings.LastIndex(kbC.Image, ":")+1:]
		if !strings.HasPrefix(esTag, "7.17.") || esTag != kbTag {
			t.Fatalf("elasticsearch %s, kibana %s: want the same 7.17.x", esC.Image, kbC.Image)
		}
	})
}

// javaSize converts a JVM size such as 512m or 1g to a Quantity.
func javaSize(s string) (resource.Quantity, error) {
	if s == "" {
		return resource.Quantity{}, fmt.Errorf("empty size")
	}
	suffix := map[byte]string{'k': "Ki", 'm': "Mi", 'g': "Gi"}[s[len(s)-1]|0x20]
	if suffix != "" {
		s = s[:len(s)-1] + suffix
	}
	return resource.ParseQuantity(s)
}
