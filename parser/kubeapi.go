package parser

// Metadata from the Kubernetes API (the provider lives in parser/kubemeta;
// cmd wires it in through Config.Kube). The decoder looks its container up
// once, when it is made, and afterwards only compares one pointer per line.

// FlagK8sMetadataMissing is the log.flags value of a record shipped without
// Kubernetes API metadata although Config.Kube was set: the pod was not (yet)
// known when the record was encoded.
const FlagK8sMetadataMissing = "k8s_metadata_missing"

// KubeMeta is what the Kubernetes API says about one container, encoded
// once as JSON object members that the decoder splices into its documents.
// A KubeMeta is immutable: a change (a label edited, an owner found) is a new
// *KubeMeta with a higher Version. Every member of each field starts with a
// ',' so that it can follow the path metadata; an empty field adds nothing.
type KubeMeta struct {
	// Version orders the snapshots of one container: a later snapshot has a
	// higher Version. It is what a store of per-source metadata keys on.
	Version uint64
	// Kubernetes holds members of the "kubernetes" object, e.g.
	// ,"node":{"name":"n1"},"labels":{"app":"web"},"deployment":{"name":"web"}
	Kubernetes []byte
	// Pod holds members of "kubernetes.pod", e.g. ,"ip":"10.1.2.3"
	Pod []byte
	// Container holds members of the top-level "container" object, e.g.
	// ,"image":{"name":"nginx:1.27"}
	Container []byte
}

// KubeHandle follows the metadata of one container. A decoder calls Current
// before every line, so it must be cheap (an atomic load); a handle is used
// by one decoder only.
type KubeHandle interface {
	// Current returns the container's latest metadata, or nil while its pod
	// is unknown (the documents are then flagged k8s_metadata_missing).
	Current() *KubeMeta
}

// KubeLookup finds the metadata handle of a file's container. NewDecoder
// calls Lookup once; it may block for a bounded time while the pod is not
// yet known. A nil handle means the file gets no API metadata and no flag
// (its path names no pod).
type KubeLookup interface {
	Lookup(m PathMeta) KubeHandle
}

// kubeState is a decoder's view of its container's API metadata.
type kubeState struct {
	h       KubeHandle
	cur     *KubeMeta // what the cached document tails were encoded with
	missing bool      // h != nil and cur == nil: flag every record
}

// refresh picks up a new snapshot; it reports whether the document tails
// must be encoded again.
func (k *kubeState) refresh() bool {
	if k.h == nil {
		return false
	}
	m := k.h.Current()
	if m == k.cur && (m != nil || k.missing) {
		return false
	}
	k.cur, k.missing = m, m == nil
	return true
}

func (k *kubeState) kubernetes() []byte {
	if k.cur == nil {
		return nil
	}
	return k.cur.Kubernetes
}

func (k *kubeState) pod() []byte {
	if k.cur == nil {
		return nil
	}
	return k.cur.Pod
}

func (k *kubeState) container() []byte {
	if k.cur == nil {
		return nil
	}
	return k.cur.Container
}
