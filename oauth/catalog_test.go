package oauth

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/custodian-id/custodian/i18n"
)

// TestPageTextsInCatalog fails when a page or a handler shows a text the catalog
// lacks (it would be English in every language).
func TestPageTextsInCatalog(t *testing.T) {
	tmplKeys := regexp.MustCompile(`\.(?:T|TStrong|TStrongID) ("(?:[^"\\]|\\.)*")|\.Heading "[a-z_]+" ("(?:[^"\\]|\\.)*")`)
	pages, _ := filepath.Glob("../templates/*.html")
	if len(pages) == 0 {
		t.Fatal("no templates found")
	}
	n := 0
	for _, f := range pages {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range tmplKeys.FindAllStringSubmatch(string(b), -1) {
			lit := m[1] + m[2]
			key, err := strconv.Unquote(lit)
			if err != nil {
				t.Fatalf("%s: %s: %v", f, lit, err)
			}
			n++
			if !i18n.Has(key) {
				t.Errorf("%s: %q is not in the catalog", filepath.Base(f), key)
			}
		}
	}
	if n < 40 {
		t.Errorf("found only %d texts in the templates", n)
	}
	// The handlers' texts: titles, errors and notices of pages.
	goKeys := regexp.MustCompile(`view\.Error(?:, view\.\w+)? = ("(?:[^"\\]|\\.)*")|\treturn ("[A-Z][^"]*\.")\n|hostedPage\(w, r, [^,]+, ("[^"]*")\)|(?:Title|Error|Notice): ("(?:[^"\\]|\\.)*")|return http\.Status\w+, ("(?:[^"\\]|\\.)*")|notice\(w, r, http\.Status\w+, ("(?:[^"\\]|\\.)*"), ("(?:[^"\\]|\\.)*"),\s*("(?:[^"\\]|\\.)*")|fail\(http\.Status\w+, ("(?:[^"\\]|\\.)*")|render(?:Login|SecondFactor)\(w, r, http\.Status\w+, \*?view, ("(?:[^"\\]|\\.)*"), ("(?:[^"\\]|\\.)*")?`)
	srcs, _ := filepath.Glob("*.go")
	srcs = append(srcs, "../api/login/notme.go")
	for _, f := range srcs {
		if filepath.Ext(f) != ".go" || regexp.MustCompile(`_test\.go$`).MatchString(f) {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range goKeys.FindAllStringSubmatch(string(b), -1) {
			for _, lit := range m[1:] {
				if lit == "" {
					continue
				}
				key, err := strconv.Unquote(lit)
				if err != nil || key == "" {
					continue
				}
				if !i18n.Has(key) {
					t.Errorf("%s: %q is not in the catalog", f, key)
				}
			}
		}
	}
}
