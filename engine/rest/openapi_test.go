package rest_test

import (
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/freshet/freshet/engine/cluster"
	"github.com/freshet/freshet/engine/rest"
)

// The API's documentation must describe what the server serves: these
// tests fail when a route, a field or an error code is added on one side
// only.

func loadOpenAPI(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile("../../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("docs/openapi.yaml: %v", err)
	}
	return doc
}

func m(v any) map[string]any { x, _ := v.(map[string]any); return x }

func testServer(t *testing.T) *rest.Server {
	t.Helper()
	mc, err := cluster.NewMiniCluster(cluster.MiniClusterConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mc.Close() })
	s, err := rest.NewServer(rest.Config{Cluster: rest.NewLocalCluster(mc, rest.LocalConfig{})})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var methods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	doc := loadOpenAPI(t)
	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.0.") {
		t.Fatalf("openapi: %q, want 3.0.x", v)
	}
	if info := m(doc["info"]); info["title"] == nil || info["version"] == nil {
		t.Fatal("info needs a title and a version")
	}
	var documented []string
	opIDs := map[string]bool{}
	for path, item := range m(doc["paths"]) {
		pathParams := declaredParams(t, doc, m(item)["parameters"])
		for _, method := range methods {
			op := m(m(item)[method])
			if op == nil {
				continue
			}
			route := strings.ToUpper(method) + " " + path
			documented = append(documented, route)
			id, _ := op["operationId"].(string)
			if id == "" || opIDs[id] {
				t.Errorf("%s: operationId %q is missing or not unique", route, id)
			}
			opIDs[id] = true
			all := append(declaredParams(t, doc, op["parameters"]), pathParams...)
			for _, want := range regexp.MustCompile(`\{([^}]+)\}`).FindAllStringSubmatch(path, -1) {
				if !slices.Contains(all, "path:"+want[1]) {
					t.Errorf("%s: path parameter %s is not declared", route, want[1])
				}
			}
			ok2xx := false
			for code, resp := range m(op["responses"]) {
				if strings.HasPrefix(code, "2") {
					ok2xx = true
				}
				if r := m(resp); r["$ref"] == nil && r["description"] == nil {
					t.Errorf("%s: response %s has no description", route, code)
				}
			}
			if !ok2xx {
				t.Errorf("%s: no success response", route)
			}
		}
	}
	sort.Strings(documented)
	served := testServer(t).Routes()
	for _, r := range served {
		if !slices.Contains(documented, r) {
			t.Errorf("the server serves %s but docs/openapi.yaml does not document it", r)
		}
	}
	for _, r := range documented {
		if !slices.Contains(served, r) {
			t.Errorf("docs/openapi.yaml documents %s but the server does not serve it", r)
		}
	}
	md, err := os.ReadFile("../../docs/rest-api.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range served {
		if !strings.Contains(string(md), r) {
			t.Errorf("docs/rest-api.md does not mention %s", r)
		}
	}
}

// declaredParams lists the parameters of a parameters list as "in:name".
func declaredParams(t *testing.T, doc map[string]any, list any) []string {
	var out []string
	items, _ := list.([]any)
	for _, p := range items {
		pm := m(p)
		if ref, ok := pm["$ref"].(string); ok {
			pm = resolve(t, doc, ref)
		}
		out = append(out, pm["in"].(string)+":"+pm["name"].(string))
	}
	return out
}

func resolve(t *testing.T, doc map[string]any, ref string) map[string]any {
	t.Helper()
	path, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		t.Fatalf("$ref %q is not local", ref)
	}
	var cur any = doc
	for _, seg := range strings.Split(path, "/") {
		cur = m(cur)[seg]
		if cur == nil {
			t.Fatalf("$ref %q does not resolve", ref)
		}
	}
	return m(cur)
}

func TestOpenAPIReferencesResolve(t *testing.T) {
	doc := loadOpenAPI(t)
	var walk func(v any)
	n := 0
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				resolve(t, doc, ref)
				n++
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(doc)
	if n < 50 {
		t.Fatalf("only %d references: is the walk broken?", n)
	}
}

// schemaFields returns the property names of a schema, through allOf and
// $ref.
func schemaFields(t *testing.T, doc map[string]any, s map[string]any) []string {
	if ref, ok := s["$ref"].(string); ok {
		s = resolve(t, doc, ref)
	}
	var out []string
	for k := range m(s["properties"]) {
		out = append(out, k)
	}
	all, _ := s["allOf"].([]any)
	for _, sub := range all {
		out = append(out, schemaFields(t, doc, m(sub))...)
	}
	sort.Strings(out)
	return out
}

// jsonFields returns the JSON names of a struct's fields, flattening
// embedded structs.
func jsonFields(typ reflect.Type) []string {
	var out []string
	for i := range typ.NumField() {
		f := typ.Field(i)
		if f.Anonymous {
			out = append(out, jsonFields(f.Type)...)
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

func TestOpenAPISchemasMatchTheWireTypes(t *testing.T) {
	doc := loadOpenAPI(t)
	schemas := m(m(doc["components"])["schemas"])
	for name, v := range map[string]any{
		"ErrorBody": rest.ErrorBody{}, "Overview": rest.Overview{}, "TaskManagerList": rest.TaskManagerList{},
		"TaskManager": rest.TaskManagerInfo{}, "JobSummary": rest.JobSummary{}, "JobList": rest.JobList{},
		"JobDetails": rest.JobDetails{}, "Vertex": rest.Vertex{}, "Checkpoint": rest.Checkpoint{},
		"Checkpoints": rest.Checkpoints{}, "Event": rest.Event{}, "EventList": rest.EventList{},
		"Exceptions": rest.Exceptions{}, "SubmitResponse": rest.SubmitResponse{}, "SavepointRequest": rest.SavepointRequest{},
		"StopRequest": rest.StopRequest{}, "Accepted": rest.Accepted{}, "OperationStatus": rest.OperationStatus{},
		"Module": rest.Module{}, "ModuleList": rest.ModuleList{}, "SwapRequest": rest.SwapRequest{}, "SwapStatus": rest.SwapStatus{},
	} {
		s := m(schemas[name])
		if s == nil {
			t.Errorf("no schema %s", name)
			continue
		}
		got, want := schemaFields(t, doc, s), jsonFields(reflect.TypeOf(v))
		if !slices.Equal(got, want) {
			t.Errorf("schema %s has properties %v; the Go type %T has %v", name, got, v, want)
		}
	}
	var codes []string
	for _, c := range m(m(schemas["ErrorBody"])["properties"])["code"].(map[string]any)["enum"].([]any) {
		codes = append(codes, c.(string))
	}
	for _, c := range []string{rest.CodeBadRequest, rest.CodeInvalidJob, rest.CodeInvalidModule, rest.CodeNotFound, rest.CodeMethodNotAllowed,
		rest.CodeConflict, rest.CodeTooLarge, rest.CodeUnsupportedMediaType, rest.CodeInternal, rest.CodeNotImplemented} {
		if !slices.Contains(codes, c) {
			t.Errorf("ErrorBody.code does not list %s", c)
		}
	}
}
