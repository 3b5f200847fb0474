package kubemeta

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"

	"github.com/logspool/logspool/parser"
)

// The resources watched, as named in metrics and logs.
const (
	resPods        = "pods"
	resReplicaSets = "replicasets"
	resJobs        = "jobs"
	resNamespaces  = "namespaces"
)

var (
	gvrReplicaSets = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "replicasets"}
	gvrJobs        = schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "jobs"}
	gvrNamespaces  = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
)

// ownerIndex indexes pods by the workload that controls them
// ("<namespace>/<Kind>/<name>"), so that a ReplicaSet or Job event finds its
// pods without a scan.
const ownerIndex = "owner"

// Provider serves the metadata of this node's pods from watches of the
// Kubernetes API. It implements parser.KubeLookup. Lookup may be called
// before and while Run runs; after Run returns, lookups no longer wait.
type Provider struct {
	cfg Config
	log *slog.Logger
	m   *Metrics

	version atomic.Uint64 // the last snapshot version handed out

	pods, replicaSets, jobs, namespaces cache.SharedIndexInformer
	informers                           []watched

	mu      sync.Mutex
	entries map[string]*entry // "u/<uid>" and "n/<namespace>/<name>"

	synced   chan struct{} // closed once every informer delivered its first list
	done     chan struct{} // closed when Run returns
	runOnce  atomic.Bool
	apiState sync.Mutex
	failing  map[string]bool // resource -> its last list/watch call failed
	warnedAt time.Time       // last "API server unreachable" warning
}

// watched is one informer and the resource it watches.
type watched struct {
	resource string
	inf      cache.SharedIndexInformer
	reg      cache.ResourceEventHandlerRegistration
}

// entry is the cached metadata of one pod, under one key. The handles of
// decoders point at it; cur changes atomically when the pod changes.
type entry struct {
	cur   atomic.Pointer[podMeta]
	ready chan struct{} // closed when cur is first set

	// Under Provider.mu:
	created   time.Time
	deletedAt time.Time // zero while the pod exists
	isReady   bool
}

// New returns a provider for cfg. It contacts nothing until Run.
func New(cfg Config) (*Provider, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	p := &Provider{
		cfg:     cfg,
		log:     cfg.Logger,
		m:       cfg.Metrics,
		entries: map[string]*entry{},
		synced:  make(chan struct{}),
		done:    make(chan struct{}),
		failing: map[string]bool{},
	}
	node := fields.OneTermEqualSelector("spec.nodeName", cfg.NodeName).String()
	pods := cfg.Client
	p.pods = p.informer(resPods, &corev1.Pod{}, p.stripPod, cfg.Client,
		cache.Indexers{ownerIndex: podOwnerIndex, cache.NamespaceIndex: cache.MetaNamespaceIndexFunc},
		func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = node
			return pods.List(ctx, o)
		},
		func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = node
			return pods.Watch(ctx, o)
		})
	p.replicaSets = p.metaInformer(resReplicaSets, gvrReplicaSets)
	p.jobs = p.metaInformer(resJobs, gvrJobs)
	p.informers = []watched{{resource: resPods, inf: p.pods}, {resource: resReplicaSets, inf: p.replicaSets}, {resource: resJobs, inf: p.jobs}}
	if cfg.NamespaceLabels {
		p.namespaces = p.metaInformer(resNamespaces, gvrNamespaces)
		p.informers = append(p.informers, watched{resource: resNamespaces, inf: p.namespaces})
	}

	handlers := map[string]cache.ResourceEventHandler{
		resPods: cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { p.podChanged(obj) },
			UpdateFunc: func(_, obj any) { p.podChanged(obj) },
			DeleteFunc: p.podDeleted,
		},
		resReplicaSets: p.ownerHandler("ReplicaSet"),
		resJobs:        p.ownerHandler("Job"),
		resNamespaces: cache.ResourceEventHandlerFuncs{
			AddFunc:    p.namespaceChanged,
			UpdateFunc: func(_, obj any) { p.namespaceChanged(obj) },
			DeleteFunc: p.namespaceChanged,
		},
	}
	for i := range p.informers {
		w := &p.informers[i]
		reg, err := w.inf.AddEventHandler(handlers[w.resource])
		if err != nil {
			return nil, fmt.Errorf("kubemeta: watching %s: %w", w.resource, err)
		}
		w.reg = reg
		res := w.resource
		if err := w.inf.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
			p.apiResult(res, err)
		}); err != nil {
			return nil, fmt.Errorf("kubemeta: watching %s: %w", w.resource, err)
		}
	}
	return p, nil
}

// informer makes an informer whose list and watch calls report to the
// provider's API state, and whose cache holds only what transform keeps.
func (p *Provider) informer(resource string, example runtime.Object, transform cache.TransformFunc, client any, idx cache.Indexers,
	list cache.ListWithContextFunc, watchFn cache.WatchFuncWithContext) cache.SharedIndexInformer {
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			obj, err := list(ctx, o)
			p.apiResult(resource, err)
			return obj, err
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			w, err := watchFn(ctx, o)
			p.apiResult(resource, err)
			return w, err
		},
	}
	// The client tells the reflector whether it can stream the initial list
	// (WatchList); client-go's fake clients cannot.
	inf := cache.NewSharedIndexInformerWithOptions(cache.ToListWatcherWithWatchListSemantics(lw, client), example, cache.SharedIndexInformerOptions{
		ObjectDescription: resource,
		Indexers:          idx,
	})
	// SetTransform fails only once the informer runs.
	_ = inf.SetTransform(transform)
	return inf
}

// metaInformer watches only the metadata of a resource (PartialObjectMetadata):
// ownerReferences and labels are all that is used, and a fraction of the
// bytes of the full objects crosses the wire and stays in memory.
func (p *Provider) metaInformer(resource string, gvr schema.GroupVersionResource) cache.SharedIndexInformer {
	client := p.cfg.Metadata.Resource(gvr)
	transform := stripOwned
	if resource == resNamespaces {
		transform = p.stripNamespace
	}
	return p.informer(resource, &metav1.PartialObjectMetadata{}, transform, p.cfg.Metadata, nil,
		func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return client.List(ctx, o)
		},
		func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return client.Watch(ctx, o)
		})
}

// startDelay picks the random delay before the first list (a variable for
// tests).
var startDelay = func(max time.Duration) time.Duration { return rand.N(max) }

// Run watches the API until ctx is done. It starts after a random delay of
// up to Config.StartJitter. The informers list from the API server's watch
// cache (resourceVersion "0") and resume broken watches with client-go's
// jittered exponential backoff (0.8 s doubling to 30 s), relisting after
// 410 Gone. Run returns nil when ctx is done; it may be called once.
func (p *Provider) Run(ctx context.Context) error {
	if !p.runOnce.CompareAndSwap(false, true) {
		return errors.New("kubemeta: Run called twice")
	}
	defer close(p.done)
	if j := p.cfg.StartJitter; j > 0 {
		select {
		case <-time.After(startDelay(j)):
		case <-ctx.Done():
			return nil
		}
	}
	p.log.Info("kubemeta: watching the Kubernetes API", "node", p.cfg.NodeName, "namespace_labels", p.cfg.NamespaceLabels)
	var wg sync.WaitGroup
	for _, w := range p.informers {
		wg.Go(func() { w.inf.RunWithContext(ctx) })
	}
	wg.Go(func() {
		syncs := make([]cache.InformerSynced, 0, len(p.informers))
		for _, w := range p.informers {
			syncs = append(syncs, w.reg.HasSynced)
		}
		if cache.WaitForCacheSync(ctx.Done(), syncs...) {
			close(p.synced)
			n := len(p.pods.GetStore().ListKeys())
			p.log.Info("kubemeta: synced", "node", p.cfg.NodeName, "pods", n)
			if n == 0 {
				p.log.Warn("kubemeta: no pod is scheduled on this node: is NODE_NAME (--node-name) the node's Kubernetes name?", "node", p.cfg.NodeName)
			}
		}
	})
	tick := time.NewTicker(max(p.cfg.DeleteGrace/4, 100*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return nil
		case <-tick.C:
			p.sweep()
		}
	}
}

// Synced returns a channel closed once every watched resource has been
// listed and handled.
func (p *Provider) Synced() <-chan struct{} { return p.synced }

// Lookup returns the handle of a file's container: by pod UID when the path
// has one, else by namespace and pod name. When the pod is not known yet and
// the API server answers, it waits up to Config.Wait for it (for this file
// only: each file reader looks up its own). A path that names no pod gets a
// nil handle.
func (p *Provider) Lookup(m parser.PathMeta) parser.KubeHandle {
	var key string
	switch {
	case m.PodUID != "":
		key = "u/" + m.PodUID
	case m.Namespace != "" && m.PodName != "":
		key = "n/" + m.Namespace + "/" + m.PodName
	default:
		return nil
	}
	p.mu.Lock()
	e := p.entries[key]
	if e == nil {
		e = &entry{ready: make(chan struct{}), created: p.cfg.Now()}
		p.entries[key] = e
	}
	p.mu.Unlock()
	h := &handle{e: e, container: m.ContainerName}
	if e.cur.Load() != nil && p.isSynced() {
		p.m.lookup(LookupFound)
		return h
	}
	if p.await(e) {
		p.m.lookup(LookupWaited)
	} else {
		p.m.lookup(LookupMissing)
	}
	return h
}

// await waits, at most Config.Wait, until e has metadata and every watch has
// synced (so that owners are known too). It does not wait while the API
// server fails, nor after Run returned. It reports whether e has metadata.
func (p *Provider) await(e *entry) bool {
	if p.cfg.Wait < 0 || p.apiDown() {
		return e.cur.Load() != nil
	}
	t := time.NewTimer(p.cfg.Wait)
	defer t.Stop()
	for _, ch := range []<-chan struct{}{p.synced, e.ready} {
		select {
		case <-ch:
		case <-t.C:
			return e.cur.Load() != nil
		case <-p.done:
			return e.cur.Load() != nil
		}
	}
	return true
}

func (p *Provider) isSynced() bool {
	select {
	case <-p.synced:
		return true
	default:
		return false
	}
}

// handle is one decoder's view of an entry: it caches the container's
// snapshot of the entry's current pod snapshot.
type handle struct {
	e         *entry
	container string
	last      *podMeta
	meta      *parser.KubeMeta
}

func (h *handle) Current() *parser.KubeMeta {
	if p := h.e.cur.Load(); p != h.last {
		h.last, h.meta = p, p.forContainer(h.container)
	}
	return h.meta
}

// podChanged stores a new snapshot of a pod when what it encodes changed.
func (p *Provider) podChanged(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.storePod(pod)
}

// storePod encodes pod and publishes it under its UID and its name. p.mu is held.
func (p *Provider) storePod(pod *corev1.Pod) {
	own := p.owners(pod)
	var nsLabels map[string]string
	if p.namespaces != nil {
		if obj, ok, _ := p.namespaces.GetStore().GetByKey(pod.Namespace); ok {
			if ns, ok := obj.(*metav1.PartialObjectMetadata); ok {
				nsLabels = ns.Labels
			}
		}
	}
	var pm *podMeta
	for _, key := range []string{"u/" + string(pod.UID), "n/" + pod.Namespace + "/" + pod.Name} {
		e := p.entries[key]
		if e == nil {
			e = &entry{ready: make(chan struct{}), created: p.cfg.Now()}
			p.entries[key] = e
		}
		e.deletedAt = time.Time{}
		if pm == nil {
			pm = encodePod(pod, own, p.cfg.Labels.labels, nsLabels, p.version.Load()+1)
			if cur := e.cur.Load(); cur.sameAs(pm) {
				pm = cur // nothing that is written changed (a status update)
			} else {
				p.version.Add(1)
				p.m.update()
			}
		}
		if e.cur.Load() != pm {
			e.cur.Store(pm)
		}
		if !e.isReady {
			e.isReady = true
			close(e.ready)
		}
	}
	p.m.setPods(p.countPods())
}

// countPods counts the distinct pods cached. p.mu is held.
func (p *Provider) countPods() int {
	n := 0
	for key, e := range p.entries {
		if key[0] == 'u' && e.cur.Load() != nil {
			n++
		}
	}
	return n
}

// podDeleted starts the grace period of a deleted pod's metadata.
func (p *Provider) podDeleted(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.cfg.Now()
	if e := p.entries["u/"+string(pod.UID)]; e != nil {
		e.deletedAt = now
	}
	// The name may already belong to a newer pod (a StatefulSet's
	// replacement): only the entry of this pod starts its grace period.
	if e := p.entries["n/"+pod.Namespace+"/"+pod.Name]; e != nil {
		if cur := e.cur.Load(); cur != nil && cur.uid == string(pod.UID) {
			e.deletedAt = now
		}
	}
}

// sweep drops the entries of pods deleted more than DeleteGrace ago, and
// entries that lookups created for pods that never showed up (once the
// watches are synced and working, so the pod would have arrived). Decoders
// that hold a dropped entry keep its last snapshot.
func (p *Provider) sweep() {
	// Placeholders go only while every watch works: a pod may still arrive
	// otherwise. Deleted pods go after their grace period in any case (a
	// watch that never syncs, say for want of RBAC, must not make the
	// cache grow with every pod the node ever ran).
	placeholders := p.isSynced() && !p.apiDown()
	now := p.cfg.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	for key, e := range p.entries {
		switch {
		case !e.deletedAt.IsZero() && now.Sub(e.deletedAt) >= p.cfg.DeleteGrace:
			delete(p.entries, key)
		case e.cur.Load() == nil && placeholders && now.Sub(e.created) >= p.cfg.DeleteGrace:
			delete(p.entries, key)
		}
	}
	p.m.setPods(p.countPods())
}

// owners resolves the workload names of pod from its controller owner
// reference and the cached ReplicaSets and Jobs.
func (p *Provider) owners(pod *corev1.Pod) owners {
	var o owners
	ref := controllerOf(pod.OwnerReferences)
	if ref == nil {
		return o
	}
	switch ref.Kind {
	case "ReplicaSet":
		o.replicaSet = ref.Name
		if parent := p.parentOf(p.replicaSets, pod.Namespace, ref); parent != nil && parent.Kind == "Deployment" {
			o.deployment = parent.Name
		} else if parent == nil && !p.known(p.replicaSets, pod.Namespace, ref) {
			// The ReplicaSet is not cached (yet): the Deployment
			// controller names its ReplicaSets <deployment>-<pod-template-hash>.
			if h := pod.Labels["pod-template-hash"]; h != "" && len(ref.Name) > len(h)+1 && ref.Name[len(ref.Name)-len(h)-1:] == "-"+h {
				o.deployment = ref.Name[:len(ref.Name)-len(h)-1]
			}
		}
	case "StatefulSet":
		o.statefulSet = ref.Name
	case "DaemonSet":
		o.daemonSet = ref.Name
	case "Job":
		o.job = ref.Name
		if parent := p.parentOf(p.jobs, pod.Namespace, ref); parent != nil && parent.Kind == "CronJob" {
			o.cronJob = parent.Name
		}
	}
	return o
}

// parentOf returns the controller owner of the cached object ref names (with
// ref's UID), or nil.
func (p *Provider) parentOf(inf cache.SharedIndexInformer, ns string, ref *metav1.OwnerReference) *metav1.OwnerReference {
	obj, ok, _ := inf.GetStore().GetByKey(ns + "/" + ref.Name)
	if !ok {
		return nil
	}
	m, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok || (ref.UID != "" && m.UID != ref.UID) {
		return nil
	}
	return controllerOf(m.OwnerReferences)
}

func (p *Provider) known(inf cache.SharedIndexInformer, ns string, ref *metav1.OwnerReference) bool {
	_, ok, _ := inf.GetStore().GetByKey(ns + "/" + ref.Name)
	return ok
}

// ownerHandler re-encodes the pods that a ReplicaSet or Job controls when it
// appears, changes or goes.
func (p *Provider) ownerHandler(kind string) cache.ResourceEventHandler {
	changed := func(obj any) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		m, ok := obj.(*metav1.PartialObjectMetadata)
		if !ok {
			return
		}
		p.refresh(ownerIndex, m.Namespace+"/"+kind+"/"+m.Name)
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    changed,
		UpdateFunc: func(_, obj any) { changed(obj) },
		DeleteFunc: changed,
	}
}

func (p *Provider) namespaceChanged(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	if m, ok := obj.(*metav1.PartialObjectMetadata); ok {
		p.refresh(cache.NamespaceIndex, m.Name)
	}
}

// refresh re-encodes the cached pods under one index value.
func (p *Provider) refresh(index, value string) {
	objs, err := p.pods.GetIndexer().ByIndex(index, value)
	if err != nil || len(objs) == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, obj := range objs {
		if pod, ok := obj.(*corev1.Pod); ok {
			p.storePod(pod)
		}
	}
}

func podOwnerIndex(obj any) ([]string, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, nil
	}
	if ref := controllerOf(pod.OwnerReferences); ref != nil {
		return []string{pod.Namespace + "/" + ref.Kind + "/" + ref.Name}, nil
	}
	return nil, nil
}

// controllerOf returns the owner reference marked controller, else the first.
func controllerOf(refs []metav1.OwnerReference) *metav1.OwnerReference {
	for i := range refs {
		if refs[i].Controller != nil && *refs[i].Controller {
			return &refs[i]
		}
	}
	if len(refs) > 0 {
		return &refs[0]
	}
	return nil
}

// apiResult records the outcome of a list or watch call (err nil: success),
// or a watch that broke (from the informer's watch error handler).
func (p *Provider) apiResult(resource string, err error) {
	switch {
	case err == nil:
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded), errors.Is(err, io.EOF):
		return // shutting down, or a watch the server closed normally
	case apierrors.IsResourceExpired(err), apierrors.IsGone(err):
		// 410 Gone: the watch fell behind the server's history; the
		// informer lists again. The API works, so this is not an outage.
		p.m.apiError(resource)
		return
	}
	p.apiState.Lock()
	defer p.apiState.Unlock()
	was := len(p.failing) == 0
	if err == nil {
		delete(p.failing, resource)
	} else {
		p.failing[resource] = true
		p.m.apiError(resource)
	}
	up := len(p.failing) == 0
	p.m.setUp(up)
	switch {
	case was && !up:
		if time.Since(p.warnedAt) >= time.Minute {
			p.warnedAt = time.Now()
			p.log.Warn("kubemeta: the Kubernetes API fails; shipping goes on with the metadata known, new pods flagged k8s_metadata_missing",
				"resource", resource, "err", err)
		}
	case !was && up:
		p.log.Info("kubemeta: the Kubernetes API answers again")
	}
}

// apiDown reports whether a list or watch call failed last.
func (p *Provider) apiDown() bool {
	p.apiState.Lock()
	defer p.apiState.Unlock()
	return len(p.failing) > 0
}
