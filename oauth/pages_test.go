package oauth

import (
	"net/http"
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
