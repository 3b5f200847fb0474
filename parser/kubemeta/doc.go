// Package kubemeta adds what the Kubernetes API knows about a container to
// its log documents: labels, annotations, namespace labels, node, pod IP,
// image and the owning workload, with the names Filebeat's
// add_kubernetes_metadata uses.
//
// # Fields
//
// A Provider implements parser.KubeLookup. The parser splices its encoded
// members into every document of a container log file whose path names a pod:
//
//	kubernetes.labels.*               the pod's labels (Config.Labels: all when Include is empty)
//	kubernetes.annotations.*          the pod's annotations (Config.Annotations: none unless included)
//	kubernetes.namespace_labels.*     the namespace's labels (Config.NamespaceLabels; the label filter applies)
//	kubernetes.node.name              spec.nodeName
//	kubernetes.pod.ip                 status.podIP
//	kubernetes.replicaset.name        the controller owner, when a ReplicaSet
//	kubernetes.deployment.name        the ReplicaSet's controller owner, when a Deployment
//	kubernetes.statefulset.name, kubernetes.daemonset.name, kubernetes.job.name
//	kubernetes.cronjob.name           the Job's controller owner, when a CronJob
//	container.image.name              the container's image as the spec names it
//
// Label and annotation keys are de-dotted as Filebeat does by default (every
// '.' becomes '_': app.kubernetes.io/name is written app_kubernetes_io/name),
// so that they never turn into nested objects. Keys that collide once
// de-dotted keep the first in byte order. Filter patterns match the original
// keys; '*' matches any run of characters.
//
// # Source
//
// Informers of k8s.io/client-go watch this node's pods only (field selector
// spec.nodeName=Config.NodeName), and the metadata alone
// (PartialObjectMetadata) of every ReplicaSet and Job (to find Deployments
// and CronJobs) and, with namespace labels, of Namespaces. A transform strips
// each object before it is cached: managedFields, specs, statuses and
// unselected annotations never stay in memory. RBAC needs list and watch on
// exactly pods, replicasets.apps, jobs.batch (and namespaces); nothing is
// ever fetched with get. Pods are listed and watched through NewPodsClient,
// a REST client that knows the core/v1 types only, with the requests of
// client-go's typed client; the clientset itself (every API group of
// Kubernetes, registered at start) is not linked into the agent: it made
// the binary 27 MB larger and the resident set of every agent, metadata on
// or off, about 10 MiB larger.
//
// # Snapshots
//
// Each pod's metadata is encoded once per change into an immutable snapshot:
// per container a parser.KubeMeta with a Version that increases with every
// change. A snapshot is replaced (atomically, one pointer) only when what it
// encodes changes, so status updates cost the decoders nothing. A decoder
// looks its container up once (by pod UID from the path, else by namespace
// and pod name) and then loads one pointer per line; a label change shows in
// the next line it decodes.
//
// # Timing
//
//   - A file whose pod the watch has not delivered yet makes its lookup wait
//     up to Config.Wait (2 s), for that file only, and until every watch has
//     synced (so owners are known too). Then the file ships with its path
//     metadata, flagged k8s_metadata_missing (counted in
//     logspool_parser_k8s_metadata_missing_total) until the pod arrives.
//   - A deleted pod's metadata stays for Config.DeleteGrace (60 s) for files
//     found after the deletion; decoders that hold it keep it for good.
//   - While the API server fails or is slow nothing waits on it: lookups of
//     unknown pods do not wait, documents go out with what is known (flagged
//     when nothing is), and logspool_k8s_metadata_api_up is 0. Informers
//     resume with client-go's jittered exponential backoff (0.8 s to 30 s) and
//     relist after 410 Gone.
//   - The first list starts after a random delay of up to Config.StartJitter
//     (1 s), and the informers' initial lists are served from the API
//     server's watch cache (a streaming watch-list, or resourceVersion=0),
//     never a quorum read of etcd, so that a DaemonSet restarted on many
//     nodes does not storm the API server.
//
// # Metrics
//
//	logspool_k8s_metadata_lookups_total{result="found|waited|missing"}
//	logspool_k8s_metadata_api_errors_total{resource}
//	logspool_k8s_metadata_api_up
//	logspool_k8s_metadata_pods
//	logspool_k8s_metadata_updates_total
package kubemeta
