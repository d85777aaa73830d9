package custodian_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/gorilla/mux"
	"gopkg.in/yaml.v3"

	"github.com/custodian-id/custodian"
	"github.com/custodian-id/custodian/identity"
)

// openAPIPath is the project's OpenAPI document, relative to this package.
const openAPIPath = "docs/openapi.yaml"

// openAPIMethods are the operation keys of an OpenAPI path item.
var openAPIMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// openAPIDoc is the part of the document the tests read.
type openAPIDoc struct {
	OpenAPI    string                    `yaml:"openapi"`
	Paths      map[string]map[string]any `yaml:"paths"`
	Components struct {
		Parameters map[string]openAPIParam `yaml:"parameters"`
		Schemas    map[string]struct {
			Properties    map[string]any `yaml:"properties"`
			PropertyNames struct {
				Enum []string `yaml:"enum"`
			} `yaml:"propertyNames"`
		} `yaml:"schemas"`
	} `yaml:"components"`
}

type openAPIParam struct {
	Ref    string `yaml:"$ref"`
	Name   string `yaml:"name"`
	In     string `yaml:"in"`
	Schema struct {
		Pattern string `yaml:"pattern"`
	} `yaml:"schema"`
}

func loadOpenAPI(t *testing.T) *openAPIDoc {
	t.Helper()
	raw, err := os.ReadFile(openAPIPath)
	if err != nil {
		t.Fatalf("read %s: %v", openAPIPath, err)
	}
	var doc openAPIDoc
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("parse %s: %v", openAPIPath, err)
	}
	return &doc
}

// TestOpenAPIDocumentsEveryRoute holds docs/openapi.yaml and the router to each other:
// every registered (path, method) is documented and every documented one is registered.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	doc := loadOpenAPI(t)
	if !strings.HasPrefix(doc.OpenAPI, "3.1.") {
		t.Errorf("openapi = %q, want 3.1.x", doc.OpenAPI)
	}
	if len(doc.Paths) == 0 {
		t.Fatalf("%s has no paths", openAPIPath)
	}

	// A real server with an admin token, so the /admin routes are registered too.
	srv, err := custodian.New(context.Background(), custodian.Config{
		DatabaseURL: "sqlite:" + filepath.Join(t.TempDir(), "db"),
		PublicURL:   "http://127.0.0.1:8080",
		Secret:      "openapi-test-secret-0123456789-0123456789",
		AdminToken:  "openapi-admin-token-0123456789",
	})
	if err != nil {
		t.Fatalf("new server: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	public, admin := mux.NewRouter(), mux.NewRouter()
	srv.Register(public)
	srv.RegisterAdmin(admin)
	for _, l := range []struct {
		name   string
		router *mux.Router
	}{{"public", public}, {"admin", admin}} {
		registered := openAPIRoutes(t, l.router)
		// A path item without servers is on the public listener (the document's servers);
		// one with servers is on each listener whose URL it names.
		documented := map[string]bool{}
		for path, item := range doc.Paths {
			if !openAPIServes(item, l.name) {
				continue
			}
			for key := range item {
				if slices.Contains(openAPIMethods, key) {
					documented[strings.ToUpper(key)+" "+path] = true
				}
			}
		}
		for _, op := range openAPISortedKeys(registered) {
			if !documented[op] {
				t.Errorf("route %s is registered on the %s listener but not documented there in %s", op, l.name, openAPIPath)
			}
		}
		for _, op := range openAPISortedKeys(documented) {
			if !registered[op] {
				t.Errorf("%s documents %s on the %s listener, where it is not registered", openAPIPath, op, l.name)
			}
		}
	}

	// Every {variable} of a documented path is declared as a path parameter.
	for path, item := range doc.Paths {
		for _, name := range openAPITemplateVars(path) {
			for key, op := range item {
				if !slices.Contains(openAPIMethods, key) {
					continue
				}
				if !openAPIDeclaresPathParam(doc, item["parameters"], name) && !openAPIDeclaresPathParam(doc, openAPIAsMap(op)["parameters"], name) {
					t.Errorf("%s %s: path parameter {%s} is not declared", strings.ToUpper(key), path, name)
				}
			}
		}
	}

	if got, want := doc.Components.Parameters["tenant"].Schema.Pattern, "^"+identity.TenantPattern+"$"; got != want {
		t.Errorf("components.parameters.tenant pattern = %q, want %q", got, want)
	}
}

// The listeners' URLs as the document names them in servers.
var openAPIListeners = map[string]string{"public": "http://127.0.0.1:8080", "admin": "http://127.0.0.1:8081"}

// openAPIServes reports whether a path item is documented on a listener.
func openAPIServes(item map[string]any, listener string) bool {
	servers, ok := item["servers"].([]any)
	if !ok {
		return listener == "public"
	}
	for _, sv := range servers {
		if openAPIAsMap(sv)["url"] == openAPIListeners[listener] {
			return true
		}
	}
	return false
}

// openAPIRoutes lists the (METHOD, path) pairs a router registers.
func openAPIRoutes(t *testing.T, r *mux.Router) map[string]bool {
	t.Helper()
	registered := map[string]bool{} // "METHOD /path"
	err := r.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		methods, err := route.GetMethods()
		if err != nil || len(methods) == 0 {
			return nil // a subrouter's holder or a route for every method: nothing to document
		}
		tmpl, err := route.GetPathTemplate()
		if err != nil {
			t.Errorf("route %q with methods %v has no path template: %v", route.GetName(), methods, err)
			return nil
		}
		for _, m := range methods {
			registered[strings.ToUpper(m)+" "+openAPINormalizeTemplate(tmpl)] = true
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk routes: %v", err)
	}
	if len(registered) == 0 {
		t.Fatal("the router has no routes with methods")
	}
	return registered
}

// TestOpenAPIDocumentsEverySettingKey keeps the tenant settings schemas in step with
// identity.SettingKeys.
func TestOpenAPIDocumentsEverySettingKey(t *testing.T) {
	doc := loadOpenAPI(t)
	var keys []string
	for _, kv := range identity.SettingKeys() {
		keys = append(keys, kv[0])
	}
	sort.Strings(keys)

	settings := doc.Components.Schemas["TenantSettings"]
	props := openAPISortedKeys(settings.Properties)
	if !slices.Equal(props, keys) {
		t.Errorf("TenantSettings properties = %v\nwant identity.SettingKeys() = %v", props, keys)
	}
	patch := slices.Clone(doc.Components.Schemas["TenantSettingsPatch"].PropertyNames.Enum)
	sort.Strings(patch)
	if !slices.Equal(patch, keys) {
		t.Errorf("TenantSettingsPatch propertyNames = %v\nwant identity.SettingKeys() = %v", patch, keys)
	}
}

// openAPINormalizeTemplate turns mux variables with patterns ({tenant:[a-z]...}) into
// OpenAPI's plain {tenant}. Patterns may hold braces themselves ({1,31}), so the scan
// counts depth.
func openAPINormalizeTemplate(tmpl string) string {
	var b strings.Builder
	depth, start := 0, 0
	for i := 0; i < len(tmpl); i++ {
		switch c := tmpl[i]; {
		case c == '{':
			if depth == 0 {
				start = i
			}
			depth++
		case c == '}' && depth > 0:
			depth--
			if depth == 0 {
				name, _, _ := strings.Cut(tmpl[start+1:i], ":")
				b.WriteString("{" + name + "}")
			}
		case depth == 0:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// openAPITemplateVars returns the {names} of an OpenAPI path.
func openAPITemplateVars(path string) []string {
	var out []string
	for _, seg := range strings.Split(path, "/") {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			out = append(out, seg[1:len(seg)-1])
		}
	}
	return out
}

// openAPIDeclaresPathParam reports whether a parameters list (inline or by
// #/components/parameters/ reference) declares the path parameter name.
func openAPIDeclaresPathParam(doc *openAPIDoc, params any, name string) bool {
	list, _ := params.([]any)
	for _, p := range list {
		m := openAPIAsMap(p)
		var param openAPIParam
		if ref, ok := m["$ref"].(string); ok {
			key, found := strings.CutPrefix(ref, "#/components/parameters/")
			if !found {
				continue
			}
			param = doc.Components.Parameters[key]
		} else {
			param.Name, _ = m["name"].(string)
			param.In, _ = m["in"].(string)
		}
		if param.Name == name && param.In == "path" {
			return true
		}
	}
	return false
}

func openAPIAsMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func openAPISortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
