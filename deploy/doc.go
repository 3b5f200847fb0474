// Package deploy holds no Go code that ships: it is the home of logspool's
// deployment files and of the tests that hold them to their promises.
//
// Layout:
//
//	deploy/systemd/logspool.service   hardened systemd unit (make install)
//	deploy/systemd/logspool.yaml      example /etc/logspool/logspool.yaml, every key documented
//	deploy/systemd/logspool.default   example /etc/default/logspool (secrets, mode 0600)
//	deploy/kubernetes/                Namespace, ServiceAccount, ResourceQuota, ConfigMap,
//	                                  DaemonSet and kustomization.yaml (kubectl apply -k)
//	deploy/kubernetes/secret.example.yaml  the Secret's shape; deliberately not applied
//	deploy/kubernetes/rbac.yaml       ClusterRole + binding: list/watch pods, replicasets, jobs
//	deploy/kubernetes/rbac-namespace-labels.example.yaml  namespaces too, for --k8s-namespace-labels
//	deploy/quickstart/                Elasticsearch 7.17 + Kibana 7.17 + the DaemonSet
//	                                  as a kustomize overlay of deploy/kubernetes
//	../Dockerfile, ../.dockerignore   static binary on distroless
//
// What the tests guarantee, without a cluster, kubectl or docker:
//
//   - Every Kubernetes manifest, as written and as rendered by kustomize (the
//     same library kubectl apply -k uses), decodes strictly into the
//     k8s.io/api types: an unknown or misspelled field, a duplicate key or an
//     unexpected kind fails.
//   - The DaemonSet reads every log location through a read-only mount of
//     the same host path, writes only its DirectoryOrCreate hostPath spool,
//     runs with a read-only root file system, no privilege escalation, all
//     capabilities dropped but DAC_READ_SEARCH, probes /healthz on the named
//     metrics port, takes NODE_NAME from the downward API, tolerates every
//     taint, is system-node-critical, has resources, never surges two pods
//     onto one spool, and waits longer than its drain before SIGKILL.
//   - The DaemonSet's service account (its token mounted in the pod, not
//     automounted elsewhere) may list and watch exactly pods, replicasets.apps
//     and jobs.batch: no other verb, resource or wildcard (rbac_test.go).
//   - The quickstart's Kibana and logspool reach Elasticsearch through a
//     Service that exists, on a port it serves, selecting the ES pods.
//   - The systemd unit passes systemd-analyze verify and has an exposure
//     score of 2.0 or lower in systemd-analyze security; make install honours
//     DESTDIR and PREFIX, sets modes, and never overwrites an admin's config.
//     These skip, saying why, where systemd-analyze or make is absent.
//   - Every flag the files use or document is one of cmd/logspool's flags,
//     checked against the built binary's help when cmd/logspool has a main,
//     and the example config documents every flag the binary has.
//   - The built binary accepts the systemd example config and the
//     ConfigMap's config (serves /healthz, exits 0 on SIGTERM) and refuses a
//     misspelled key.
//   - Run as root with setpriv, the two privilege profiles (the unit's
//     unprivileged user with ambient CAP_DAC_READ_SEARCH, the pod's uid 0
//     with only DAC_READ_SEARCH) ship a line from a protected log, and the
//     same profiles without the capability do not; the systemd-journal group
//     alone reads a real journal file (from the systemd package's corpus),
//     and without it nothing of the journal is read.
//   - The Dockerfile is multi-stage, builds ./cmd/logspool with
//     CGO_ENABLED=0 -trimpath, and runs /logspool run on a minimal base.
package deploy
