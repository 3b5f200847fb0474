package deploy_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
)

// The Kubernetes API access logspool needs for --k8s-metadata (see
// parser/kubemeta): list and watch, on exactly these resources ("group/resource").
var (
	wantRBAC          = []string{"/pods", "apps/replicasets", "batch/jobs"}
	wantNamespaceRBAC = []string{"/namespaces"}
	wantVerbs         = []string{"list", "watch"}
)

// grants returns the "group/resource" pairs of rules, failing on anything
// beyond list and watch of named resources.
func grants(rules []rbacv1.PolicyRule) ([]string, error) {
	var out []string
	var errs []error
	for _, r := range rules {
		verbs := slices.Clone(r.Verbs)
		sort.Strings(verbs)
		if !slices.Equal(verbs, wantVerbs) {
			errs = append(errs, fmt.Errorf("rule %v grants verbs %v, want exactly %v", r.Resources, r.Verbs, wantVerbs))
		}
		if len(r.ResourceNames) > 0 || len(r.NonResourceURLs) > 0 {
			errs = append(errs, fmt.Errorf("rule %v has resourceNames or nonResourceURLs", r.Resources))
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				if g == "*" || res == "*" || strings.Contains(res, "/") {
					errs = append(errs, fmt.Errorf("rule grants %q in group %q: wildcards and subresources are not needed", res, g))
				}
				out = append(out, g+"/"+res)
			}
		}
	}
	sort.Strings(out)
	return out, errors.Join(errs...)
}

// checkRBAC checks that the DaemonSet's service account is bound to exactly
// the access logspool needs, through ClusterRoles in objs.
func checkRBAC(objs []object, ds *appsv1.DaemonSet) error {
	sa := ds.Spec.Template.Spec.ServiceAccountName
	var got []string
	var errs []error
	bound := 0
	for _, o := range objs {
		switch v := o.Value.(type) {
		case *rbacv1.ClusterRoleBinding:
			if !slices.ContainsFunc(v.Subjects, func(s rbacv1.Subject) bool {
				return s.Kind == "ServiceAccount" && s.Name == sa && s.Namespace == ds.Namespace
			}) {
				errs = append(errs, fmt.Errorf("ClusterRoleBinding %s binds %v, not the DaemonSet's service account %s/%s", v.Name, v.Subjects, ds.Namespace, sa))
				continue
			}
			if len(v.Subjects) != 1 {
				errs = append(errs, fmt.Errorf("ClusterRoleBinding %s binds more than logspool: %v", v.Name, v.Subjects))
			}
			if v.RoleRef.Kind != "ClusterRole" {
				errs = append(errs, fmt.Errorf("ClusterRoleBinding %s refers to a %s", v.Name, v.RoleRef.Kind))
				continue
			}
			role, err := findObject[*rbacv1.ClusterRole](objs, "ClusterRole", v.RoleRef.Name)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if role.AggregationRule != nil {
				errs = append(errs, fmt.Errorf("ClusterRole %s aggregates other roles", role.Name))
			}
			g, err := grants(role.Rules)
			errs = append(errs, err)
			got = append(got, g...)
			bound++
		case *rbacv1.ClusterRole:
			if _, err := findBindingOf(objs, v.Name); err != nil {
				errs = append(errs, err)
			}
		}
	}
	sort.Strings(got)
	if bound == 0 {
		errs = append(errs, fmt.Errorf("no ClusterRoleBinding for the service account %s: the metadata watch would be forbidden", sa))
	} else if !slices.Equal(got, wantRBAC) {
		errs = append(errs, fmt.Errorf("the service account may list and watch %v, want exactly %v", got, wantRBAC))
	}
	return errors.Join(errs...)
}

func findBindingOf(objs []object, role string) (*rbacv1.ClusterRoleBinding, error) {
	for _, o := range objs {
		if b, ok := o.Value.(*rbacv1.ClusterRoleBinding); ok && b.RoleRef.Name == role {
			return b, nil
		}
	}
	return nil, fmt.Errorf("ClusterRole %s is bound by nothing", role)
}

func TestRBACIsLeastPrivilege(t *testing.T) {
	for _, dir := range manifestDirs {
		t.Run(dir, func(t *testing.T) {
			objs := mustRender(t, dir)
			ds := find[*appsv1.DaemonSet](t, objs, "DaemonSet", "logspool")
			if err := checkRBAC(objs, ds); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestNamespaceLabelsRBACExample: the opt-in file grants namespaces only, to
// the same service account.
func TestNamespaceLabelsRBACExample(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("kubernetes", "rbac-namespace-labels.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeStream("rbac-namespace-labels.example.yaml", b)
	if err != nil {
		t.Fatal(err)
	}
	role := find[*rbacv1.ClusterRole](t, objs, "ClusterRole", "logspool-namespace-labels")
	g, err := grants(role.Rules)
	if err != nil || !slices.Equal(g, wantNamespaceRBAC) {
		t.Fatalf("grants %v (%v), want exactly %v", g, err, wantNamespaceRBAC)
	}
	bind, err := findBindingOf(objs, role.Name)
	if err != nil {
		t.Fatal(err)
	}
	if len(bind.Subjects) != 1 || bind.Subjects[0].Name != "logspool" || bind.Subjects[0].Namespace != "logging" {
		t.Fatalf("binds %v", bind.Subjects)
	}
}

// TestRBACCheckCatchesMistakes breaks the rendered RBAC one way at a time.
func TestRBACCheckCatchesMistakes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		breakIt func(objs []object)
	}{
		{"get on pods", func(objs []object) { role(objs).Rules[0].Verbs = append(role(objs).Rules[0].Verbs, "get") }},
		{"secrets too", func(objs []object) { role(objs).Rules[0].Resources = append(role(objs).Rules[0].Resources, "secrets") }},
		{"a wildcard resource", func(objs []object) { role(objs).Rules[1].Resources = []string{"*"} }},
		{"jobs missing", func(objs []object) { role(objs).Rules = role(objs).Rules[:2] }},
		{"namespaces without the flag", func(objs []object) {
			role(objs).Rules = append(role(objs).Rules, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: wantVerbs})
		}},
		{"bound to another account", func(objs []object) {
			for _, o := range objs {
				if b, ok := o.Value.(*rbacv1.ClusterRoleBinding); ok {
					b.Subjects[0].Name = "default"
				}
			}
		}},
		{"no binding", func(objs []object) {
			for i, o := range objs {
				if _, ok := o.Value.(*rbacv1.ClusterRoleBinding); ok {
					objs[i].Value = &corev1.ConfigMap{}
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := mustRender(t, "kubernetes")
			ds := find[*appsv1.DaemonSet](t, objs, "DaemonSet", "logspool")
			tc.breakIt(objs)
			if err := checkRBAC(objs, ds); err == nil {
				t.Fatal("the RBAC check accepted it")
			}
		})
	}
}

func role(objs []object) *rbacv1.ClusterRole {
	for _, o := range objs {
		if r, ok := o.Value.(*rbacv1.ClusterRole); ok && r.Name == "logspool" {
			return r
		}
	}
	panic("no ClusterRole logspool")
}
