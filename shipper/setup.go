package shipper

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/elastic/go-elasticsearch/v7/esapi"
)

// TemplatePriority is the priority of the installed index template: above
// the built-in "logs" template (100) that also matches logs-*-*.
const TemplatePriority = 200

// templateVersion is bumped whenever the template changes.
const templateVersion = 2

// TemplateName returns the name of the index template installed for cfg:
// "logspool" for the default index of the mode, "logspool-<index>" otherwise
// (so shippers writing to different indices do not overwrite each other).
func TemplateName(cfg Config) string {
	cfg = cfg.withDefaults()
	if (cfg.IndexMode == IndexModeDataStream && cfg.Index == DefaultIndex) ||
		(cfg.IndexMode == IndexModeDaily && cfg.Index == DefaultDailyPrefix) {
		return "logspool"
	}
	return "logspool-" + strings.Trim(cfg.Index, ".")
}

// TemplateBody returns the composable index template installed for cfg on a
// cluster of flavour f. kubernetes.labels, kubernetes.annotations and
// kubernetes.namespace_labels hold user-chosen keys: they are mapped as one
// field each (see keyValueMapping), so thousands of distinct label keys
// cannot explode the mapping.
func TemplateBody(cfg Config, f Flavor) []byte {
	cfg = cfg.withDefaults()
	kw := func() map[string]any { return map[string]any{"type": "keyword", "ignore_above": 1024} }
	obj := func(props map[string]any) map[string]any { return map[string]any{"properties": props} }
	mappings := map[string]any{
		"dynamic_templates": []any{
			map[string]any{"strings_as_keyword": map[string]any{
				"match_mapping_type": "string",
				"mapping":            kw(),
			}},
		},
		"properties": map[string]any{
			"@timestamp": map[string]any{"type": "date_nanos"},
			"message":    map[string]any{"type": "text"},
			"stream":     kw(),
			"log": obj(map[string]any{
				"file":   obj(map[string]any{"path": kw()}),
				"offset": map[string]any{"type": "long"},
				"level":  kw(),
			}),
			"host": obj(map[string]any{"name": kw(), "hostname": kw()}),
			"container": obj(map[string]any{
				"id": kw(), "name": kw(), "runtime": kw(),
				"image": obj(map[string]any{"name": kw()}),
			}),
			"kubernetes": obj(map[string]any{
				"namespace": kw(),
				"pod":       obj(map[string]any{"name": kw(), "uid": kw()}),
				"container": obj(map[string]any{"name": kw()}),
				"node":      obj(map[string]any{"name": kw()}),
				// Labels and annotations from the Kubernetes API.
				"labels":           keyValueMapping(f),
				"annotations":      keyValueMapping(f),
				"namespace_labels": keyValueMapping(f),
			}),
			"systemd": obj(map[string]any{
				"unit": kw(), "user_unit": kw(), "slice": kw(),
				"transport": kw(), "invocation_id": kw(),
			}),
			"event":  obj(map[string]any{"dataset": kw(), "original": map[string]any{"type": "keyword", "index": false, "doc_values": false}}),
			"labels": map[string]any{"type": "object"},
		},
	}
	tpl := map[string]any{
		"priority": TemplatePriority,
		"template": map[string]any{"mappings": mappings},
		"_meta":    map[string]any{"managed_by": "logspool", "version": templateVersion},
	}
	if cfg.IndexMode == IndexModeDaily {
		tpl["index_patterns"] = []string{cfg.Index + "-*"}
	} else {
		tpl["index_patterns"] = []string{cfg.Index}
		tpl["data_stream"] = map[string]any{}
	}
	b, err := json.Marshal(tpl)
	if err != nil {
		panic(fmt.Sprintf("shipper: encoding index template: %v", err)) // static data
	}
	return b
}

// keyValueMapping maps an object of arbitrary string keys as one field:
// flattened on Elasticsearch (7.3 and later, basic licence), flat_object on
// OpenSearch 2.7 and later. Elsewhere (older OpenSearch, or a cluster whose
// product could not be detected) it stays an object whose strings become
// keyword fields through the template's dynamic template: one field per key,
// bounded only by index.mapping.total_fields.limit.
func keyValueMapping(f Flavor) map[string]any {
	switch {
	case f.Distribution == DistElasticsearch:
		return map[string]any{"type": "flattened"}
	case f.Distribution == DistOpenSearch && versionAtLeast(f.Version, 2, 7):
		return map[string]any{"type": "flat_object"}
	}
	return map[string]any{"type": "object"}
}

// versionAtLeast reports whether the version "X.Y.Z" is at least major.minor.
func versionAtLeast(v string, major, minor int) bool {
	var x, y int
	if n, _ := fmt.Sscanf(v, "%d.%d", &x, &y); n < 2 {
		return false
	}
	return x > major || x == major && y >= minor
}

// setupRefusedError marks a setup request the cluster refused for good (no
// privileges, or a template this cluster does not accept): warn and ship.
type setupRefusedError struct{ err *StatusError }

func (e *setupRefusedError) Error() string { return e.err.Error() }

// installTemplate PUTs the index template. A 401/403 or another 4xx is
// returned as *setupRefusedError (the caller warns and ships anyway); other
// failures are returned as they are (the caller retries).
func installTemplate(ctx context.Context, tp esapi.Transport, cfg *Config, f Flavor) error {
	req := esapi.IndicesPutIndexTemplateRequest{
		Name: TemplateName(*cfg),
		Body: bytes.NewReader(TemplateBody(*cfg, f)),
	}
	res, err := req.Do(ctx, tp)
	if err != nil {
		return fmt.Errorf("shipper: installing index template %s: %w", req.Name, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, maxInfoBody))
	if res.StatusCode >= 200 && res.StatusCode < 300 {
		return nil
	}
	se := &StatusError{Op: "setup", Status: res.StatusCode, Text: requestErrorText(res.StatusCode, body)}
	if res.StatusCode >= 400 && res.StatusCode < 500 && res.StatusCode != http.StatusTooManyRequests && res.StatusCode != http.StatusRequestTimeout {
		return &setupRefusedError{se}
	}
	return se
}
