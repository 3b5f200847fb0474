package deploy_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// unmarshalStrict decodes YAML the way the API server does: duplicate keys,
// unknown fields and fields in the wrong case (encoding/json would accept
// "readonly" for "readOnly") are all errors, each naming its field path.
func unmarshalStrict(doc []byte, v any) error {
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return fmt.Errorf("converting YAML to JSON: %w", err)
	}
	strictErrs, err := kjson.UnmarshalStrict(js, v)
	if err != nil {
		return err
	}
	return errors.Join(strictErrs...)
}

// object is one decoded Kubernetes manifest document.
type object struct {
	Source     string // file (and document index) it came from
	APIVersion string
	Kind       string
	Name       string
	Namespace  string
	Value      any // *appsv1.DaemonSet, *corev1.Service, ...
}

// newTyped returns an empty object of the Go type for apiVersion and kind,
// or an error for a kind these manifests have no business containing.
func newTyped(apiVersion, kind string) (any, error) {
	switch apiVersion + " " + kind {
	case "v1 Namespace":
		return &corev1.Namespace{}, nil
	case "v1 ServiceAccount":
		return &corev1.ServiceAccount{}, nil
	case "v1 ConfigMap":
		return &corev1.ConfigMap{}, nil
	case "v1 Secret":
		return &corev1.Secret{}, nil
	case "v1 Service":
		return &corev1.Service{}, nil
	case "v1 ResourceQuota":
		return &corev1.ResourceQuota{}, nil
	case "apps/v1 DaemonSet":
		return &appsv1.DaemonSet{}, nil
	case "apps/v1 StatefulSet":
		return &appsv1.StatefulSet{}, nil
	case "apps/v1 Deployment":
		return &appsv1.Deployment{}, nil
	case "rbac.authorization.k8s.io/v1 ClusterRole":
		return &rbacv1.ClusterRole{}, nil
	case "rbac.authorization.k8s.io/v1 ClusterRoleBinding":
		return &rbacv1.ClusterRoleBinding{}, nil
	}
	return nil, fmt.Errorf("unsupported manifest kind %q (apiVersion %q)", kind, apiVersion)
}

// splitDocuments splits a multi-document YAML stream on "---" lines and drops
// documents that hold only comments and blank lines.
func splitDocuments(data []byte) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	meaningful := false
	flush := func() {
		if meaningful {
			docs = append(docs, append([]byte(nil), cur.Bytes()...))
		}
		cur.Reset()
		meaningful = false
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimRight(line, " \t") == "---" || strings.HasPrefix(line, "--- ") {
			flush()
			continue
		}
		if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "#") {
			meaningful = true
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
	}
	flush()
	return docs
}

// decodeStrict decodes one YAML document into its k8s.io/api type. Unknown
// fields, duplicate keys and unsupported kinds are errors.
func decodeStrict(source string, doc []byte) (object, error) {
	var tm struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return object{}, fmt.Errorf("reading apiVersion and kind of %s: %w", source, err)
	}
	v, err := newTyped(tm.APIVersion, tm.Kind)
	if err != nil {
		return object{}, fmt.Errorf("decoding %s: %w", source, err)
	}
	if err := unmarshalStrict(doc, v); err != nil {
		return object{}, fmt.Errorf("decoding %s %s strictly: %w", tm.Kind, source, err)
	}
	o := object{Source: source, APIVersion: tm.APIVersion, Kind: tm.Kind, Value: v}
	var meta struct {
		Metadata struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
	}
	if err := yaml.Unmarshal(doc, &meta); err != nil {
		return object{}, fmt.Errorf("reading metadata of %s: %w", source, err)
	}
	o.Name, o.Namespace = meta.Metadata.Name, meta.Metadata.Namespace
	if o.Name == "" {
		return object{}, fmt.Errorf("decoding %s %s: metadata.name is empty", tm.Kind, source)
	}
	return o, nil
}

// decodeStream decodes every document of a YAML stream strictly.
func decodeStream(source string, data []byte) ([]object, error) {
	var objs []object
	for i, doc := range splitDocuments(data) {
		o, err := decodeStrict(fmt.Sprintf("%s#%d", source, i), doc)
		if err != nil {
			return nil, err
		}
		objs = append(objs, o)
	}
	if len(objs) == 0 {
		return nil, fmt.Errorf("decoding %s: no documents", source)
	}
	return objs, nil
}

func mustDecodeFile(t *testing.T, path string) []object {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading manifest: %v", err)
	}
	objs, err := decodeStream(path, data)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// mustRender runs kustomize on dir exactly as `kubectl apply -k dir` would
// (default options: load restrictions on, no plugins) and strictly decodes
// every document of the result.
func mustRender(t *testing.T, dir string) []object {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	out, err := rm.AsYaml()
	if err != nil {
		t.Fatalf("rendering %s as YAML: %v", dir, err)
	}
	objs, err := decodeStream("kustomize build "+dir, out)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func mustReadKustomization(t *testing.T, dir string) *types.Kustomization {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatalf("reading kustomization: %v", err)
	}
	var k types.Kustomization
	if err := unmarshalStrict(data, &k); err != nil {
		t.Fatalf("decoding %s/kustomization.yaml strictly: %v", dir, err)
	}
	return &k
}

// find returns the one object of kind and name, failing the test otherwise.
func find[T any](t *testing.T, objs []object, kind, name string) T {
	t.Helper()
	var found []T
	for _, o := range objs {
		if o.Kind == kind && o.Name == name {
			v, ok := o.Value.(T)
			if !ok {
				t.Fatalf("%s %s from %s is a %T", kind, name, o.Source, o.Value)
			}
			found = append(found, v)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want exactly one %s %q, found %d", kind, name, len(found))
	}
	return found[0]
}

// clusterScoped are the kinds that live in no namespace.
var clusterScoped = map[string]bool{"Namespace": true, "ClusterRole": true, "ClusterRoleBinding": true}

// manifestDirs are the kustomize directories this package ships.
var manifestDirs = []string{"kubernetes", "quickstart"}

func TestEveryManifestFileDecodesStrictly(t *testing.T) {
	for _, dir := range manifestDirs {
		files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if len(files) == 0 {
			t.Fatalf("no manifests in %s", dir)
		}
		for _, f := range files {
			base := filepath.Base(f)
			if base == "kustomization.yaml" {
				continue
			}
			t.Run(f, func(t *testing.T) {
				data, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				if isJSONPatch(data) {
					return // checked by rendering the kustomization
				}
				for _, o := range mustDecodeFile(t, f) {
					if !clusterScoped[o.Kind] && o.Namespace != "logging" {
						t.Errorf("%s %s: namespace %q, want logging", o.Kind, o.Name, o.Namespace)
					}
				}
			})
		}
	}
}

// isJSONPatch reports whether a YAML file is a JSON 6902 patch (a list).
func isJSONPatch(data []byte) bool {
	var list []map[string]any
	return yaml.Unmarshal(data, &list) == nil && len(list) > 0
}

func TestStrictDecodingRejectsBadManifests(t *testing.T) {
	const goodDaemonSet = `
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: x
spec:
  selector:
    matchLabels: {app: x}
  template:
    metadata:
      labels: {app: x}
    spec:
      containers:
        - name: x
          image: x
`
	cases := []struct {
		name    string
		doc     string
		wantErr string
	}{
		{
			name: "a valid DaemonSet decodes",
			doc:  goodDaemonSet,
		},
		{
			name:    "a misspelled container field is rejected",
			doc:     strings.Replace(goodDaemonSet, "image: x", "imagee: x", 1),
			wantErr: `unknown field "spec.template.spec.containers[0].imagee"`,
		},
		{
			name:    "a field at the wrong level is rejected",
			doc:     strings.Replace(goodDaemonSet, "      containers:", "      readOnly: true\n      containers:", 1),
			wantErr: `unknown field "spec.template.spec.readOnly"`,
		},
		{
			name: "a misspelled volume mount field is rejected",
			doc: strings.Replace(goodDaemonSet, "image: x",
				"image: x\n          volumeMounts:\n            - name: v\n              mountPath: /v\n              readonly: true", 1),
			wantErr: `unknown field "spec.template.spec.containers[0].volumeMounts[0].readonly"`,
		},
		{
			name:    "a duplicate key is rejected",
			doc:     strings.Replace(goodDaemonSet, "  name: x\n", "  name: x\n  name: y\n", 1),
			wantErr: `key "name" already set`,
		},
		{
			name:    "a kind these manifests never contain is rejected",
			doc:     "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: x\n",
			wantErr: "unsupported manifest kind",
		},
		{
			name:    "a document without a name is rejected",
			doc:     "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  namespace: x\n",
			wantErr: "metadata.name is empty",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeStream("test", []byte(tc.doc))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("decoded without error, want one containing %q", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("error %q does not contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestSplitDocuments(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want int
	}{
		{name: "a single document is one", in: "a: 1\n", want: 1},
		{name: "a leading separator adds nothing", in: "---\na: 1\n", want: 1},
		{name: "two documents are two", in: "a: 1\n---\nb: 2\n", want: 2},
		{name: "a comment-only document is dropped", in: "# header\n---\na: 1\n---\n# trailer\n", want: 1},
		{name: "a separator with trailing spaces still splits", in: "a: 1\n---  \nb: 2\n", want: 2},
		{name: "dashes inside a block scalar do not split", in: "a: |\n  ---x\nb: 2\n", want: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := len(splitDocuments([]byte(tc.in))); got != tc.want {
				t.Fatalf("got %d documents, want %d", got, tc.want)
			}
		})
	}
}

func TestKustomizationsReferenceExactlyTheFilesThatExist(t *testing.T) {
	for _, dir := range manifestDirs {
		t.Run(dir, func(t *testing.T) {
			k := mustReadKustomization(t, dir)
			if k.Namespace != "logging" {
				t.Errorf("namespace %q, want logging", k.Namespace)
			}
			referenced := map[string]bool{}
			check := func(what, p string) {
				t.Helper()
				full := filepath.Join(dir, p)
				fi, err := os.Stat(full)
				if err != nil {
					t.Errorf("%s %q: %v", what, p, err)
					return
				}
				if fi.IsDir() {
					if _, err := os.Stat(filepath.Join(full, "kustomization.yaml")); err != nil {
						t.Errorf("%s %q is a directory without kustomization.yaml", what, p)
					}
					return
				}
				referenced[filepath.Clean(full)] = true
			}
			for _, r := range k.Resources {
				check("resource", r)
			}
			for _, p := range k.Patches {
				if p.Path != "" {
					check("patch", p.Path)
				}
			}
			for _, p := range k.PatchesStrategicMerge {
				check("patchesStrategicMerge", string(p))
			}
			if len(k.Bases) > 0 || len(k.PatchesJson6902) > 0 || len(k.CommonLabels) > 0 {
				t.Errorf("uses deprecated fields (bases, patchesJson6902 or commonLabels)")
			}
			files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range files {
				b := filepath.Base(f)
				if b == "kustomization.yaml" || strings.HasSuffix(b, ".example.yaml") {
					continue
				}
				if !referenced[filepath.Clean(f)] {
					t.Errorf("%s is not referenced by %s/kustomization.yaml (name it *.example.yaml if that is on purpose)", f, dir)
				}
			}
		})
	}
}

func TestKustomizeRendersEveryDirectory(t *testing.T) {
	for _, dir := range manifestDirs {
		t.Run(dir, func(t *testing.T) {
			objs := mustRender(t, dir)
			var kinds []string
			for _, o := range objs {
				kinds = append(kinds, o.Kind+"/"+o.Name)
				if !clusterScoped[o.Kind] && o.Namespace != "logging" {
					t.Errorf("%s %s rendered into namespace %q, want logging", o.Kind, o.Name, o.Namespace)
				}
			}
			sort.Strings(kinds)
			t.Logf("rendered: %s", strings.Join(kinds, " "))
			ds := find[*appsv1.DaemonSet](t, objs, "DaemonSet", "logspool")
			if got := ds.Labels["app.kubernetes.io/part-of"]; got != "logspool" {
				t.Errorf("DaemonSet label app.kubernetes.io/part-of = %q, want logspool", got)
			}
			if got := ds.Spec.Selector.MatchLabels["app.kubernetes.io/part-of"]; got != "" {
				t.Errorf("kustomize labels leaked into the immutable selector: %v", ds.Spec.Selector.MatchLabels)
			}
		})
	}
}

func TestSecretExampleMatchesTheDaemonSetReferences(t *testing.T) {
	sec := find[*corev1.Secret](t, mustDecodeFile(t, "kubernetes/secret.example.yaml"), "Secret", "logspool-es")
	ds := find[*appsv1.DaemonSet](t, mustRender(t, "kubernetes"), "DaemonSet", "logspool")
	c := mustContainer(t, &ds.Spec.Template.Spec, "logspool")
	keys := map[string]bool{}
	for _, e := range c.Env {
		if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			continue
		}
		ref := e.ValueFrom.SecretKeyRef
		if ref.Name != sec.Name {
			t.Errorf("env %s refers to Secret %q, the example is %q", e.Name, ref.Name, sec.Name)
		}
		keys[ref.Key] = true
	}
	for k := range sec.StringData {
		if !keys[k] {
			t.Errorf("example Secret key %q is read by no env var", k)
		}
	}
}
