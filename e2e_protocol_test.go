package custodian_test

// Protocol correctness, checked with real client libraries (golang.org/x/oauth2,
// go-oidc) and a browser-like client: the form_post response mode, client
// authentication of public clients, integer claims, and authorization requests refused
// before any page.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/net/html"
	"golang.org/x/oauth2"

	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/oauth"
	"github.com/custodian-id/custodian/storage/storagetest"
)

// registeredAuthorizeErrors are the error codes of RFC 6749 §4.1.2.1 and OpenID Connect
// Core §3.1.2.6: what a client of the authorization endpoint knows.
var registeredAuthorizeErrors = []string{"invalid_request", "unauthorized_client", "access_denied",
	"unsupported_response_type", "invalid_scope", "server_error", "temporarily_unavailable", "interaction_required",
	"login_required", "account_selection_required", "consent_required", "invalid_request_uri", "invalid_request_object",
	"request_not_supported", "request_uri_not_supported", "registration_not_supported"}

// formPostPage is what a browser finds on a form_post answer.
type formPostPage struct {
	action string
	fields url.Values
}

// readFormPostPage checks a form_post answer the way a browser would treat it: an HTML
// page whose CSP allows its one script, by hash and by nothing else, and a form that
// posts hidden fields to the redirect URI with a button for browsers without
// JavaScript.
func readFormPostPage(t *testing.T, resp *http.Response) formPostPage {
	t.Helper()
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("form_post answer: %d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if loc := resp.Header.Get("Location"); loc != "" {
		t.Fatalf("form_post answer redirects to %s", loc)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	csp := map[string][]string{}
	for _, d := range strings.Split(resp.Header.Get("Content-Security-Policy"), ";") {
		if f := strings.Fields(d); len(f) > 0 {
			csp[f[0]] = f[1:]
		}
	}
	if !slices.Equal(csp["default-src"], []string{"'none'"}) || !slices.Equal(csp["frame-ancestors"], []string{"'none'"}) {
		t.Errorf("CSP %q", resp.Header.Get("Content-Security-Policy"))
	}
	scriptSrc := csp["script-src"]
	if len(scriptSrc) != 1 || !strings.HasPrefix(scriptSrc[0], "'sha256-") {
		t.Fatalf("script-src %v: want exactly one hash", scriptSrc)
	}

	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var page formPostPage
	var scripts []string
	forms, buttons := 0, 0
	page.fields = url.Values{}
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			attr := map[string]string{}
			for _, a := range n.Attr {
				attr[a.Key] = a.Val
				if strings.HasPrefix(a.Key, "on") {
					t.Errorf("inline event handler %s=%q", a.Key, a.Val)
				}
			}
			switch n.Data {
			case "script":
				if attr["src"] != "" {
					t.Errorf("external script %q", attr["src"])
				}
				var b strings.Builder
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					b.WriteString(c.Data)
				}
				scripts = append(scripts, b.String())
			case "form":
				forms++
				if !strings.EqualFold(attr["method"], "post") {
					t.Errorf("form method %q", attr["method"])
				}
				page.action = attr["action"]
			case "input":
				if attr["type"] != "hidden" {
					t.Errorf("visible input %v", attr)
				}
				page.fields.Add(attr["name"], attr["value"])
			case "button":
				buttons++
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if forms != 1 || buttons != 1 || len(scripts) != 1 {
		t.Fatalf("want one form with a button and one script: %d forms, %d buttons, %d scripts: %s", forms, buttons, len(scripts), body)
	}
	sum := sha256.Sum256([]byte(scripts[0]))
	if want := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; scriptSrc[0] != want {
		t.Errorf("script-src %s does not allow the page's script %q (%s)", scriptSrc[0], scripts[0], want)
	}
	if !strings.Contains(scripts[0], "submit()") {
		t.Errorf("the script does not submit the form: %q", scripts[0])
	}
	return page
}

// submit posts the page's form as the browser does and returns what the client's
// callback received.
func (f formPostPage) submit(t *testing.T, c *http.Client, posts <-chan url.Values) url.Values {
	t.Helper()
	resp := postForm(t, c, f.action, f.fields)
	readBody(t, resp)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("callback answered %d", resp.StatusCode)
	}
	select {
	case got := <-posts:
		return got
	default:
		t.Fatal("the callback received nothing")
		return nil
	}
}

// TestFormPostResponseMode: response_mode=form_post (OAuth 2.0 Form Post Response
// Mode), as discovery advertises it: the code, and every error, reach the client's
// callback as a form the browser posts, from a page that keeps the strict CSP.
func TestFormPostResponseMode(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			ctx := context.Background()
			posts := make(chan url.Values, 1)
			cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" || r.ParseForm() != nil {
					http.Error(w, "want a form post", http.StatusBadRequest)
					return
				}
				posts <- r.PostForm
				w.WriteHeader(http.StatusNoContent)
			}))
			t.Cleanup(cb.Close)
			const app = "form-post-app"
			redirect := cb.URL + "/callback"
			if _, err := e.srv.OAuth.CreateClient(ctx, &oauth.Client{Tenant: testTenant, ID: app, Name: "Form Post App", Public: true,
				FirstParty: true, RedirectURIs: []string{redirect}, GrantTypes: []string{identity.GrantAuthorizationCode},
				Scopes: []string{"openid", "profile", "email"}}, ""); err != nil {
				t.Fatal(err)
			}
			provider, err := oidc.NewProvider(ctx, e.issuer())
			if err != nil {
				t.Fatal(err)
			}
			var meta struct {
				Modes []string `json:"response_modes_supported"`
			}
			if err := provider.Claims(&meta); err != nil || !slices.Contains(meta.Modes, "form_post") {
				t.Fatalf("discovery response_modes_supported %v (%v)", meta.Modes, err)
			}
			conf := &oauth2.Config{ClientID: app, Endpoint: provider.Endpoint(), RedirectURL: redirect,
				Scopes: []string{oidc.ScopeOpenID, "profile", "email"}}
			formPost := oauth2.SetAuthURLParam("response_mode", "form_post")

			// The code, after the login form.
			c := browser(t)
			verifier := oauth2.GenerateVerifier()
			action, csrf := loginForm(t, c, conf.AuthCodeURL("state-form-post-1", oauth2.S256ChallengeOption(verifier),
				oidc.Nonce("nonce-form-post-1"), formPost))
			resp := postForm(t, c, action, url.Values{"email": {shopperEmail}, "password": {shopperPass}, "csrf_token": {csrf}, "step": {"password"}})
			page := readFormPostPage(t, resp)
			if page.action != redirect {
				t.Fatalf("form posts to %q, want %q", page.action, redirect)
			}
			got := page.submit(t, c, posts)
			if got.Get("state") != "state-form-post-1" || got.Get("code") == "" || got.Get("error") != "" {
				t.Fatalf("callback received %v", got)
			}
			tok, err := conf.Exchange(ctx, got.Get("code"), oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatalf("exchange the posted code: %v", err)
			}
			rawID, _ := tok.Extra("id_token").(string)
			idt, err := provider.Verifier(&oidc.Config{ClientID: app}).Verify(ctx, rawID)
			if err != nil || idt.Nonce != "nonce-form-post-1" {
				t.Fatalf("ID token: %v (nonce %q)", err, idt.Nonce)
			}

			// With the browser session: straight to the form_post page.
			resp, err = c.Get(conf.AuthCodeURL("state-form-post-2", oauth2.S256ChallengeOption(verifier), formPost))
			if err != nil {
				t.Fatal(err)
			}
			if got := readFormPostPage(t, resp).submit(t, c, posts); got.Get("state") != "state-form-post-2" || got.Get("code") == "" {
				t.Errorf("single sign-on in form_post: %v", got)
			}

			// Errors go back by form post too: one the flow finds (prompt=none without a
			// session) and one found in the request itself (a short nonce).
			fresh := browser(t)
			for _, tc := range []struct {
				name  string
				opts  []oauth2.AuthCodeOption
				error string
			}{
				{"login required", []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("prompt", "none")}, "login_required"},
				{"short nonce", []oauth2.AuthCodeOption{oidc.Nonce("short")}, "invalid_request"},
			} {
				opts := append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier), formPost}, tc.opts...)
				resp, err := fresh.Get(conf.AuthCodeURL("state-form-post-err", opts...))
				if err != nil {
					t.Fatal(err)
				}
				got := readFormPostPage(t, resp).submit(t, fresh, posts)
				if got.Get("error") != tc.error || got.Get("state") != "state-form-post-err" || got.Get("code") != "" || got.Get("error_description") == "" {
					t.Errorf("%s: callback received %v, want error %s", tc.name, got, tc.error)
				}
			}

			// A response mode Custodian does not offer is refused in the query.
			resp, err = fresh.Get(conf.AuthCodeURL("state-form-post-3", oauth2.S256ChallengeOption(verifier),
				oauth2.SetAuthURLParam("response_mode", "fragment")))
			if err != nil {
				t.Fatal(err)
			}
			readBody(t, resp)
			loc, _ := url.Parse(resp.Header.Get("Location"))
			if resp.StatusCode != http.StatusSeeOther || loc == nil || loc.Fragment != "" || loc.Query().Get("error") != "invalid_request" ||
				loc.Query().Get("state") != "state-form-post-3" {
				t.Errorf("response_mode=fragment: %d Location=%q", resp.StatusCode, resp.Header.Get("Location"))
			}
		})
	}
}

// TestPublicClientPresentingSecret: a public client authenticates by its client_id
// alone; one that presents a client secret is refused with invalid_client wherever
// clients authenticate, and the refusal changes nothing.
func TestPublicClientPresentingSecret(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			ctx := context.Background()
			provider, err := oidc.NewProvider(ctx, e.issuer())
			if err != nil {
				t.Fatal(err)
			}
			const guessed = "a-secret-the-public-client-does-not-have"

			// The token endpoint, through x/oauth2, with either way of sending it.
			c := browser(t)
			verifier := oauth2.GenerateVerifier()
			code := authorize(t, c, spaConfig(e, provider), verifier, "state-public-1", "nonce-public-1", shopperEmail, shopperPass)
			for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
				conf := spaConfig(e, provider)
				conf.ClientSecret, conf.Endpoint.AuthStyle = guessed, style
				_, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
				var re *oauth2.RetrieveError
				if !errors.As(err, &re) || re.ErrorCode != "invalid_client" || re.Response.StatusCode != http.StatusUnauthorized {
					t.Errorf("code exchange with a secret (auth style %d): %v", style, err)
				}
			}
			// The refused exchanges did not use the code up.
			conf := spaConfig(e, provider)
			tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatalf("code exchange without a secret: %v", err)
			}

			for _, tc := range []struct {
				name  string
				form  url.Values
				basic []string
			}{
				{"anonymous grant, client_secret_post", url.Values{"grant_type": {identity.GrantAnonymous}, "client_id": {spaClient}, "client_secret": {guessed}}, nil},
				{"anonymous grant, client_secret_basic", url.Values{"grant_type": {identity.GrantAnonymous}}, []string{spaClient, guessed}},
				{"refresh", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {spaClient}, "client_secret": {guessed}}, nil},
			} {
				status, body := tokenRequest(t, e, tc.form, tc.basic...)
				if status != http.StatusUnauthorized || body["error"] != "invalid_client" {
					t.Errorf("%s: %d %v", tc.name, status, body)
				}
			}
			// Without a secret (or with an empty one in Basic) the same calls work.
			if status, body := tokenRequest(t, e, url.Values{"grant_type": {identity.GrantAnonymous}}, spaClient, ""); status != http.StatusOK {
				t.Errorf("anonymous grant with an empty Basic secret: %d %v", status, body)
			}

			// Revocation.
			resp := postForm(t, http.DefaultClient, e.issuer()+"/revoke", url.Values{"token": {tok.AccessToken}, "client_id": {spaClient}, "client_secret": {guessed}})
			body := readBody(t, resp)
			if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `"invalid_client"`) {
				t.Errorf("revoke with a secret: %d %s", resp.StatusCode, body)
			}
			if got := introspect(t, e, tok.AccessToken); got["active"] != true {
				t.Errorf("a refused revocation revoked the token: %v", got)
			}

			// The customer APIs' client checks that take HTTP Basic credentials.
			anon := anonymousLogin(t, e)["access_token"].(string)
			lg := loginWith(t, e, anon, shopperEmail, shopperPass)
			if lg.status != http.StatusOK {
				t.Fatalf("login: %d %s", lg.status, lg.raw)
			}
			refreshPath := "/customer/" + testTenant + "/refreshauthtoken?" + url.Values{"refreshToken": {lg.body["refresh_token"].(string)}}.Encode()
			wantLoginError(t, "login API refresh with a secret", loginCall(t, e, http.MethodGet, refreshPath, "", "Authorization", basicAuth(spaClient, guessed)),
				http.StatusUnauthorized, "unauthorized")
			if got := loginCall(t, e, http.MethodGet, refreshPath+"&client_id="+spaClient, ""); got.status != http.StatusOK {
				t.Errorf("login API refresh without a secret: %d %s", got.status, got.raw)
			}
			wantTicketError(t, "ticket API with a public client's Basic credentials",
				ticketCall(t, e, http.MethodGet, "/api/commerce/customer/authtickets/anonymousshopper", "", "x-vol-tenant", testTenant,
					"Authorization", basicAuth(spaClient, guessed)), http.StatusUnauthorized, "UNAUTHORIZED")
		})
	}
}

// wantIntegerClaims checks that every number of a JSON object, however deep, is written
// as an integer (NumericDate and integer claims: no 1.796174919e+09, no 12.0), that the
// named claims are there, and returns the object.
func wantIntegerClaims(t *testing.T, what string, raw []byte, claims ...string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		t.Fatalf("%s: %v: %s", what, err, raw)
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case json.Number:
			if _, err := strconv.ParseInt(x.String(), 10, 64); err != nil {
				t.Errorf("%s: %s is %s, not an integer", what, path, x)
			}
		case map[string]any:
			for k, e := range x {
				walk(path+"."+k, e)
			}
		case []any:
			for i, e := range x {
				walk(path+"["+strconv.Itoa(i)+"]", e)
			}
		}
	}
	walk("", obj)
	for _, c := range claims {
		if _, ok := obj[c].(json.Number); !ok {
			t.Errorf("%s: claim %s is %v, want a number", what, c, obj[c])
		}
	}
	return obj
}

// jwtPayload is a JWT's payload (signatures are checked by the callers' libraries).
func jwtPayload(t *testing.T, jwt string) []byte {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", jwt)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// oidcIntegers are integer claims as a strict client reads them: a float in any of them
// fails the decode.
type oidcIntegers struct {
	UpdatedAt int64 `json:"updated_at"`
	AuthTime  int64 `json:"auth_time"`
	IssuedAt  int64 `json:"iat"`
	Expiry    int64 `json:"exp"`
}

// TestNumericClaimsAreIntegers: every NumericDate and integer claim is an integer in ID
// tokens (at the code exchange and after a refresh), JWT access tokens, userinfo and
// the login API's saas_token; go-oidc decodes them.
func TestNumericClaimsAreIntegers(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			ctx := context.Background()
			provider, err := oidc.NewProvider(ctx, e.issuer())
			if err != nil {
				t.Fatal(err)
			}
			conf := spaConfig(e, provider)
			verifier := oauth2.GenerateVerifier()
			code := authorize(t, browser(t), conf, verifier, "state-numeric-1", "nonce-numeric-1", shopperEmail, shopperPass)
			tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatal(err)
			}
			verify := func(what string, tok *oauth2.Token) {
				t.Helper()
				rawID, _ := tok.Extra("id_token").(string)
				idt, err := provider.Verifier(&oidc.Config{ClientID: spaClient}).Verify(ctx, rawID)
				if err != nil {
					t.Fatalf("%s: verify ID token: %v", what, err)
				}
				var c oidcIntegers
				if err := idt.Claims(&c); err != nil {
					t.Errorf("%s: go-oidc decodes the ID token's claims: %v", what, err)
				}
				if c.UpdatedAt == 0 || c.AuthTime == 0 {
					t.Errorf("%s: ID token claims %+v", what, c)
				}
				wantIntegerClaims(t, what+" ID token", jwtPayload(t, rawID), "exp", "iat", "auth_time", "updated_at")
				jat, _ := tok.Extra("jwt_access_token").(string)
				wantIntegerClaims(t, what+" JWT access token", jwtPayload(t, jat), "exp", "iat", "auth_time")
			}
			verify("code exchange", tok)

			old := *tok
			old.Expiry = time.Now().Add(-time.Minute)
			tok2, err := conf.TokenSource(ctx, &old).Token()
			if err != nil {
				t.Fatalf("refresh: %v", err)
			}
			verify("refresh", tok2)

			// UserInfo, through go-oidc and as raw JSON.
			ui, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok2))
			if err != nil {
				t.Fatal(err)
			}
			var uc oidcIntegers
			if err := ui.Claims(&uc); err != nil || uc.UpdatedAt == 0 {
				t.Errorf("go-oidc decodes userinfo: %v (%+v)", err, uc)
			}
			req, _ := http.NewRequest(http.MethodGet, e.issuer()+"/userinfo", nil)
			req.Header.Set("Authorization", "Bearer "+tok2.AccessToken)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			wantIntegerClaims(t, "userinfo", []byte(readBody(t, resp)), "updated_at")

			// The login API's saas_token.
			lg := loginWith(t, e, anonymousLogin(t, e)["access_token"].(string), shopperEmail, shopperPass)
			if lg.status != http.StatusOK {
				t.Fatalf("login: %d %s", lg.status, lg.raw)
			}
			wantIntegerClaims(t, "saas_token", jwtPayload(t, lg.body["saas_token"].(string)), "exp", "iat")
		})
	}
}

// TestAuthorizationRequestRefusedUpFront: everything that would make the flow fail
// after the shopper signed in (at the code's issuance or its exchange) is refused by
// the first GET, before any page: redirected to the client with a registered error
// code when the redirect URI is the client's, on an error page otherwise.
func TestAuthorizationRequestRefusedUpFront(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			ctx := context.Background()
			const noCode = "no-code-grant"
			if _, err := e.srv.OAuth.CreateClient(ctx, &oauth.Client{Tenant: testTenant, ID: noCode, Public: true,
				RedirectURIs: []string{spaRedirect}, GrantTypes: []string{identity.GrantAnonymous}, Scopes: []string{"openid", "profile"}}, ""); err != nil {
				t.Fatal(err)
			}
			challenge := oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())
			base := url.Values{"response_type": {"code"}, "client_id": {spaClient}, "redirect_uri": {spaRedirect},
				"scope": {"openid profile"}, "state": {"state-up-front"}, "nonce": {"nonce-up-front"},
				"code_challenge": {challenge}, "code_challenge_method": {"S256"}}
			authURL := func(change url.Values) string {
				q := url.Values{}
				for k, v := range base {
					q[k] = v
				}
				for k, v := range change {
					if len(v) == 0 {
						q.Del(k)
					} else {
						q[k] = v
					}
				}
				return e.issuer() + "/auth?" + q.Encode()
			}
			// The request as it is shows the login page.
			loginForm(t, browser(t), authURL(nil))

			for _, tc := range []struct {
				name   string
				change url.Values
				error  string // "" : an error page, no redirect
			}{
				{"nonce below the minimum entropy", url.Values{"nonce": {"abc"}}, "invalid_request"},
				{"state below the minimum entropy", url.Values{"state": {"abc"}}, "invalid_request"},
				{"no state", url.Values{"state": nil}, "invalid_request"},
				{"PKCE missing for a public client", url.Values{"code_challenge": nil, "code_challenge_method": nil}, "invalid_request"},
				{"PKCE plain", url.Values{"code_challenge_method": {"plain"}}, "invalid_request"},
				{"PKCE challenge no verifier can match", url.Values{"code_challenge": {"too-short"}}, "invalid_request"},
				{"unknown prompt", url.Values{"prompt": {"select_account"}}, "invalid_request"},
				{"prompt none with another value", url.Values{"prompt": {"none login"}}, "invalid_request"},
				{"negative max_age", url.Values{"max_age": {"-5"}}, "invalid_request"},
				{"max_age not a number", url.Values{"max_age": {"soon"}}, "invalid_request"},
				{"id_token_hint not an ID token of the tenant", url.Values{"id_token_hint": {"eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0."}}, "invalid_request"},
				{"scope the client may not ask for", url.Values{"scope": {"openid orders"}}, "invalid_scope"},
				{"implicit response type", url.Values{"response_type": {"token"}}, "unsupported_response_type"},
				{"response mode not offered", url.Values{"response_mode": {"fragment"}}, "invalid_request"},
				{"client without the code grant", url.Values{"client_id": {noCode}}, "unauthorized_client"},
				{"unregistered redirect URI", url.Values{"redirect_uri": {"http://127.0.0.1:9/elsewhere"}}, ""},
				{"unknown client", url.Values{"client_id": {"nosuch"}}, ""},
			} {
				t.Run(tc.name, func(t *testing.T) {
					resp, err := browser(t).Get(authURL(tc.change))
					if err != nil {
						t.Fatal(err)
					}
					body := readBody(t, resp)
					if strings.Contains(body, `name="password"`) {
						t.Fatalf("the login page was shown")
					}
					if tc.error == "" {
						if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || !strings.Contains(body, "Something went wrong") {
							t.Errorf("want an error page: %d Location=%q %s", resp.StatusCode, resp.Header.Get("Location"), body)
						}
						return
					}
					loc, err := url.Parse(resp.Header.Get("Location"))
					if resp.StatusCode != http.StatusSeeOther || err != nil || loc.Scheme+"://"+loc.Host+loc.Path != spaRedirect {
						t.Fatalf("want a redirect to the client: %d Location=%q %s", resp.StatusCode, resp.Header.Get("Location"), body)
					}
					q := loc.Query()
					if q.Get("error") != tc.error || q.Get("code") != "" || q.Get("error_description") == "" {
						t.Errorf("redirect %s: want error %s", loc, tc.error)
					}
					if !slices.Contains(registeredAuthorizeErrors, q.Get("error")) {
						t.Errorf("error %q is not a registered OAuth / OpenID Connect code", q.Get("error"))
					}
					if want := authURLState(tc.change); q.Get("state") != want {
						t.Errorf("state %q, want %q", q.Get("state"), want)
					}
				})
			}

			// id_token_hint: checked against every live key (a hint signed before a key
			// rotation still works), and a hint naming another customer than the signed-in
			// one is login_required.
			provider, err := oidc.NewProvider(ctx, e.issuer())
			if err != nil {
				t.Fatal(err)
			}
			conf := spaConfig(e, provider)
			signIn := func(c *http.Client, email string) string {
				t.Helper()
				verifier := oauth2.GenerateVerifier()
				code := authorize(t, c, conf, verifier, "state-hint-1", "nonce-hint-1", email, shopperPass)
				tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
				if err != nil {
					t.Fatal(err)
				}
				return tok.Extra("id_token").(string)
			}
			if _, err := e.srv.Customers.CreateAccount(ctx, testTenant, customerNew("other@example.com", shopperPass)); err != nil {
				t.Fatal(err)
			}
			jane := browser(t)
			janeHint := signIn(jane, shopperEmail)
			otherHint := signIn(browser(t), "other@example.com")
			if err := e.srv.OAuth.RotateKeys(ctx, testTenant); err != nil {
				t.Fatal(err)
			}
			silent := func(hint string) url.Values {
				t.Helper()
				resp, err := jane.Get(authURL(url.Values{"prompt": {"none"}, "id_token_hint": {hint}}))
				if err != nil {
					t.Fatal(err)
				}
				readBody(t, resp)
				loc, err := url.Parse(resp.Header.Get("Location"))
				if resp.StatusCode != http.StatusSeeOther || err != nil {
					t.Fatalf("prompt=none: %d %q", resp.StatusCode, resp.Header.Get("Location"))
				}
				return loc.Query()
			}
			if q := silent(janeHint); q.Get("code") == "" {
				t.Errorf("the signed-in customer's own hint, signed before a key rotation: %v", q)
			}
			if q := silent(otherHint); q.Get("error") != "login_required" {
				t.Errorf("another customer's hint: %v", q)
			}
			// Without prompt=none the login page asks; signing in as someone else than
			// the hint names is login_required, not a code for the wrong customer.
			c := browser(t)
			action, csrf := loginForm(t, c, authURL(url.Values{"id_token_hint": {janeHint}}))
			resp := postForm(t, c, action, url.Values{"email": {"other@example.com"}, "password": {shopperPass}, "csrf_token": {csrf}, "step": {"password"}})
			readBody(t, resp)
			if loc, _ := url.Parse(resp.Header.Get("Location")); resp.StatusCode != http.StatusSeeOther || loc == nil ||
				loc.Query().Get("error") != "login_required" || loc.Query().Get("code") != "" {
				t.Errorf("signed in as another customer than the hint: %d %q", resp.StatusCode, resp.Header.Get("Location"))
			}
		})
	}
}

// authURLState is the state a refused request's redirect carries back.
func authURLState(change url.Values) string {
	if v, ok := change["state"]; ok {
		if len(v) == 0 {
			return ""
		}
		return v[0]
	}
	return "state-up-front"
}
