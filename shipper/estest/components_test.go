package estest

import (
	"strings"
	"testing"
)

func TestComponentTemplatesAndPipelines(t *testing.T) {
	s := startServer(t, Options{})
	hc := httpClient(t)
	steps := []struct {
		name, method, path, body string
		status                   int
		contains                 string
	}{
		{name: "a template composed of a missing component is refused", method: "PUT", path: "/_index_template/app",
			body: `{"index_patterns":["app-*"],"composed_of":["app-mappings"]}`, status: 400, contains: "specifies component templates [app-mappings] that do not exist"},
		{name: "a component template is stored", method: "PUT", path: "/_component_template/app-mappings",
			body: `{"template":{"mappings":{"properties":{"code":{"type":"long"}}}}}`, status: 200},
		{name: "the template composed of it is accepted", method: "PUT", path: "/_index_template/app",
			body: `{"index_patterns":["app-*"],"composed_of":["app-mappings"],"priority":5}`, status: 200},
		{name: "the component's mapping applies to new indices", method: "POST", path: "/_bulk",
			body: `{"create":{"_index":"app-1","_id":"a"}}` + "\n" + `{"code":"not a number"}` + "\n", status: 200, contains: `"status":400`},
		{name: "a component in use cannot be deleted", method: "DELETE", path: "/_component_template/app-mappings", status: 400, contains: "still in use"},
		{name: "the built-in components exist", method: "GET", path: "/_component_template/logs-mappings", status: 200, contains: `"name":"logs-mappings"`},
		{name: "a bulk naming a missing pipeline fails per item", method: "POST", path: "/_bulk?pipeline=enrich",
			body: createLines("p", "1"), status: 200, contains: "pipeline with id [enrich] does not exist"},
		{name: "a pipeline without processors is refused", method: "PUT", path: "/_ingest/pipeline/enrich", body: `{}`, status: 400},
		{name: "a pipeline is stored", method: "PUT", path: "/_ingest/pipeline/enrich", body: `{"processors":[]}`, status: 200},
		{name: "the pipeline is returned", method: "GET", path: "/_ingest/pipeline/enrich", status: 200, contains: `"enrich":{"processors":[]}`},
		{name: "a bulk naming the pipeline passes", method: "POST", path: "/_bulk?pipeline=enrich",
			body: createLines("p", "2"), status: 200, contains: `"status":201`},
		{name: "a missing pipeline is a 404", method: "GET", path: "/_ingest/pipeline/other", status: 404},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			res := do(t, hc, s, st.method, st.path, st.body, "Content-Type: application/json")
			if res.status != st.status {
				t.Fatalf("status = %d, want %d: %s", res.status, st.status, res.body)
			}
			if !strings.Contains(string(res.body), st.contains) {
				t.Errorf("body %s lacks %q", res.body, st.contains)
			}
		})
	}
}

func TestTypedBulkPathOnElasticsearch7(t *testing.T) {
	s := startServer(t, Options{Flavor: Elasticsearch7})
	hc := httpClient(t)
	res := do(t, hc, s, "POST", "/legacy/_doc/_bulk", `{"index":{"_id":"1"}}`+"\n{\"m\":1}\n")
	if res.status != 200 || s.Count("legacy") != 1 {
		t.Fatalf("typed bulk: %d %s", res.status, res.body)
	}
	s8 := startServer(t, Options{})
	if res := do(t, hc, s8, "POST", "/legacy/_doc/_bulk", `{"index":{"_id":"1"}}`+"\n{\"m\":1}\n"); res.status != 400 {
		t.Fatalf("typed bulk on 8.x: %d", res.status)
	}
}
