package browsertest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// recorder keeps the errors a check reports, so a test can assert that the check finds
// what it must; fatal errors still end the test.
type recorder struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// goodPage is a small page that passes every check.
const goodPage = `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Good</title>
<style>body{font:16px sans-serif;margin:1rem} input{border:1px solid #767676;padding:.5rem;width:100%;box-sizing:border-box}
button{min-height:44px;background:#0a58ca;color:#fff;border:0} :focus-visible{outline:3px solid #0a58ca}</style></head>
<body><main><h1>Good</h1><form><label for="q">Name</label><input id="q" name="q"><button type="submit">Send</button></form></main></body></html>`

// TestCheckFindsProblems: Check passes a good page and reports each kind of problem
// on pages built to have it, at a phone's width.
func TestCheckFindsProblems(t *testing.T) {
	b, err := Start()
	if err != nil {
		t.Fatalf("browser suite: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })

	bad := func(from, to string) string {
		if !strings.Contains(goodPage, from) {
			t.Fatalf("the good page has no %q", from)
		}
		return strings.Replace(goodPage, from, to, 1)
	}
	cases := []struct {
		name string
		page string
		csp  string
		want []string // substrings of the reported errors; none for the good page
	}{
		{"good page", goodPage, "default-src 'none'; style-src 'unsafe-inline'", nil},
		{"field without a label", bad(`<label for="q">Name</label>`, ``), "", []string{"axe: label (critical)", "dequeuniversity.com/rules/axe/"}},
		{"faint text", bad(`<h1>Good</h1>`, `<h1>Good</h1><p style="color:#bbb">faint</p>`), "", []string{"axe: color-contrast (serious)"}},
		{"no lang", bad(`<html lang="en">`, `<html>`), "", []string{"axe: html-has-lang", "no lang on <html>"}},
		{"two headings", bad(`<h1>Good</h1>`, `<h1>Good</h1><h1>Again</h1>`), "", []string{"2 <h1> elements, want 1"}},
		{"faint field border", bad(`border:1px solid #767676`, `border:1px solid #c7c7cc`), "", []string{"non-text contrast (WCAG 1.4.11): input#q: its boundary has 1.6"}},
		{"focus ring removed", bad(`:focus-visible{outline:3px solid #0a58ca}`, `:focus,:focus-visible{outline:none}`), "", []string{`focus: input#q[name=q] "" shows no focus indicator`, `focus: button "Send" shows no focus indicator`}},
		{"focus order", bad(`<button type="submit">`, `<button type="submit" tabindex="1">`), "", []string{"focus: Tab "}},
		{"sideways scrolling", bad(`<h1>Good</h1>`, `<h1>Good</h1><div style="width:600px">wide</div>`), "", []string{"scrolls sideways"}},
		{"small target", bad(`<button type="submit">Send</button>`, `<div style="display:flex"><button type="submit" style="min-height:0;height:12px;width:12px;padding:0;font-size:8px">A</button><button type="button" style="min-height:0;height:12px;width:12px;padding:0;font-size:8px">B</button><button type="button" style="min-height:0;height:12px;width:12px;padding:0;font-size:8px">C</button></div>`), "", []string{"axe: target-size"}},
		{"script blocked by the CSP", bad(`</main>`, `</main><script>document.title = "x"</script>`), "default-src 'none'; style-src 'unsafe-inline'", []string{"Content Security Policy"}},
		{"script error", bad(`</main>`, `</main><script>undefinedFunction()</script>`), "", []string{"uncaught exception"}},
	}
	var mux http.ServeMux
	for i, c := range cases {
		mux.HandleFunc(fmt.Sprintf("/%d", i), func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			if c.csp != "" {
				w.Header().Set("Content-Security-Policy", c.csp)
			}
			fmt.Fprint(w, c.page)
		})
	}
	srv := httptest.NewServer(&mux)
	t.Cleanup(srv.Close)

	shots := t.TempDir()
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := b.NewSession(t, 390, 844)
			s.ScreenshotDirs = []string{shots}
			if status := s.Open(fmt.Sprintf("%s/%d", srv.URL, i)); status != http.StatusOK {
				t.Fatalf("status %d", status)
			}
			rec := &recorder{TB: t}
			s.t = rec
			s.Check(fmt.Sprintf("case-%d", i))
			s.t = t
			got := strings.Join(rec.errs, "\n")
			if len(c.want) == 0 && got != "" {
				t.Errorf("a good page failed the checks:\n%s", got)
			}
			for _, w := range c.want {
				if !strings.Contains(got, w) {
					t.Errorf("the checks did not report %q; they reported:\n%s", w, got)
				}
			}
			if _, err := os.Stat(filepath.Join(shots, fmt.Sprintf("case-%d-390.png", i))); err != nil {
				t.Errorf("no screenshot: %v", err)
			}
		})
	}
}

// TestFindBrowserNamed: CUSTODIAN_CHROMIUM names the browser; a name that is not there
// is an error (the suite then fails; it never skips).
func TestFindBrowserNamed(t *testing.T) {
	t.Setenv(ExecEnv, filepath.Join(t.TempDir(), "no-such-chromium"))
	if p, err := FindBrowser(); err == nil {
		t.Errorf("found %s", p)
	}
	if _, err := Start(); err == nil || !strings.Contains(err.Error(), ExecEnv) {
		t.Errorf("Start without a browser: %v", err)
	}
}

// TestAcceptLanguage: a session set to a language sends it as Accept-Language on every
// request (a navigation and a form post) and reports it in navigator.languages; a
// session without it does not.
func TestAcceptLanguage(t *testing.T) {
	b, err := Start()
	if err != nil {
		t.Fatalf("browser suite: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html lang="en"><title>x</title><main><h1>%s</h1><form method="post"><button id="send">Send</button></form></main></html>`,
			strings.ReplaceAll(r.Header.Get("Accept-Language"), "<", ""))
	}))
	t.Cleanup(srv.Close)

	s := b.NewSession(t, 390, 844)
	s.AcceptLanguage("de-CH", "de")
	s.Open(srv.URL)
	if got := s.Text("h1"); !strings.HasPrefix(got, "de-CH,de;q=0.") {
		t.Errorf("Accept-Language of a navigation: %q", got)
	}
	s.Press("#send")
	if got := s.Text("h1"); !strings.HasPrefix(got, "de-CH") {
		t.Errorf("Accept-Language of a form post: %q", got)
	}
	var first string
	s.Eval(`navigator.languages[0] || ""`, &first)
	if first != "de-CH" {
		t.Errorf("navigator.languages[0] = %q", first)
	}

	other := b.NewSession(t, 390, 844)
	other.Open(srv.URL)
	if got := other.Text("h1"); strings.HasPrefix(got, "de") {
		t.Errorf("another session sends the first one's language: %q", got)
	}
}
