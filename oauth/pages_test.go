package oauth

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// TestReturnTo: a hosted page only ever returns to this tenant's authorization
// endpoint, as a path.
func TestReturnTo(t *testing.T) {
	for _, c := range []struct {
		name, raw, want string
	}{
		{"the request", "/oauth2/shop/auth?client_id=spa&state=x", "/oauth2/shop/auth?client_id=spa&state=x"},
		{"empty", "", ""},
		{"no query", "/oauth2/shop/auth", ""},
		{"absolute URL", "https://evil.example/oauth2/shop/auth?x=1", ""},
		{"scheme-relative", "//evil.example/oauth2/shop/auth?x=1", ""},
		{"backslash host", "/\\evil.example/oauth2/shop/auth?x=1", ""},
		{"another tenant", "/oauth2/other/auth?x=1", ""},
		{"tenant prefix", "/oauth2/shopx/auth?x=1", ""},
		{"another endpoint", "/oauth2/shop/token?x=1", ""},
		{"dot segments", "/oauth2/shop/auth/../../../evil?x=1", ""},
		{"encoded path", "/oauth2/shop/auth%2F..?x=1", ""},
		{"fragment", "/oauth2/shop/auth?x=1#frag", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := returnTo("shop", c.raw); got != c.want {
				t.Errorf("returnTo(%q) = %q, want %q", c.raw, got, c.want)
			}
		})
	}
}

// TestWantsJSON: only a caller that asks for JSON and not for HTML gets JSON from a
// browser route.
func TestWantsJSON(t *testing.T) {
	for _, c := range []struct {
		accept string
		want   bool
	}{
		{"", false},
		{"*/*", false},
		{"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", false},
		{"application/json", true},
		{"application/problem+json", true},
		{"application/json, text/html", false},
		{"application/json, text/html;q=0", true},
		{"text/html;q=0.0, application/json", true},
		{"application/json;q=0", false},
	} {
		r, _ := http.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Accept", c.accept)
		if got := wantsJSON(r); got != c.want {
			t.Errorf("wantsJSON(%q) = %v, want %v", c.accept, got, c.want)
		}
	}
}

// TestClientHome: the way back is the origin of a redirect URI a browser can open
// safely, never an app's private-use scheme.
func TestClientHome(t *testing.T) {
	for _, c := range []struct {
		uris []string
		want string
	}{
		{[]string{"https://shop.example/cb?x=1"}, "https://shop.example/"},
		{[]string{"com.example.app:/cb", "https://shop.example:8443/a/b"}, "https://shop.example:8443/"},
		{[]string{"http://127.0.0.1:9/callback"}, "http://127.0.0.1:9/"},
		{[]string{"http://shop.example/cb"}, ""},
		{[]string{"com.example.app:/cb"}, ""},
		{[]string{"https://user:pw@shop.example/cb"}, ""},
		{nil, ""},
	} {
		if got := clientHome(&Client{RedirectURIs: c.uris}); got != c.want {
			t.Errorf("clientHome(%v) = %q, want %q", c.uris, got, c.want)
		}
	}
}

// TestFlowLanguage: a page's ui_locales comes from the request itself, else from the
// address its form posts to, else from the authorization request a hosted page returns
// to; a hosted page's form and links carry its own, unless too long to carry.
func TestFlowLanguage(t *testing.T) {
	ret := "/oauth2/shop/auth?" + url.Values{"client_id": {"spa"}, "ui_locales": {"fr"}}.Encode()
	for _, c := range []struct {
		name, method, target, body, action string
		want, wantAction                   string
	}{
		{"query", http.MethodGet, "/oauth2/shop/password/new?ui_locales=de&token=x", "", "", "de", "/oauth2/shop/password/new?ui_locales=de"},
		{"form", http.MethodPost, "/oauth2/shop/password/new", "ui_locales=es&token=x", "", "es", "/oauth2/shop/password/new?ui_locales=es"},
		{"the return's", http.MethodPost, "/oauth2/shop/password/reset", url.Values{"return": {ret}}.Encode(), "", "fr", "/oauth2/shop/password/reset"},
		{"own wins over the return's", http.MethodGet, "/oauth2/shop/signup/confirm?" + url.Values{"return": {ret}, "ui_locales": {"de"}}.Encode(), "", "", "de", "/oauth2/shop/signup/confirm?ui_locales=de"},
		{"the action's", http.MethodGet, "/oauth2/shop/connectors/up/callback", "", ret, "fr", "/oauth2/shop/connectors/up/callback"},
		{"none", http.MethodGet, "/oauth2/shop/signup", "", "", "", "/oauth2/shop/signup"},
		{"too long to carry", http.MethodGet, "/oauth2/shop/signup?ui_locales=de" + strings.Repeat("+x", 60), "", "", "de" + strings.Repeat(" x", 60), "/oauth2/shop/signup"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(c.method, c.target, strings.NewReader(c.body))
			if c.body != "" {
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			if err := r.ParseForm(); err != nil {
				t.Fatal(err)
			}
			if got := uiLocales(r, c.action); got != c.want {
				t.Errorf("uiLocales = %q, want %q", got, c.want)
			}
			if got := hostedAction(r); got != c.wantAction {
				t.Errorf("hostedAction = %q, want %q", got, c.wantAction)
			}
		})
	}
	if got, want := pageURL("shop", "/password/reset", ret, "fr"), "/oauth2/shop/password/reset?"+(url.Values{"return": {ret}}).Encode(); got != want {
		t.Errorf("pageURL repeats the return's language: %s", got)
	}
	if got := pageURL("shop", "/password/reset", ret, "de"); !strings.HasSuffix(got, "&ui_locales=de") {
		t.Errorf("pageURL without the page's own language: %s", got)
	}
}

// TestIsolate: a right-to-left name is isolated, so a sentence around it keeps its
// order; other names are left as they are.
func TestIsolate(t *testing.T) {
	for in, want := range map[string]string{
		"Müller Mode":     "Müller Mode",
		"متجر الأزياء 24": "\u2068متجر الأزياء 24\u2069",
		"Shop שלום":       "\u2068Shop שלום\u2069",
		"":                "",
	} {
		if got := isolate(in); got != want {
			t.Errorf("isolate(%q) = %q, want %q", in, got, want)
		}
	}
}
