package custodian_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"go/parser"
	"go/token"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The import rules of docs/architecture.md, enforced. Paths are relative to the module.
// Every package of the module must have a rule, so a new package is a decision.
const module = "github.com/custodian-id/custodian"

// Libraries only one adapter may use.
var (
	httpLibs     = []string{"net/http", "github.com/gorilla/mux", "github.com/ory/fosite", "github.com/coreos/go-oidc", "golang.org/x/oauth2"}
	storageLibs  = []string{"database/sql", "github.com/jmoiron/sqlx", "github.com/lib/pq", "modernc.org/sqlite", "github.com/pressly/goose"}
	deliveryLibs = []string{"github.com/wneessen/go-mail", "github.com/prometheus/client_golang"}
)

type importRule struct {
	// may lists the module's packages it may import ("*": any).
	may []string
	// mustNot lists libraries it must not import directly (a path or its prefix).
	mustNot []string
	// pure: not even through its dependencies (the neutral core).
	pure bool
}

func join(lists ...[]string) []string { return slices.Concat(lists...) }

var importRules = map[string]importRule{
	"identity":          {pure: true, mustNot: join(httpLibs, storageLibs, deliveryLibs)},
	"identity/mailaddr": {pure: true, mustNot: join(httpLibs, storageLibs, deliveryLibs)},
	"egress":            {mustNot: join(httpLibs[1:], storageLibs, deliveryLibs)},
	"notify":            {may: []string{"identity", "egress"}, mustNot: join(httpLibs[1:], storageLibs)},
	"notify/notifytest": {mustNot: join(httpLibs[1:], storageLibs)},
	"twofactor":         {may: []string{"identity", "notify", "i18n"}, mustNot: join(httpLibs, storageLibs, deliveryLibs)},
	// The message catalog and language choice of pages and mails.
	"i18n": {mustNot: join(httpLibs, storageLibs, deliveryLibs)},
	"customer": {may: []string{"identity", "identity/mailaddr", "twofactor", "notify", "customer/passwordhash", "i18n"},
		mustNot: join(httpLibs, storageLibs, deliveryLibs)},
	"customer/passwordhash": {mustNot: join(httpLibs, storageLibs, deliveryLibs)},
	"api":                   {may: []string{"identity", "api/wellformed"}, mustNot: join(httpLibs[1:], storageLibs, deliveryLibs)},
	"api/wellformed":        {mustNot: join(httpLibs[1:], storageLibs, deliveryLibs)},
	"oauth": {may: []string{"identity", "identity/mailaddr", "twofactor", "customer", "api", "api/wellformed", "egress", "i18n"},
		mustNot: join(storageLibs, deliveryLibs)},
	"api/tickets": {may: []string{"api", "api/wellformed", "customer", "twofactor", "oauth", "identity"}, mustNot: join(storageLibs, deliveryLibs)},
	"api/login":   {may: []string{"api", "api/wellformed", "customer", "twofactor", "oauth", "identity"}, mustNot: join(storageLibs, deliveryLibs)},
	"api/admin":   {may: []string{"api", "api/wellformed", "customer", "oauth", "identity"}, mustNot: join(storageLibs, deliveryLibs)},
	"storage": {may: []string{"identity", "identity/mailaddr", "customer", "twofactor", "oauth", "notify"},
		mustNot: join(httpLibs[1:2], deliveryLibs)},
	"storage/storagetest": {may: []string{"identity", "customer", "twofactor", "oauth", "notify", "storage", "customer/passwordhash"}},
	"templates":           {mustNot: join(httpLibs, storageLibs, deliveryLibs)},
	// The browser suite's driver (Chromium, axe-core): test tooling for the hosted pages.
	"templates/browsertest": {mustNot: join(storageLibs, deliveryLibs)},
	"":                      {may: []string{"*"}}, // the root package: the one wiring place
	"cmd/custodian":         {may: []string{"*"}},
	"cmd/custodian-load":    {may: []string{"*"}},
}

type listedPackage struct {
	ImportPath string
	Dir        string
	GoFiles    []string
	Imports    []string
	Deps       []string
}

func listPackages(t *testing.T) []listedPackage {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps=false", "-json", "./...").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listedPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list found %d packages", len(pkgs))
	}
	return pkgs
}

// TestImportRules: every package imports only what docs/architecture.md allows it.
func TestImportRules(t *testing.T) {
	for _, p := range listPackages(t) {
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		rule, ok := importRules[rel]
		if !ok {
			t.Errorf("package %s has no import rule: add it to imports_test.go and docs/architecture.md", p.ImportPath)
			continue
		}
		for _, imp := range p.Imports {
			if dep, ok := strings.CutPrefix(imp, module+"/"); ok {
				if !slices.Contains(rule.may, "*") && !slices.Contains(rule.may, dep) {
					t.Errorf("%s imports %s, which its rule does not allow (may: %v)", rel, dep, rule.may)
				}
			}
			if lib := forbidden(imp, rule.mustNot); lib != "" {
				t.Errorf("%s imports %s (%s is not for this package)", rel, imp, lib)
			}
		}
		if rule.pure {
			seen := map[string]bool{}
			for _, d := range p.Deps {
				if lib := forbidden(d, rule.mustNot); lib != "" && !seen[lib] {
					seen[lib] = true
					t.Errorf("%s depends on %s: the neutral core must not, not even indirectly", rel, lib)
				}
			}
		}
	}
}

func forbidden(imp string, libs []string) string {
	for _, l := range libs {
		if imp == l || strings.HasPrefix(imp, l+"/") {
			return l
		}
	}
	return ""
}

// TestMuxWhereRoutesAre: gorilla/mux is imported where routes are registered (a
// package's routes.go) and by the root package, nowhere else.
func TestMuxWhereRoutesAre(t *testing.T) {
	for _, p := range listPackages(t) {
		if p.ImportPath == module || !slices.Contains(p.Imports, "github.com/gorilla/mux") {
			continue
		}
		for _, name := range p.GoFiles {
			f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(p.Dir, name), nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range f.Imports {
				if path, _ := strconv.Unquote(imp.Path.Value); path == "github.com/gorilla/mux" && name != "routes.go" {
					t.Errorf("%s/%s imports gorilla/mux outside routes.go", strings.TrimPrefix(p.ImportPath, module+"/"), name)
				}
			}
		}
	}
}
