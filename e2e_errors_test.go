package custodian_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/custodian-id/custodian"
	"github.com/custodian-id/custodian/storage/storagetest"
)

func tokenRequest(t *testing.T, e *env, form url.Values, basic ...string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.issuer()+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if len(basic) == 2 {
		req.SetBasicAuth(basic[0], basic[1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := readBody(t, resp)
	var out map[string]any
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatalf("token response is not JSON (%d): %s", resp.StatusCode, body)
	}
	return resp.StatusCode, out
}

// TestBadInput checks that each bad request gets a clear RFC 6749 error and changes
// nothing.
func TestBadInput(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			ctx := context.Background()
			provider, err := oidc.NewProvider(ctx, e.issuer())
			if err != nil {
				t.Fatal(err)
			}
			conf := spaConfig(e, provider)

			t.Run("wrong PKCE verifier", func(t *testing.T) {
				verifier := oauth2.GenerateVerifier()
				code := authorize(t, browser(t), conf, verifier, "state-123456", "nonce-123456", shopperEmail, shopperPass)
				status, body := tokenRequest(t, e, url.Values{"grant_type": {"authorization_code"}, "code": {code},
					"redirect_uri": {spaRedirect}, "client_id": {spaClient}, "code_verifier": {oauth2.GenerateVerifier()}})
				if status != http.StatusBadRequest || body["error"] != "invalid_grant" {
					t.Errorf("got %d %v", status, body)
				}
			})

			t.Run("reused code revokes what it minted", func(t *testing.T) {
				verifier := oauth2.GenerateVerifier()
				code := authorize(t, browser(t), conf, verifier, "state-123456", "nonce-123456", shopperEmail, shopperPass)
				tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
				if err != nil {
					t.Fatal(err)
				}
				status, body := tokenRequest(t, e, url.Values{"grant_type": {"authorization_code"}, "code": {code},
					"redirect_uri": {spaRedirect}, "client_id": {spaClient}, "code_verifier": {verifier}})
				if status != http.StatusBadRequest || body["error"] != "invalid_grant" {
					t.Errorf("second exchange: %d %v", status, body)
				}
				if got := introspect(t, e, tok.AccessToken); got["active"] != false {
					t.Errorf("access token of a replayed code still active: %v", got)
				}
				status, _ = tokenRequest(t, e, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {spaClient}})
				if status == http.StatusOK {
					t.Errorf("refresh token of a replayed code still works")
				}
			})

			t.Run("public client without PKCE", func(t *testing.T) {
				u := e.issuer() + "/auth?" + url.Values{"response_type": {"code"}, "client_id": {spaClient},
					"redirect_uri": {spaRedirect}, "scope": {"openid"}, "state": {"state-123456"}}.Encode()
				resp, err := browser(t).Get(u)
				if err != nil {
					t.Fatal(err)
				}
				readBody(t, resp)
				loc, _ := url.Parse(resp.Header.Get("Location"))
				if resp.StatusCode/100 != 3 || loc.Query().Get("error") != "invalid_request" {
					t.Errorf("got %d %s", resp.StatusCode, loc)
				}
			})

			t.Run("plain PKCE refused", func(t *testing.T) {
				u := e.issuer() + "/auth?" + url.Values{"response_type": {"code"}, "client_id": {spaClient},
					"redirect_uri": {spaRedirect}, "scope": {"openid"}, "state": {"state-123456"},
					"code_challenge": {strings.Repeat("a", 43)}, "code_challenge_method": {"plain"}}.Encode()
				resp, err := browser(t).Get(u)
				if err != nil {
					t.Fatal(err)
				}
				readBody(t, resp)
				loc, _ := url.Parse(resp.Header.Get("Location"))
				if loc == nil || loc.Query().Get("error") != "invalid_request" {
					t.Errorf("got %d %s", resp.StatusCode, resp.Header.Get("Location"))
				}
			})

			for _, tc := range []struct {
				name, client, redirect string
			}{
				{"unknown client", "nobody", spaRedirect},
				{"unregistered redirect URI", spaClient, "http://127.0.0.1:9/evil"},
				{"redirect URI differing by a trailing slash", spaClient, spaRedirect + "/"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					u := e.issuer() + "/auth?" + url.Values{"response_type": {"code"}, "client_id": {tc.client},
						"redirect_uri": {tc.redirect}, "scope": {"openid"}, "state": {"state-123456"},
						"code_challenge": {strings.Repeat("a", 43)}, "code_challenge_method": {"S256"}}.Encode()
					resp, err := browser(t).Get(u)
					if err != nil {
						t.Fatal(err)
					}
					body := readBody(t, resp)
					if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
						t.Errorf("got %d Location=%q", resp.StatusCode, resp.Header.Get("Location"))
					}
					if !strings.Contains(body, "Something went wrong") {
						t.Errorf("no error page: %s", body)
					}
				})
			}

			t.Run("wrong client secret", func(t *testing.T) {
				status, body := tokenRequest(t, e, url.Values{"grant_type": {"client_credentials"}}, backendID, backendSec+"x")
				if status != http.StatusUnauthorized || body["error"] != "invalid_client" {
					t.Errorf("got %d %v", status, body)
				}
			})

			t.Run("unknown client at token endpoint", func(t *testing.T) {
				status, body := tokenRequest(t, e, url.Values{"grant_type": {"client_credentials"}}, "ghost", backendSec)
				if status != http.StatusUnauthorized || body["error"] != "invalid_client" {
					t.Errorf("got %d %v", status, body)
				}
			})

			t.Run("malformed form body", func(t *testing.T) {
				req, _ := http.NewRequest(http.MethodPost, e.issuer()+"/token", strings.NewReader("%zz=%%%"))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body := readBody(t, resp)
				if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "invalid_request") {
					t.Errorf("got %d %s", resp.StatusCode, body)
				}
			})

			t.Run("oversized body", func(t *testing.T) {
				big := url.Values{"grant_type": {"client_credentials"}, "scope": {strings.Repeat("x", 200<<10)}}
				req, _ := http.NewRequest(http.MethodPost, e.issuer()+"/token", strings.NewReader(big.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth(backendID, backendSec)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				readBody(t, resp)
				if resp.StatusCode != http.StatusRequestEntityTooLarge {
					t.Errorf("got %d", resp.StatusCode)
				}
			})

			t.Run("unknown tenant", func(t *testing.T) {
				for _, path := range []string{"/oauth2/nosuch/.well-known/openid-configuration", "/oauth2/nosuch/jwks.json"} {
					resp, err := http.Get(e.url + path)
					if err != nil {
						t.Fatal(err)
					}
					readBody(t, resp)
					if resp.StatusCode != http.StatusNotFound {
						t.Errorf("%s: %d", path, resp.StatusCode)
					}
				}
				// The routes a browser opens answer a page, not JSON (issue 14).
				for _, path := range []string{"/oauth2/nosuch/auth?client_id=spa", "/oauth2/nosuch/logout", "/oauth2/nosuch/connectors/up/callback?state=x"} {
					resp, err := http.Get(e.url + path)
					if err != nil {
						t.Fatal(err)
					}
					body := readBody(t, resp)
					if resp.StatusCode != http.StatusNotFound || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
						!strings.Contains(body, "<h1>Page not found</h1>") || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
						t.Errorf("%s: %d %q %s", path, resp.StatusCode, resp.Header.Get("Content-Type"), body)
					}
				}
			})

			t.Run("grant disabled for tenant", func(t *testing.T) {
				status, body := tokenRequest(t, e, url.Values{"grant_type": {"password"}, "username": {shopperEmail}, "password": {shopperPass}, "client_id": {spaClient}})
				if status != http.StatusBadRequest || body["error"] != "unsupported_grant_type" {
					t.Errorf("got %d %v", status, body)
				}
			})

			t.Run("wrong password on the login page", func(t *testing.T) {
				c := browser(t)
				authURL := conf.AuthCodeURL("state-123456", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
				action, csrf := loginForm(t, c, authURL)
				for _, email := range []string{shopperEmail, "nobody@example.com"} {
					resp := postForm(t, c, action, url.Values{"email": {email}, "password": {"wrong password!"}, "csrf_token": {csrf}, "step": {"password"}})
					body := readBody(t, resp)
					if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "e-mail address or password is wrong") {
						t.Errorf("%s: got %d", email, resp.StatusCode)
					}
				}
			})

			t.Run("login form without CSRF token", func(t *testing.T) {
				c := browser(t)
				authURL := conf.AuthCodeURL("state-123456", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
				action, _ := loginForm(t, c, authURL)
				resp := postForm(t, c, action, url.Values{"email": {shopperEmail}, "password": {shopperPass}, "step": {"password"}})
				readBody(t, resp)
				if resp.StatusCode != http.StatusForbidden {
					t.Errorf("got %d", resp.StatusCode)
				}
			})
		})
	}
}

// TestClientCredentials checks the machine-to-machine grant and its JWT twin.
func TestClientCredentials(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			status, body := tokenRequest(t, e, url.Values{"grant_type": {"client_credentials"}, "scope": {"orders"}}, backendID, backendSec)
			if status != http.StatusOK || body["access_token"] == "" || body["jwt_access_token"] == nil || body["scope"] != "orders" {
				t.Fatalf("got %d %v", status, body)
			}
			if _, ok := body["refresh_token"]; ok {
				t.Errorf("client_credentials must not issue refresh tokens")
			}
			status, body = tokenRequest(t, e, url.Values{"grant_type": {"client_credentials"}, "scope": {"admin"}}, backendID, backendSec)
			if status != http.StatusBadRequest || body["error"] != "invalid_scope" {
				t.Errorf("scope not allowed: got %d %v", status, body)
			}
		})
	}
}

func anonymousToken(t *testing.T, e *env) map[string]any {
	t.Helper()
	status, body := tokenRequest(t, e, url.Values{"grant_type": {"urn:custodian:grant-type:anonymous"}, "client_id": {spaClient}})
	if status != http.StatusOK {
		t.Fatalf("anonymous grant: %d %v", status, body)
	}
	return body
}

// TestAnonymousGrant: a fresh anonymous subject and session per call.
func TestAnonymousGrant(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			a, b2 := anonymousToken(t, e), anonymousToken(t, e)
			if a["session_id"] == "" || a["session_id"] == b2["session_id"] || a["refresh_token"] == nil {
				t.Errorf("anonymous tokens: %v %v", a, b2)
			}
			in := introspect(t, e, a["access_token"].(string))
			if in["active"] != true || in["sub"] == "" || in["sub"] == introspect(t, e, b2["access_token"].(string))["sub"] {
				t.Errorf("anonymous subjects: %v", in)
			}
		})
	}
}

func refresh(t *testing.T, e *env, rt string) (int, map[string]any) {
	return tokenRequest(t, e, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {spaClient}})
}

// TestConcurrentRefresh fires 16 refreshes of one customer's token at once: each must
// succeed and every token handed out must stay valid; after the grace window, the old
// token is a replay that revokes the whole family. (An anonymous shopper's tokens are
// stateless and have no family: TestAnonymousStateless.)
func TestConcurrentRefresh(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			lg := loginWith(t, e, anonymousLogin(t, e)["access_token"].(string), shopperEmail, shopperPass)
			if lg.status != http.StatusOK {
				t.Fatalf("login: %d %s", lg.status, lg.raw)
			}
			rt := lg.body["refresh_token"].(string)
			const n = 16
			type result struct {
				status int
				body   map[string]any
			}
			results := make(chan result, n)
			start := make(chan struct{})
			for range n {
				go func() {
					<-start
					s, body := refresh(t, e, rt)
					results <- result{s, body}
				}()
			}
			close(start)
			var got []result
			for range n {
				got = append(got, <-results)
			}
			sessions := map[any]bool{}
			for i, r := range got {
				if r.status != http.StatusOK {
					t.Fatalf("refresh %d: %d %v", i, r.status, r.body)
				}
				sessions[r.body["session_id"]] = true
			}
			if len(sessions) != 1 {
				t.Errorf("concurrent refreshes forked the shopper session: %v", sessions)
			}
			for i, r := range got {
				if in := introspect(t, e, r.body["access_token"].(string)); in["active"] != true {
					t.Errorf("access token %d inactive", i)
				}
			}
			// Every refresh token handed out works (each exactly once more).
			for i, r := range got {
				if s, body := refresh(t, e, r.body["refresh_token"].(string)); s != http.StatusOK {
					t.Errorf("refresh token %d: %d %v", i, s, body)
				}
			}

			// Past the grace window, the original token is a replay: the family dies.
			e.clock.Advance(11 * time.Second)
			s, body := refresh(t, e, rt)
			if s != http.StatusBadRequest || body["error"] != "invalid_grant" {
				t.Fatalf("replay after grace: %d %v", s, body)
			}
			if in := introspect(t, e, got[0].body["access_token"].(string)); in["active"] != false {
				t.Errorf("family not revoked after replay")
			}
			evs, err := e.srv.Store().ListEvents(context.Background(), testTenant, nil, 10)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, ev := range evs {
				found = found || ev.Kind == "refresh.reuse_detected"
			}
			if !found {
				t.Errorf("no refresh reuse event recorded: %v", evs)
			}
		})
	}
}

// TestRefreshGraceBound: forks inside the grace window are bounded.
func TestRefreshGraceBound(t *testing.T) {
	b := storagetest.Backends(t)[0]
	e := newEnv(t, b, func(c *custodian.Config) { c.RefreshGraceMaxForks = 2 })
	rt := loginWith(t, e, anonymousLogin(t, e)["access_token"].(string), shopperEmail, shopperPass).body["refresh_token"].(string)
	for i := range 3 { // the rotation itself, then two forks
		if s, body := refresh(t, e, rt); s != http.StatusOK {
			t.Fatalf("refresh %d: %d %v", i, s, body)
		}
	}
	if s, _ := refresh(t, e, rt); s == http.StatusOK {
		t.Errorf("a fork beyond the bound was granted")
	}
}

// TestRequestIDOnEveryAnswer (issue 14): every answer carries X-Request-Id, also for a
// path or method no route has (which gorilla/mux answers outside the routes'
// middlewares), on the public and the admin listener; the caller's own id is kept, and
// the error page of an unknown page under /oauth2/ shows it for support.
func TestRequestIDOnEveryAnswer(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			for _, c := range []struct {
				name, method, url, accept string
				status                    int
				body                      string // a part of the answer
			}{
				{"unknown path", http.MethodGet, e.url + "/nosuch", "", http.StatusNotFound, "not found"},
				{"unknown path of the login API", http.MethodGet, e.url + "/customer/" + testTenant + "/nosuch", "", http.StatusNotFound, "not found"},
				{"method of no route", http.MethodDelete, e.url + "/healthz", "", http.StatusMethodNotAllowed, "Method Not Allowed"},
				{"unknown OAuth path, JSON", http.MethodGet, e.issuer() + "/nosuch", "application/json", http.StatusNotFound, `"invalid_request"`},
				{"unknown OAuth path, page", http.MethodGet, e.issuer() + "/nosuch", "text/html", http.StatusNotFound, "<h1>Page not found</h1>"},
				{"OAuth method of no route", http.MethodDelete, e.issuer() + "/jwks.json", "", http.StatusMethodNotAllowed, `"invalid_request"`},
				{"known OAuth route's error", http.MethodGet, e.url + "/oauth2/nosuch/jwks.json", "", http.StatusNotFound, "unknown tenant"},
				{"admin: unknown path", http.MethodGet, e.admin + "/nosuch", "", http.StatusNotFound, "not found"},
			} {
				t.Run(c.name, func(t *testing.T) {
					for _, sent := range []string{"", "support-ref-0123456789"} {
						req, _ := http.NewRequest(c.method, c.url, nil)
						if c.accept != "" {
							req.Header.Set("Accept", c.accept)
						}
						if sent != "" {
							req.Header.Set("X-Request-Id", sent)
						}
						resp, err := http.DefaultClient.Do(req)
						if err != nil {
							t.Fatal(err)
						}
						body := readBody(t, resp)
						id := resp.Header.Get("X-Request-Id")
						if resp.StatusCode != c.status || !strings.Contains(body, c.body) {
							t.Errorf("%d %q, want %d with %q", resp.StatusCode, body, c.status, c.body)
						}
						if len(id) < 8 || sent != "" && id != sent {
							t.Errorf("X-Request-Id %q (sent %q)", id, sent)
						}
						if c.accept == "text/html" && !strings.Contains(body, "<code>"+id+"</code>") {
							t.Errorf("the error page does not show the request id %q: %s", id, body)
						}
					}
				})
			}
		})
	}
}
