package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/urfave/cli/v2"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/logspool/logspool/parser/kubemeta"
)

const catKube = "Kubernetes metadata"

// kubeFlags are logspool run's flags of the Kubernetes API metadata.
func kubeFlags() []cli.Flag {
	return []cli.Flag{
		str("k8s-metadata", "auto", "auto | on | off: add labels, annotations and owners from the Kubernetes API to container documents (auto: on in a pod or with --kubeconfig)", catKube),
		str("kubeconfig", "", "kubeconfig file for the Kubernetes API (outside a pod, e.g. under systemd); default in a pod: its service account", catKube),
		strs("k8s-labels-include", nil, "only these pod labels (patterns, * matches anything; repeatable); default: all", catKube),
		strs("k8s-labels-exclude", nil, "never these pod labels (patterns; repeatable)", catKube),
		strs("k8s-annotations-include", nil, "these pod annotations (patterns; repeatable); default: none", catKube),
		strs("k8s-annotations-exclude", nil, "never these pod annotations (patterns; repeatable)", catKube),
		boolean("k8s-namespace-labels", false, "add the namespace's labels as kubernetes.namespace_labels (watches Namespaces: needs RBAC for them)", catKube),
	}
}

// inPod reports whether logspool runs in a Kubernetes pod.
func inPod() bool { return os.Getenv("KUBERNETES_SERVICE_HOST") != "" }

// newKubeMeta builds the Kubernetes metadata provider, or nil when
// --k8s-metadata resolves to off.
func newKubeMeta(c *cli.Context, node string, log *slog.Logger, reg prometheus.Registerer) (*kubemeta.Provider, error) {
	kubeconfig := c.String("kubeconfig")
	switch mode := c.String("k8s-metadata"); mode {
	case "off":
		return nil, nil
	case "auto":
		if kubeconfig == "" && !inPod() {
			return nil, nil
		}
	case "on":
	default:
		return nil, settingError(c, "k8s-metadata", mode, shape{want: "auto, on or off", example: "auto"})
	}
	var cfg *rest.Config
	var err error
	if kubeconfig != "" {
		cfg, err = clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			return nil, &configError{where: settingName(c, "kubeconfig"), value: kubeconfig, hasValue: true, why: err.Error()}
		}
	} else if cfg, err = rest.InClusterConfig(); err != nil {
		return nil, fmt.Errorf("--k8s-metadata: no in-cluster credentials (is the service account token mounted?), and no --kubeconfig: %w", err)
	}
	cfg.UserAgent = "logspool/" + version
	// A node agent asks little: its lists and watches, and their retries.
	cfg.QPS, cfg.Burst = 5, 10
	// client-go logs through klog; its retry messages are debug detail here
	// (the provider logs outages once and counts every failure).
	klog.SetLogger(logr.FromSlogHandler(debugHandler{log.With("component", "k8s").Handler()}))

	pods := rest.CopyConfig(cfg)
	pods.ContentType = "application/vnd.kubernetes.protobuf"
	client, err := kubemeta.NewPodsClient(pods)
	if err != nil {
		return nil, fmt.Errorf("creating the Kubernetes client: %w", err)
	}
	meta, err := metadata.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating the Kubernetes metadata client: %w", err)
	}
	return kubemeta.New(kubemeta.Config{
		NodeName:        node,
		Client:          client,
		Metadata:        meta,
		Labels:          kubemeta.Filter{Include: c.StringSlice("k8s-labels-include"), Exclude: c.StringSlice("k8s-labels-exclude")},
		Annotations:     kubemeta.Filter{Include: c.StringSlice("k8s-annotations-include"), Exclude: c.StringSlice("k8s-annotations-exclude")},
		NamespaceLabels: c.Bool("k8s-namespace-labels"),
		Logger:          log.With("component", "k8s"),
		Metrics:         kubemeta.NewMetrics(reg),
	})
}

// debugHandler logs every record at debug level.
type debugHandler struct{ slog.Handler }

func (h debugHandler) Enabled(ctx context.Context, _ slog.Level) bool {
	return h.Handler.Enabled(ctx, slog.LevelDebug)
}

func (h debugHandler) Handle(ctx context.Context, r slog.Record) error {
	r.Level = slog.LevelDebug
	return h.Handler.Handle(ctx, r)
}

func (h debugHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return debugHandler{h.Handler.WithAttrs(as)}
}

func (h debugHandler) WithGroup(name string) slog.Handler {
	return debugHandler{h.Handler.WithGroup(name)}
}
