package kubemeta

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"k8s.io/client-go/metadata"

	"github.com/logspool/logspool/internal/configerr"
	"github.com/logspool/logspool/parser"
)

// Defaults for the zero values of Config.
const (
	DefaultWait        = 2 * time.Second
	DefaultDeleteGrace = 60 * time.Second
	DefaultStartJitter = time.Second
)

// Config configures a Provider. The zero value of every optional field means
// its documented default.
type Config struct {
	// NodeName is this node's Kubernetes name: only pods with
	// spec.nodeName=NodeName are watched. Required.
	NodeName string
	// Client lists and watches pods (NewPodsClient, or a clientset's
	// CoreV1().Pods("")). Required.
	Client PodsClient
	// Metadata lists and watches the metadata of ReplicaSets, Jobs and (with
	// NamespaceLabels) Namespaces. Required.
	Metadata metadata.Interface

	// Labels selects the pod labels written to kubernetes.labels (and the
	// namespace labels written to kubernetes.namespace_labels): all of them
	// when Include is empty.
	Labels Filter
	// Annotations selects the pod annotations written to
	// kubernetes.annotations: none when Include is empty.
	Annotations Filter
	// NamespaceLabels writes the labels of the pod's namespace to
	// kubernetes.namespace_labels (it watches Namespaces).
	NamespaceLabels bool

	// Wait bounds how long Lookup waits for a pod the watch has not
	// delivered yet (only while the API server answers). Default 2s;
	// negative: do not wait.
	Wait time.Duration
	// DeleteGrace is how long a deleted pod's metadata stays available to
	// files found after the deletion. Default 60s.
	DeleteGrace time.Duration
	// StartJitter bounds the random delay before the first list, so that a
	// DaemonSet started on many nodes at once spreads its lists. Default 1s;
	// negative: none.
	StartJitter time.Duration

	// Logger receives the provider's messages. Default slog.Default().
	Logger *slog.Logger
	// Metrics receives the provider's metrics; nil records nothing.
	Metrics *Metrics
	// Now is the clock of the delete grace period. Default time.Now.
	Now func() time.Time
}

// Filter selects keys by pattern. A pattern matches a key exactly, except
// that each '*' matches any run of characters (including '/' and '.').
type Filter struct {
	Include []string
	Exclude []string
}

// Validate reports the first invalid field of c as a *parser.ConfigError
// (wrapping parser.ErrInvalidConfig: kubemeta is part of the parser).
func (c *Config) Validate() error {
	switch {
	case c.NodeName == "":
		return configerr.New(parser.ErrInvalidConfig, "NodeName", "is empty (set NODE_NAME or --node-name to this node's Kubernetes name)")
	case c.Client == nil:
		return configerr.New(parser.ErrInvalidConfig, "Client", "is nil")
	case c.Metadata == nil:
		return configerr.New(parser.ErrInvalidConfig, "Metadata", "is nil")
	case c.DeleteGrace < 0:
		return configerr.New(parser.ErrInvalidConfig, "DeleteGrace", "is %v, must not be negative", c.DeleteGrace)
	}
	for _, f := range []struct {
		name string
		list []string
	}{{"Labels.Include", c.Labels.Include}, {"Labels.Exclude", c.Labels.Exclude},
		{"Annotations.Include", c.Annotations.Include}, {"Annotations.Exclude", c.Annotations.Exclude}} {
		for i, p := range f.list {
			if strings.TrimSpace(p) == "" {
				return configerr.New(parser.ErrInvalidConfig, fmt.Sprintf("%s[%d]", f.name, i), "is an empty pattern")
			}
		}
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Wait == 0 {
		c.Wait = DefaultWait
	}
	if c.DeleteGrace == 0 {
		c.DeleteGrace = DefaultDeleteGrace
	}
	if c.StartJitter == 0 {
		c.StartJitter = DefaultStartJitter
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// labels reports whether the label key is selected.
func (f *Filter) labels(key string) bool {
	return (len(f.Include) == 0 || matchAny(f.Include, key)) && !matchAny(f.Exclude, key)
}

// annotations reports whether the annotation key is selected.
func (f *Filter) annotations(key string) bool {
	return len(f.Include) > 0 && matchAny(f.Include, key) && !matchAny(f.Exclude, key)
}

func matchAny(patterns []string, key string) bool {
	for _, p := range patterns {
		if match(p, key) {
			return true
		}
	}
	return false
}

// match reports whether key matches pattern, where '*' matches any run of
// characters.
func match(pattern, key string) bool {
	first, rest, wild := strings.Cut(pattern, "*")
	if !wild {
		return pattern == key
	}
	if !strings.HasPrefix(key, first) {
		return false
	}
	key = key[len(first):]
	for {
		var part string
		part, rest, wild = strings.Cut(rest, "*")
		if !wild {
			return strings.HasSuffix(key, part) // the last part is anchored at the end
		}
		i := strings.Index(key, part)
		if i < 0 {
			return false
		}
		key = key[i+len(part):]
	}
}
