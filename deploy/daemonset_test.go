package deploy_test

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path"
	"slices"
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

// agentContainer returns the logspool container of a DaemonSet, or nil.
func agentContainer(ds *appsv1.DaemonSet) *corev1.Container {
	for i := range ds.Spec.Template.Spec.Containers {
		if ds.Spec.Template.Spec.Containers[i].Name == "logspool" {
			return &ds.Spec.Template.Spec.Containers[i]
		}
	}
	return nil
}

// dsCheck is one promise the DaemonSet keeps. objs is the rest of the
// rendered kustomization (ConfigMap, ServiceAccount, Namespace).
type dsCheck struct {
	name  string
	check func(ds *appsv1.DaemonSet, c *corev1.Container, objs []object) error
}

func findObject[T any](objs []object, kind, name string) (T, error) {
	var zero T
	for _, o := range objs {
		if o.Kind == kind && o.Name == name {
			if v, ok := o.Value.(T); ok {
				return v, nil
			}
		}
	}
	return zero, fmt.Errorf("no %s %q in the rendered manifests", kind, name)
}

func errorsOf(errs []error) error { return errors.Join(errs...) }

var daemonSetChecks = []dsCheck{
	{"every log is mounted read-only at its host path", func(ds *appsv1.DaemonSet, c *corev1.Container, _ []object) error {
		var errs []error
		spec := &ds.Spec.Template.Spec
		for _, p := range agentReads {
			m, v := mountFor(spec, c, p)
			if m == nil || v == nil {
				errs = append(errs, fmt.Errorf("no volume mount covers %s", p))
				continue
			}
			if !m.ReadOnly {
				errs = append(errs, fmt.Errorf("mount %q covering %s is writable", m.Name, p))
			}
			if m.SubPath != "" || m.SubPathExpr != "" {
				errs = append(errs, fmt.Errorf("mount %q uses a subPath", m.Name))
			}
			if v.HostPath == nil {
				errs = append(errs, fmt.Errorf("volume %q behind %s is not a hostPath", v.Name, p))
				continue
			}
			rel := strings.TrimPrefix(p, path.Clean(m.MountPath))
			if host := path.Clean(v.HostPath.Path) + rel; host != p {
				errs = append(errs, fmt.Errorf("container path %s shows host path %s; absolute symlinks need the same path", p, host))
			}
			if tp := v.HostPath.Type; tp != nil && (*tp == corev1.HostPathDirectoryOrCreate || *tp == corev1.HostPathFileOrCreate) {
				errs = append(errs, fmt.Errorf("volume %q would create %s on nodes that lack it", v.Name, v.HostPath.Path))
			}
		}
		return errorsOf(errs)
	}},
	{"only the spool is writable, a DirectoryOrCreate hostPath", func(ds *appsv1.DaemonSet, c *corev1.Container, _ []object) error {
		spoolDir := defaultSpoolDir
		if v, ok := flagValue(c.Args, "spool-dir"); ok {
			spoolDir = v
		}
		m, v := mountFor(&ds.Spec.Template.Spec, c, spoolDir)
		if m == nil || v == nil {
			return fmt.Errorf("no mount covers the spool dir %s", spoolDir)
		}
		var errs []error
		if path.Clean(m.MountPath) != spoolDir {
			errs = append(errs, fmt.Errorf("spool mounted at %s, want exactly %s", m.MountPath, spoolDir))
		}
		if m.ReadOnly {
			errs = append(errs, fmt.Errorf("spool mount %q is read-only", m.Name))
		}
		if v.HostPath == nil || v.HostPath.Type == nil || *v.HostPath.Type != corev1.HostPathDirectoryOrCreate {
			errs = append(errs, fmt.Errorf("spool volume %q must be a DirectoryOrCreate hostPath (it must outlive the pod)", v.Name))
		}
		for _, mm := range c.VolumeMounts {
			if !mm.ReadOnly && mm.Name != m.Name {
				errs = append(errs, fmt.Errorf("mount %q at %s is writable; only the spool may be", mm.Name, mm.MountPath))
			}
		}
		return errorsOf(errs)
	}},
	{"the config file is a read-only ConfigMap that sets es-url", func(ds *appsv1.DaemonSet, c *corev1.Container, objs []object) error {
		cfgPath, ok := flagValue(c.Args, "config")
		if !ok {
			return errors.New("no --config argument")
		}
		m, v := mountFor(&ds.Spec.Template.Spec, c, cfgPath)
		if m == nil || v == nil || v.ConfigMap == nil {
			return fmt.Errorf("--config=%s is not inside a ConfigMap mount", cfgPath)
		}
		if !m.ReadOnly {
			return fmt.Errorf("config mount %q is writable", m.Name)
		}
		cm, err := findObject[*corev1.ConfigMap](objs, "ConfigMap", v.ConfigMap.Name)
		if err != nil {
			return err
		}
		key := strings.TrimPrefix(strings.TrimPrefix(cfgPath, path.Clean(m.MountPath)), "/")
		body, ok := cm.Data[key]
		if !ok {
			return fmt.Errorf("ConfigMap %s has no key %q", cm.Name, key)
		}
		var cfg map[string]any
		if err := unmarshalStrict([]byte(body), &cfg); err != nil {
			return fmt.Errorf("ConfigMap %s key %s: %w", cm.Name, key, err)
		}
		var errs []error
		for k := range cfg {
			if !contractFlags[k] || k == "config" {
				errs = append(errs, fmt.Errorf("config key %q is not a logspool flag (logspool refuses unknown keys)", k))
			}
		}
		// Without es-url logspool writes NDJSON to stdout; in a pod that
		// output lands in /var/log/containers and is read back: a loop.
		if urls, _ := cfg["es-url"].([]any); len(urls) == 0 {
			errs = append(errs, errors.New("the ConfigMap sets no es-url list: in a pod, stdout mode ships its own output forever"))
		}
		return errorsOf(errs)
	}},
	{"the container is locked down but for DAC_READ_SEARCH as uid 0", func(ds *appsv1.DaemonSet, c *corev1.Container, _ []object) error {
		sc := c.SecurityContext
		if sc == nil {
			return errors.New("the container has no securityContext")
		}
		pod := &ds.Spec.Template.Spec
		var errs []error
		for _, ck := range []struct {
			what string
			ok   bool
		}{
			{"the root file system is read-only", sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem},
			{"privilege escalation is off", sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation},
			{"the container is not privileged", sc.Privileged == nil || !*sc.Privileged},
			{"every capability is dropped", sc.Capabilities != nil && slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"})},
			{"only DAC_READ_SEARCH is added back", sc.Capabilities != nil && slices.Equal(sc.Capabilities.Add, []corev1.Capability{"DAC_READ_SEARCH"})},
			// The image's user is 65532 (distroless nonroot); the hostPath
			// spool is root-owned, so the uid must be set to 0 here.
			{"the uid is set to 0 explicitly", sc.RunAsUser != nil && *sc.RunAsUser == 0},
			{"runAsNonRoot does not contradict the uid", (sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot) && (pod.SecurityContext == nil || pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot)},
			{"no host namespaces are shared", !pod.HostNetwork && !pod.HostPID && !pod.HostIPC},
			{"the pod mounts its service account token (the metadata watch needs it)", pod.AutomountServiceAccountToken != nil && *pod.AutomountServiceAccountToken},
		} {
			if !ck.ok {
				errs = append(errs, errors.New("want: "+ck.what))
			}
		}
		return errorsOf(errs)
	}},
	{"the service account and namespace fit", func(ds *appsv1.DaemonSet, _ *corev1.Container, objs []object) error {
		sa, err := findObject[*corev1.ServiceAccount](objs, "ServiceAccount", ds.Spec.Template.Spec.ServiceAccountName)
		if err != nil {
			return err
		}
		if sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
			return fmt.Errorf("ServiceAccount %s automounts its token into every pod that uses it; only the DaemonSet's pod asks for it", sa.Name)
		}
		ns, err := findObject[*corev1.Namespace](objs, "Namespace", ds.Namespace)
		if err != nil {
			return err
		}
		if got := ns.Labels["pod-security.kubernetes.io/enforce"]; got != "privileged" {
			return fmt.Errorf("namespace pod-security enforce = %q; hostPath and DAC_READ_SEARCH need privileged", got)
		}
		return nil
	}},
	{"probes hit /healthz on the named metrics port", func(_ *appsv1.DaemonSet, c *corev1.Container, _ []object) error {
		addr, ok := flagValue(c.Args, "metrics-addr")
		if !ok {
			return errors.New("no --metrics-addr: the default 127.0.0.1:2021 is unreachable for probes")
		}
		host, portStr, err := net.SplitHostPort(addr)
		if err != nil {
			return fmt.Errorf("--metrics-addr=%s: %w", addr, err)
		}
		if host != "0.0.0.0" && host != "" && host != "::" {
			return fmt.Errorf("--metrics-addr host %q is not reachable from the kubelet", host)
		}
		port, _ := strconv.Atoi(portStr)
		var named *corev1.ContainerPort
		for i := range c.Ports {
			if c.Ports[i].ContainerPort == int32(port) {
				named = &c.Ports[i]
			}
		}
		if named == nil || named.Name == "" {
			return fmt.Errorf("no named container port for %d", port)
		}
		var errs []error
		for _, p := range []struct {
			name     string
			probe    *corev1.Probe
			required bool
		}{
			{"liveness", c.LivenessProbe, true},
			{"readiness", c.ReadinessProbe, true},
			{"startup", c.StartupProbe, false},
		} {
			switch {
			case p.probe == nil && p.required:
				errs = append(errs, fmt.Errorf("no %s probe", p.name))
			case p.probe == nil:
			case p.probe.HTTPGet == nil:
				errs = append(errs, fmt.Errorf("%s probe is not httpGet", p.name))
			case p.probe.HTTPGet.Path != "/healthz":
				errs = append(errs, fmt.Errorf("%s probe path %q, want /healthz", p.name, p.probe.HTTPGet.Path))
			case p.probe.HTTPGet.Port != intstr.FromString(named.Name) && p.probe.HTTPGet.Port != intstr.FromInt32(int32(port)):
				errs = append(errs, fmt.Errorf("%s probe port %s, want %s (%d)", p.name, p.probe.HTTPGet.Port.String(), named.Name, port))
			}
		}
		return errorsOf(errs)
	}},
	{"NODE_NAME comes from the downward API", func(_ *appsv1.DaemonSet, c *corev1.Container, _ []object) error {
		for _, e := range c.Env {
			if e.Name == "NODE_NAME" {
				if e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "spec.nodeName" {
					return fmt.Errorf("NODE_NAME is %+v, want fieldRef spec.nodeName", e)
				}
				return nil
			}
		}
		return errors.New("no NODE_NAME env")
	}},
	{"credentials come from an optional Secret", func(_ *appsv1.DaemonSet, c *corev1.Container, _ []object) error {
		var errs []error
		for _, name := range []string{"LOGSPOOL_ES_PASSWORD", "LOGSPOOL_ES_API_KEY"} {
			i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == name })
			switch {
			case i < 0:
				errs = append(errs, fmt.Errorf("no env %s", name))
			case c.Env[i].Value != "" || c.Env[i].ValueFrom == nil || c.Env[i].ValueFrom.SecretKeyRef == nil:
				errs = append(errs, fmt.Errorf("%s is not a secretKeyRef", name))
			case c.Env[i].ValueFrom.SecretKeyRef.Optional == nil || !*c.Env[i].ValueFrom.SecretKeyRef.Optional:
				errs = append(errs, fmt.Errorf("%s: the Secret must be optional (the quickstart has none)", name))
			}
		}
		return errorsOf(errs)
	}},
	{"every taint is tolerated", func(ds *appsv1.DaemonSet, _ *corev1.Container, _ []object) error {
		for _, tol := range ds.Spec.Template.Spec.Tolerations {
			if tol.Operator == corev1.TolerationOpExists && tol.Key == "" && tol.Effect == "" {
				return nil
			}
		}
		return fmt.Errorf("tolerations %+v lack {operator: Exists} without key or effect", ds.Spec.Template.Spec.Tolerations)
	}},
	{"only Linux nodes are selected, nothing narrower", func(ds *appsv1.DaemonSet, _ *corev1.Container, _ []object) error {
		spec := &ds.Spec.Template.Spec
		if len(spec.NodeSelector) != 1 || spec.NodeSelector["kubernetes.io/os"] != "linux" || spec.Affinity != nil {
			return fmt.Errorf("nodeSelector %v affinity %+v, want exactly kubernetes.io/os=linux", spec.NodeSelector, spec.Affinity)
		}
		return nil
	}},
	{"the pod is node-critical", func(ds *appsv1.DaemonSet, _ *corev1.Container, _ []object) error {
		if pc := ds.Spec.Template.Spec.PriorityClassName; pc != "system-node-critical" {
			return fmt.Errorf("priorityClassName %q", pc)
		}
		return nil
	}},
	{"the grace period outlasts the drain", func(ds *appsv1.DaemonSet, c *corev1.Container, _ []object) error {
		drain := defaultShutdownTimeout
		if v, ok := flagValue(c.Args, "shutdown-timeout"); ok {
			d, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("--shutdown-timeout=%s: %w", v, err)
			}
			drain = d
		}
		g := ds.Spec.Template.Spec.TerminationGracePeriodSeconds
		if g == nil {
			return errors.New("no terminationGracePeriodSeconds (the default 30s is not above the drain)")
		}
		if grace := time.Duration(*g) * time.Second; grace < drain+5*time.Second {
			return fmt.Errorf("grace %s, want at least the drain %s + 5s", grace, drain)
		}
		return nil
	}},
	{"rolling updates never put two pods on one spool", func(ds *appsv1.DaemonSet, _ *corev1.Container, _ []object) error {
		u := ds.Spec.UpdateStrategy
		if u.Type != appsv1.RollingUpdateDaemonSetStrategyType || u.RollingUpdate == nil || u.RollingUpdate.MaxUnavailable == nil {
			return fmt.Errorf("updateStrategy %+v, want RollingUpdate with maxUnavailable", u)
		}
		if s := u.RollingUpdate.MaxSurge; s != nil && s.String() != "0" && s.String() != "0%" {
			return fmt.Errorf("maxSurge %s: a surge pod would open the same Badger spool", s.String())
		}
		return nil
	}},
	{"resources are requested and memory is limited", func(_ *appsv1.DaemonSet, c *corev1.Container, _ []object) error {
		r := c.Resources
		cpu, mem, lim := r.Requests[corev1.ResourceCPU], r.Requests[corev1.ResourceMemory], r.Limits[corev1.ResourceMemory]
		if cpu.IsZero() || mem.IsZero() || lim.IsZero() {
			return fmt.Errorf("resources %+v: want cpu and memory requests and a memory limit", r)
		}
		if mem.Cmp(lim) > 0 {
			return fmt.Errorf("memory request %s above limit %s", mem.String(), lim.String())
		}
		for _, e := range c.Env {
			if e.Name != "GOMEMLIMIT" {
				continue
			}
			q, err := resource.ParseQuantity(strings.TrimSuffix(e.Value, "B"))
			if err != nil {
				return fmt.Errorf("GOMEMLIMIT=%s: %w", e.Value, err)
			}
			if q.Cmp(lim) >= 0 {
				return fmt.Errorf("GOMEMLIMIT %s is not below the memory limit %s", e.Value, lim.String())
			}
		}
		return nil
	}},
	{"the container runs logspool run from the logspool image", func(_ *appsv1.DaemonSet, c *corev1.Container, _ []object) error {
		var errs []error
		if len(c.Command) != 0 {
			errs = append(errs, fmt.Errorf("command %v overrides the image ENTRYPOINT", c.Command))
		}
		if len(c.Args) == 0 || c.Args[0] != "run" {
			errs = append(errs, fmt.Errorf("args %v, want the run subcommand first", c.Args))
		}
		if !strings.HasPrefix(c.Image, "ghcr.io/logspool/logspool:") {
			errs = append(errs, fmt.Errorf("image %q", c.Image))
		}
		return errorsOf(errs)
	}},
}

func TestDaemonSetKeepsItsPromises(t *testing.T) {
	for _, dir := range manifestDirs {
		objs := mustRender(t, dir)
		ds := find[*appsv1.DaemonSet](t, objs, "DaemonSet", "logspool")
		c := agentContainer(ds)
		if c == nil {
			t.Fatalf("%s: no logspool container", dir)
		}
		for _, ck := range daemonSetChecks {
			t.Run(dir+": "+ck.name, func(t *testing.T) {
				if err := ck.check(ds, c, objs); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// TestDaemonSetChecksCatchMistakes breaks the rendered DaemonSet one way at
// a time and expects the matching check to object: the checks above can fail.
func TestDaemonSetChecksCatchMistakes(t *testing.T) {
	objs := mustRender(t, "kubernetes")
	good := find[*appsv1.DaemonSet](t, objs, "DaemonSet", "logspool")
	mount := func(c *corev1.Container, name string) *corev1.VolumeMount {
		for i := range c.VolumeMounts {
			if c.VolumeMounts[i].Name == name {
				return &c.VolumeMounts[i]
			}
		}
		t.Fatalf("no mount %q", name)
		return nil
	}
	volume := func(ds *appsv1.DaemonSet, name string) *corev1.Volume {
		for i := range ds.Spec.Template.Spec.Volumes {
			if ds.Spec.Template.Spec.Volumes[i].Name == name {
				return &ds.Spec.Template.Spec.Volumes[i]
			}
		}
		t.Fatalf("no volume %q", name)
		return nil
	}
	mountAt := func(c *corev1.Container, p string) *corev1.VolumeMount {
		for i := range c.VolumeMounts {
			if c.VolumeMounts[i].MountPath == p {
				return &c.VolumeMounts[i]
			}
		}
		t.Fatalf("no mount at %s", p)
		return nil
	}
	setArg := func(c *corev1.Container, flag, value string) {
		for i, a := range c.Args {
			if strings.HasPrefix(a, "--"+flag+"=") {
				c.Args[i] = "--" + flag + "=" + value
				return
			}
		}
		c.Args = append(c.Args, "--"+flag+"="+value)
	}
	cases := []struct {
		name      string
		wantCheck string
		breakIt   func(ds *appsv1.DaemonSet, c *corev1.Container)
	}{
		{"a writable /var/log mount", "every log is mounted read-only at its host path",
			func(_ *appsv1.DaemonSet, c *corev1.Container) { mountAt(c, "/var/log").ReadOnly = false }},
		{"no mount for the docker container logs", "every log is mounted read-only at its host path",
			func(ds *appsv1.DaemonSet, c *corev1.Container) {
				c.VolumeMounts = slices.DeleteFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == "/var/lib/docker/containers" })
			}},
		{"the journal mounted at another path than on the host", "every log is mounted read-only at its host path",
			func(_ *appsv1.DaemonSet, c *corev1.Container) {
				mountAt(c, "/run/log/journal").MountPath = "/host/run/log/journal"
			}},
		{"a spool that is an emptyDir", "only the spool is writable, a DirectoryOrCreate hostPath",
			func(ds *appsv1.DaemonSet, _ *corev1.Container) {
				volume(ds, "spool").VolumeSource = corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}
			}},
		{"a spool dir flag that no mount covers", "only the spool is writable, a DirectoryOrCreate hostPath",
			func(_ *appsv1.DaemonSet, c *corev1.Container) { setArg(c, "spool-dir", "/data/spool") }},
		{"a writable config mount", "only the spool is writable, a DirectoryOrCreate hostPath",
			func(_ *appsv1.DaemonSet, c *corev1.Container) { mount(c, "config").ReadOnly = false }},
		{"a config path outside the ConfigMap", "the config file is a read-only ConfigMap that sets es-url",
			func(_ *appsv1.DaemonSet, c *corev1.Container) { setArg(c, "config", "/etc/other/logspool.yaml") }},
		{"a privileged container", "the container is locked down but for DAC_READ_SEARCH as uid 0",
			func(_ *appsv1.DaemonSet, c *corev1.Container) { c.SecurityContext.Privileged = ptr(true) }},
		{"a writable root file system", "the container is locked down but for DAC_READ_SEARCH as uid 0",
			func(_ *appsv1.DaemonSet, c *corev1.Container) { c.SecurityContext.ReadOnlyRootFilesystem = ptr(false) }},
		{"an extra capability", "the container is locked down but for DAC_READ_SEARCH as uid 0",
			func(_ *appsv1.DaemonSet, c *corev1.Container) {
				c.SecurityContext.Capabilities.Add = append(c.SecurityContext.Capabilities.Add, "DAC_OVERRIDE")
			}},
		{"the image's non-root user left in place", "the container is locked down but for DAC_READ_SEARCH as uid 0",
			func(_ *appsv1.DaemonSet, c *corev1.Container) { c.SecurityContext.RunAsUser = nil }},
		{"host networking", "the container is locked down but for DAC_READ_SEARCH as uid 0",
			func(ds *appsv1.DaemonSet, _ *corev1.Container) { ds.Spec.Template.Spec.HostNetwork = true }},
		{"metrics on loopback only", "probes hit /healthz on the named metrics port",
			func(_ *appsv1.DaemonSet, c *corev1.Container) { setArg(c, "metrics-addr", "127.0.0.1:2021") }},
		{"a liveness probe on /metrics", "probes hit /healthz on the named metrics port",
			func(_ *appsv1.DaemonSet, c *corev1.Container) { c.LivenessProbe.HTTPGet.Path = "/metrics" }},
		{"a readiness probe on another port", "probes hit /healthz on the named metrics port",
			func(_ *appsv1.DaemonSet, c *corev1.Container) { c.ReadinessProbe.HTTPGet.Port = intstr.FromInt32(8080) }},
		{"NODE_NAME from a literal", "NODE_NAME comes from the downward API",
			func(_ *appsv1.DaemonSet, c *corev1.Container) {
				for i := range c.Env {
					if c.Env[i].Name == "NODE_NAME" {
						c.Env[i] = corev1.EnvVar{Name: "NODE_NAME", Value: "node-1"}
					}
				}
			}},
		{"a required Secret", "credentials come from an optional Secret",
			func(_ *appsv1.DaemonSet, c *corev1.Container) {
				for i := range c.Env {
					if c.Env[i].ValueFrom != nil && c.Env[i].ValueFrom.SecretKeyRef != nil {
						c.Env[i].ValueFrom.SecretKeyRef.Optional = nil
					}
				}
			}},
		{"a toleration for one taint only", "every taint is tolerated",
			func(ds *appsv1.DaemonSet, _ *corev1.Container) {
				ds.Spec.Template.Spec.Tolerations = []corev1.Toleration{{Key: "node-role.kubernetes.io/control-plane", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}
			}},
		{"a node selector for one pool", "only Linux nodes are selected, nothing narrower",
			func(ds *appsv1.DaemonSet, _ *corev1.Container) { ds.Spec.Template.Spec.NodeSelector["pool"] = "logs" }},
		{"no priority class", "the pod is node-critical",
			func(ds *appsv1.DaemonSet, _ *corev1.Container) { ds.Spec.Template.Spec.PriorityClassName = "" }},
		{"a drain longer than the grace period", "the grace period outlasts the drain",
			func(_ *appsv1.DaemonSet, c *corev1.Container) { setArg(c, "shutdown-timeout", "60s") }},
		{"a surge during rolling updates", "rolling updates never put two pods on one spool",
			func(ds *appsv1.DaemonSet, _ *corev1.Container) {
				s := intstr.FromInt32(1)
				ds.Spec.UpdateStrategy.RollingUpdate.MaxSurge = &s
			}},
		{"no memory limit", "resources are requested and memory is limited",
			func(_ *appsv1.DaemonSet, c *corev1.Container) { delete(c.Resources.Limits, corev1.ResourceMemory) }},
		{"a GOMEMLIMIT above the limit", "resources are requested and memory is limited",
			func(_ *appsv1.DaemonSet, c *corev1.Container) {
				for i := range c.Env {
					if c.Env[i].Name == "GOMEMLIMIT" {
						c.Env[i].Value = "1GiB"
					}
				}
			}},
		{"a command overriding the entrypoint", "the container runs logspool run from the logspool image",
			func(_ *appsv1.DaemonSet, c *corev1.Container) { c.Command = []string{"/bin/sh"} }},
	}
	checks := map[string]dsCheck{}
	for _, ck := range daemonSetChecks {
		checks[ck.name] = ck
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ck, ok := checks[tc.wantCheck]
			if !ok {
				t.Fatalf("no check named %q", tc.wantCheck)
			}
			ds := good.DeepCopy()
			c := agentContainer(ds)
			tc.breakIt(ds, c)
			if err := ck.check(ds, c, objs); err == nil {
				t.Fatalf("check %q passed a DaemonSet with %s", tc.wantCheck, tc.name)
			} else {
				t.Logf("caught: %v", err)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// reachesES reports whether rawURL names a Service by its cluster DNS name
// (<service>.<namespace>.svc[.cluster.local]), on a port the Service serves,
// selecting the Elasticsearch pods, and landing on their HTTP port 9200.
func reachesES(objs []object, es *appsv1.StatefulSet, rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("URL %q: %w", rawURL, err)
	}
	if u.Scheme != "http" {
		return fmt.Errorf("URL %q: the quickstart runs Elasticsearch without TLS, want http", rawURL)
	}
	labels := strings.Split(u.Hostname(), ".")
	if len(labels) < 3 || labels[2] != "svc" || (len(labels) > 3 && strings.Join(labels[3:], ".") != "cluster.local") {
		return fmt.Errorf("URL host %q is not <service>.<namespace>.svc[.cluster.local]", u.Hostname())
	}
	svc, err := findObject[*corev1.Service](objs, "Service", labels[0])
	if err != nil {
		return fmt.Errorf("URL %q: %w", rawURL, err)
	}
	if svc.Namespace != labels[1] {
		return fmt.Errorf("URL %q names namespace %q, Service %s is in %q", rawURL, labels[1], svc.Name, svc.Namespace)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		return fmt.Errorf("URL %q has no port (Elasticsearch serves 9200, not 80)", rawURL)
	}
	i := slices.IndexFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return int(p.Port) == port })
	if i < 0 {
		return fmt.Errorf("URL port %d is not served by Service %s", port, svc.Name)
	}
	if len(svc.Spec.Selector) == 0 {
		return fmt.Errorf("Service %s has no selector", svc.Name)
	}
	for k, v := range svc.Spec.Selector {
		if es.Spec.Template.Labels[k] != v {
			return fmt.Errorf("Service %s selector %v does not select the Elasticsearch pods %v", svc.Name, svc.Spec.Selector, es.Spec.Template.Labels)
		}
	}
	target := svc.Spec.Ports[i].TargetPort
	for _, c := range es.Spec.Template.Spec.Containers {
		for _, cp := range c.Ports {
			if (target.Type == intstr.String && cp.Name == target.StrVal) || (target.Type == intstr.Int && cp.ContainerPort == target.IntVal) {
				if cp.ContainerPort == 9200 {
					return nil
				}
			}
		}
	}
	return fmt.Errorf("Service %s targetPort %s is not Elasticsearch's HTTP port 9200", svc.Name, target.String())
}

func TestQuickstartWiresKibanaAndLogspoolToElasticsearch(t *testing.T) {
	objs := mustRender(t, "quickstart")
	kibana := find[*appsv1.Deployment](t, objs, "Deployment", "kibana")
	es := find[*appsv1.StatefulSet](t, objs, "StatefulSet", "elasticsearch")
	ds := find[*appsv1.DaemonSet](t, objs, "DaemonSet", "logspool")
	esC := mustContainer(t, &es.Spec.Template.Spec, "elasticsearch")
	kbC := mustContainer(t, &kibana.Spec.Template.Spec, "kibana")
	lsC := mustContainer(t, &ds.Spec.Template.Spec, "logspool")

	t.Run("Kibana's ELASTICSEARCH_HOSTS reaches the Service", func(t *testing.T) {
		i := slices.IndexFunc(kbC.Env, func(e corev1.EnvVar) bool { return e.Name == "ELASTICSEARCH_HOSTS" })
		if i < 0 {
			t.Fatal("kibana has no ELASTICSEARCH_HOSTS")
		}
		if got, want := kbC.Env[i].Value, "http://elasticsearch.logging.svc:9200"; got != want {
			t.Errorf("ELASTICSEARCH_HOSTS=%s, want %s", got, want)
		}
		if err := reachesES(objs, es, kbC.Env[i].Value); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("logspool's --es-url reaches the Service", func(t *testing.T) {
		urls := flagValues(lsC.Args, "es-url")
		if len(urls) != 1 {
			t.Fatalf("want one --es-url from the quickstart patch, got %v (args %v)", urls, lsC.Args)
		}
		if err := reachesES(objs, es, urls[0]); err != nil {
			t.Fatal(err)
		}
		// The patch appends: the base's arguments must all still be there.
		base := mustContainer(t, &find[*appsv1.DaemonSet](t, mustRender(t, "kubernetes"), "DaemonSet", "logspool").Spec.Template.Spec, "logspool")
		if !slices.Equal(lsC.Args[:len(lsC.Args)-1], base.Args) {
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
		var xms, xmx string
		for _, o := range strings.Fields(env["ES_JAVA_OPTS"]) {
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

func TestReachesESRejectsWrongWiring(t *testing.T) {
	objs := mustRender(t, "quickstart")
	es := find[*appsv1.StatefulSet](t, objs, "StatefulSet", "elasticsearch")
	cases := []struct {
		name    string
		url     string
		wantErr string
	}{
		{name: "the Service DNS name and port are accepted", url: "http://elasticsearch.logging.svc:9200"},
		{name: "the fully qualified name is accepted", url: "http://elasticsearch.logging.svc.cluster.local:9200"},
		{name: "a bare service name is not a cluster DNS name", url: "http://elasticsearch:9200", wantErr: "is not <service>.<namespace>.svc"},
		{name: "a Service that does not exist", url: "http://es.logging.svc:9200", wantErr: `no Service "es"`},
		{name: "the wrong namespace", url: "http://elasticsearch.default.svc:9200", wantErr: `names namespace "default"`},
		{name: "a port the Service does not serve", url: "http://elasticsearch.logging.svc:9300", wantErr: "port 9300 is not served"},
		{name: "no port at all", url: "http://elasticsearch.logging.svc", wantErr: "has no port"},
		{name: "https against a cluster without TLS", url: "https://elasticsearch.logging.svc:9200", wantErr: "want http"},
		{name: "the Kibana Service is not Elasticsearch", url: "http://kibana.logging.svc:5601", wantErr: "does not select the Elasticsearch pods"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := reachesES(objs, es, tc.url)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatal(err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("accepted %s", tc.url)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("error %q does not contain %q", err, tc.wantErr)
			}
		})
	}
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
