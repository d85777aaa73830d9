package custodian_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"
	"golang.org/x/oauth2"

	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/notify/notifytest"
	"github.com/custodian-id/custodian/oauth"
	"github.com/custodian-id/custodian/storage/storagetest"
)

// Social login (issue 6) end to end. The happy paths use a second tenant of the same
// Custodian as the upstream OpenID Connect provider, through its real login page; the
// attacks use a scripted upstream on loopback whose ID tokens a test can spoil.

const (
	upstreamTenant = "upstream"
	upstreamClient = "shop-connector"
	upstreamSecret = "upstream-secret-0123456789-0123456789-abc"
)

// socialSetup makes tenant "upstream" a provider for tenant "shop" (connector "up").
func socialSetup(t *testing.T, e *env) {
	t.Helper()
	ctx := context.Background()
	if _, err := e.srv.OAuth.CreateTenant(ctx, upstreamTenant); err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.OAuth.CreateClient(ctx, &oauth.Client{Tenant: upstreamTenant, ID: upstreamClient, FirstParty: true,
		RedirectURIs: []string{e.issuer() + "/connectors/up/callback"},
		GrantTypes:   []string{identity.GrantAuthorizationCode, identity.GrantRefreshToken},
		Scopes:       []string{"openid", "profile", "email"}}, upstreamSecret); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.OAuth.CreateConnector(ctx, &oauth.Connector{Tenant: testTenant, ID: "up", Name: "Upstream ID",
		Issuer: e.url + "/oauth2/" + upstreamTenant, ClientID: upstreamClient, ClientSecret: upstreamSecret}); err != nil {
		t.Fatal(err)
	}
}

// upstreamUser creates a customer of the upstream tenant, with a verified e-mail or not.
func upstreamUser(t *testing.T, e *env, email string, verified bool) {
	t.Helper()
	ctx := context.Background()
	a, err := e.srv.Customers.CreateAccount(ctx, upstreamTenant, customerNew(email, shopperPass))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Store().SetEmailVerified(ctx, upstreamTenant, a.ID, verified); err != nil {
		t.Fatal(err)
	}
}

// storefrontAuth is the storefront's authorization URL with PKCE, going straight to a
// connector.
func storefrontAuth(e *env, verifier, connector string) string {
	q := url.Values{"response_type": {"code"}, "client_id": {spaClient}, "redirect_uri": {spaRedirect},
		"scope": {"openid email profile"}, "state": {"storefront-state-1"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)},
		"code_challenge_method": {"S256"}}
	if connector != "" {
		q.Set("idp_hint", connector)
	}
	return e.issuer() + "/auth?" + q.Encode()
}

// follow GETs a URL and returns the response (redirects are not followed).
func follow(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	return resp, readBody(t, resp)
}

func location(t *testing.T, resp *http.Response) *url.URL {
	t.Helper()
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("want a redirect, got %d", resp.StatusCode)
	}
	u, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// socialCode runs the browser part: storefront → Custodian → upstream login page →
// callback → code at the storefront. It returns the last response when no code comes.
func socialCode(t *testing.T, e *env, c *http.Client, verifier, email string) (string, *http.Response, string) {
	t.Helper()
	resp, _ := follow(t, c, storefrontAuth(e, verifier, "up"))
	up := location(t, resp)
	if !strings.HasPrefix(up.String(), e.url+"/oauth2/"+upstreamTenant+"/auth?") || up.Query().Get("nonce") == "" ||
		up.Query().Get("code_challenge_method") != "S256" || up.Query().Get("state") == "" {
		t.Fatalf("not sent upstream with nonce, state and PKCE: %s", up)
	}
	action, csrf := loginForm(t, c, up.String())
	resp = postForm(t, c, action, url.Values{"email": {email}, "password": {shopperPass}, "csrf_token": {csrf}, "step": {"password"}})
	readBody(t, resp)
	back := location(t, resp)
	if back.Path != "/oauth2/"+testTenant+"/connectors/up/callback" {
		t.Fatalf("upstream redirected to %s", back)
	}
	resp, body := follow(t, c, back.String())
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		return "", resp, body
	}
	done := location(t, resp)
	if done.Scheme+"://"+done.Host+done.Path != spaRedirect || done.Query().Get("state") != "storefront-state-1" {
		t.Fatalf("callback ended at %s", done)
	}
	return done.Query().Get("code"), resp, body
}

func socialLogin(t *testing.T, e *env, anon, code, redirect, verifier string) loginReply {
	t.Helper()
	q := url.Values{"code": {code}, "redirect_uri": {redirect}, "code_verifier": {verifier}}
	return loginCall(t, e, http.MethodPost, "/customer/"+testTenant+"/socialLogin?"+q.Encode(), "", "Authorization", "Bearer "+anon)
}

func TestSocialLogin(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b, allowPrivateURLs)
			e.clock.Advance(0)
			socialSetup(t, e)
			upstreamUser(t, e, "alice@example.com", true)
			upstreamUser(t, e, shopperEmail, true) // the shop's existing customer
			upstreamUser(t, e, "eve@example.com", false)
			ctx := context.Background()
			if _, err := e.srv.Customers.CreateAccount(ctx, testTenant, customerNew("eve@example.com", shopperPass)); err != nil {
				t.Fatal(err)
			}
			anonBody := anonymousLogin(t, e)
			anon := anonBody["access_token"].(string)

			// The login page lists the connector.
			_, page := follow(t, browser(t), storefrontAuth(e, oauth2.GenerateVerifier(), ""))
			if !strings.Contains(page, "Continue with Upstream ID") || !strings.Contains(page, `name="idp_hint" value="up"`) {
				t.Errorf("login page without the connector: %s", page)
			}

			// First sign-in creates the customer; the upstream tokens come once.
			verifier := oauth2.GenerateVerifier()
			code, _, body := socialCode(t, e, browser(t), verifier, "alice@example.com")
			if code == "" {
				t.Fatalf("no code: %s", body)
			}
			first := socialLogin(t, e, anon, code, spaRedirect, verifier)
			if first.status != http.StatusOK {
				t.Fatalf("socialLogin: %d %s", first.status, first.raw)
			}
			wantKeys(t, "social login", first.body, append(slicesClone(loginResponseFields), "social_access_token", "social_id_token")...)
			if first.body["session_id"] != anonBody["sessionId"] {
				t.Errorf("session %v, want the anonymous %v", first.body["session_id"], anonBody["sessionId"])
			}
			idt := jwtClaims(t, first.body["social_id_token"].(string))
			if idt["iss"] != e.url+"/oauth2/"+upstreamTenant || idt["email"] != "alice@example.com" {
				t.Errorf("social_id_token claims %v", idt)
			}
			aliceID := jwtClaims(t, first.body["saas_token"].(string))["sub"]
			me := first.body["access_token"].(string)
			prof := loginCall(t, e, http.MethodGet, "/customer/"+testTenant+"/me", "", jsonBearer(me)...)
			accts := prof.body["accounts"].([]any)
			if len(accts) != 1 || accts[0].(map[string]any)["providerId"] != "up" {
				t.Errorf("accounts of a social customer: %v", prof.body["accounts"])
			}
			// A replayed code fails and revokes what the first exchange minted.
			replay := socialLogin(t, e, anon, code, spaRedirect, verifier)
			wantLoginError(t, "replayed code", replay, http.StatusBadRequest, "bad_request")
			if r := loginCall(t, e, http.MethodGet, "/customer/"+testTenant+"/validateauthtoken", "", jsonBearer(me)...); r.status != http.StatusUnauthorized {
				t.Errorf("tokens of a replayed code still work: %d", r.status)
			}

			// Second sign-in reuses the customer; without a Bearer token the client is
			// named by client_id, and no session can be named (issue 10): the tokens
			// keep the sign-in's own session.
			verifier = oauth2.GenerateVerifier()
			code, _, _ = socialCode(t, e, browser(t), verifier, "alice@example.com")
			byID := url.Values{"code": {code}, "redirect_uri": {spaRedirect}, "code_verifier": {verifier}, "client_id": {spaClient}}.Encode()
			wantLoginError(t, "session-id without the anonymous token", loginCall(t, e, http.MethodPost, "/customer/"+testTenant+"/socialLogin?"+byID, "",
				"session-id", "cart-123"), http.StatusBadRequest, "bad_request", "session-id")
			again := loginCall(t, e, http.MethodPost, "/customer/"+testTenant+"/socialLogin?"+byID, "")
			if again.status != http.StatusOK || jwtClaims(t, again.body["saas_token"].(string))["sub"] != aliceID ||
				again.body["session_id"] == "cart-123" || again.body["session_id"] == "" {
				t.Errorf("second sign-in: %d %s", again.status, again.raw)
			}
			// With the anonymous token, the header may repeat its session.
			verifier = oauth2.GenerateVerifier()
			code, _, _ = socialCode(t, e, browser(t), verifier, "alice@example.com")
			q := url.Values{"code": {code}, "redirect_uri": {spaRedirect}, "code_verifier": {verifier}}
			if got := loginCall(t, e, http.MethodPost, "/customer/"+testTenant+"/socialLogin?"+q.Encode(), "", "Authorization", "Bearer "+anon,
				"session-id", anonBody["sessionId"].(string)); got.status != http.StatusOK || got.body["session_id"] != anonBody["sessionId"] {
				t.Errorf("session-id of the caller's anonymous token: %d %s", got.status, got.raw)
			}

			// A verified e-mail links to the existing customer whose address is verified
			// too (an unverified one is claimed instead: e2e_preaccount_test.go); her
			// password keeps working.
			existing, _ := e.srv.Store().GetAccountByEmail(ctx, testTenant, shopperEmail)
			if err := e.srv.Store().SetEmailVerified(ctx, testTenant, existing.ID, true); err != nil {
				t.Fatal(err)
			}
			verifier = oauth2.GenerateVerifier()
			code, _, _ = socialCode(t, e, browser(t), verifier, shopperEmail)
			jane := socialLogin(t, e, anon, code, spaRedirect, verifier)
			if jane.status != http.StatusOK || jwtClaims(t, jane.body["saas_token"].(string))["sub"] != itoa(existing.ID) {
				t.Errorf("linking by verified e-mail: %d %s", jane.status, jane.raw)
			}
			if r := loginWith(t, e, anon, shopperEmail, shopperPass); r.status != http.StatusOK {
				t.Errorf("linking a verified account changed its password: %d %s", r.status, r.raw)
			}

			// An unverified e-mail does not link: a clear page, nothing linked.
			code, resp, body := socialCode(t, e, browser(t), oauth2.GenerateVerifier(), "eve@example.com")
			if code != "" || resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "has not verified") {
				t.Errorf("unverified e-mail: code %q, %d %s", code, resp.StatusCode, body)
			}
			eve, _ := e.srv.Store().GetAccountByEmail(ctx, testTenant, "eve@example.com")
			if ids, _ := e.srv.Store().ListIdentities(ctx, testTenant, eve.ID); len(ids) != 0 {
				t.Errorf("unverified e-mail linked: %v", ids)
			}

			// Wrong verifier, wrong redirect URI, expired code: 400, nothing issued.
			verifier = oauth2.GenerateVerifier()
			code, _, _ = socialCode(t, e, browser(t), verifier, "alice@example.com")
			wantLoginError(t, "wrong verifier", socialLogin(t, e, anon, code, spaRedirect, oauth2.GenerateVerifier()), http.StatusBadRequest, "bad_request")
			verifier = oauth2.GenerateVerifier()
			code, _, _ = socialCode(t, e, browser(t), verifier, "alice@example.com")
			wantLoginError(t, "wrong redirect_uri", socialLogin(t, e, anon, code, spaRedirect+"x", verifier), http.StatusBadRequest, "bad_request")
			wantLoginError(t, "missing parameters", loginCall(t, e, http.MethodPost, "/customer/"+testTenant+"/socialLogin", "",
				"Authorization", "Bearer "+anonymousLogin(t, e)["access_token"].(string)), http.StatusBadRequest, "bad_request", "code", "redirect_uri", "code_verifier")

			// Unlinking: not the last way in; the social customer has no password.
			anon = anonymousLogin(t, e)["access_token"].(string)
			verifier = oauth2.GenerateVerifier()
			code, _, _ = socialCode(t, e, browser(t), verifier, "alice@example.com")
			aliceToken := socialLogin(t, e, anon, code, spaRedirect, verifier).body["access_token"].(string)
			wantLoginError(t, "unlink the last way in", loginCall(t, e, http.MethodDelete, "/customer/"+testTenant+"/me/accounts/up", "", jsonBearer(aliceToken)...),
				http.StatusConflict, "conflict_resource")
			janeToken := loginWith(t, e, anon, shopperEmail, shopperPass).body["access_token"].(string)
			if r := loginCall(t, e, http.MethodDelete, "/customer/"+testTenant+"/me/accounts/up", "", jsonBearer(janeToken)...); r.status != http.StatusNoContent {
				t.Errorf("unlink with a password left: %d %s", r.status, r.raw)
			}

			// Without auto-linking the customer proves the password once, and that links.
			setTenant(t, e, "social.autolink", "false")
			upstreamUser(t, e, "carol@example.com", true)
			if carol, err := e.srv.Customers.CreateAccount(ctx, testTenant, customerNew("carol@example.com", shopperPass)); err != nil {
				t.Fatal(err)
			} else if err := e.srv.Store().SetEmailVerified(ctx, testTenant, carol.ID, true); err != nil {
				t.Fatal(err)
			}
			c := browser(t)
			verifier = oauth2.GenerateVerifier()
			code, resp, body = socialCode(t, e, c, verifier, "carol@example.com")
			if code != "" || resp.StatusCode != http.StatusConflict || !strings.Contains(body, `name="link_token"`) {
				t.Fatalf("link needing the password: code %q, %d %s", code, resp.StatusCode, body)
			}
			action, csrf := formParts(t, resp.Request.URL, body)
			linkToken := regexpFind(t, `name="link_token" value="([^"]+)"`, body)
			resp = postForm(t, c, action, url.Values{"email": {"carol@example.com"}, "password": {shopperPass}, "csrf_token": {csrf},
				"step": {"password"}, "link_token": {linkToken}})
			readBody(t, resp)
			if loc := location(t, resp); loc.Query().Get("code") == "" {
				t.Fatalf("no code after the password: %s", loc)
			}
			carol, _ := e.srv.Store().GetAccountByEmail(ctx, testTenant, "carol@example.com")
			if ids, _ := e.srv.Store().ListIdentities(ctx, testTenant, carol.ID); len(ids) != 1 {
				t.Fatalf("password sign-in did not link: %v", ids)
			}
			verifier = oauth2.GenerateVerifier()
			if code, _, body := socialCode(t, e, browser(t), verifier, "carol@example.com"); code == "" {
				t.Errorf("linked identity refused: %s", body)
			}

			// Without auto-provisioning a new upstream user gets a clear page.
			setTenant(t, e, "social.autoprovision", "false")
			upstreamUser(t, e, "newbie@example.com", true)
			code, resp, body = socialCode(t, e, browser(t), oauth2.GenerateVerifier(), "newbie@example.com")
			if code != "" || resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "no account") {
				t.Errorf("no auto-provisioning: code %q, %d %s", code, resp.StatusCode, body)
			}
			if _, err := e.srv.Store().GetAccountByEmail(ctx, testTenant, "newbie@example.com"); err == nil {
				t.Error("an account was created with auto-provisioning off")
			}

			// An expired code (last: fosite stamps codes with the real clock, the store
			// checks them against the test's, so no code works after this).
			verifier = oauth2.GenerateVerifier()
			code, _, _ = socialCode(t, e, browser(t), verifier, "alice@example.com")
			e.clock.Advance(6 * time.Minute)
			wantLoginError(t, "expired code", socialLogin(t, e, anon, code, spaRedirect, verifier), http.StatusBadRequest, "bad_request")
		})
	}
}

func slicesClone(s []string) []string { return append([]string(nil), s...) }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// scriptedUpstream is an OpenID Connect provider whose ID tokens a test shapes.
type scriptedUpstream struct {
	srv    *httptest.Server
	key    *rsa.PrivateKey
	mu     sync.Mutex
	nonce  string
	mangle func(claims map[string]any) // changes the claims of the next ID token
	signer *rsa.PrivateKey             // signs the ID token (default key)
}

func newScriptedUpstream(t *testing.T) *scriptedUpstream {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	u := &scriptedUpstream{key: key}
	mux := http.NewServeMux()
	u.srv = httptest.NewServer(mux)
	t.Cleanup(u.srv.Close)
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": u.srv.URL, "authorization_endpoint": u.srv.URL + "/authorize",
			"token_endpoint": u.srv.URL + "/token", "jwks_uri": u.srv.URL + "/jwks", "response_types_supported": []string{"code"},
			"subject_types_supported": []string{"public"}, "id_token_signing_alg_values_supported": []string{"RS256"}})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	mux.HandleFunc("/authorize", func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.nonce = r.URL.Query().Get("nonce")
		u.mu.Unlock()
		back, _ := url.Parse(r.URL.Query().Get("redirect_uri"))
		q := back.Query()
		q.Set("code", "upstream-code")
		q.Set("state", r.URL.Query().Get("state"))
		back.RawQuery = q.Encode()
		http.Redirect(w, r, back.String(), http.StatusFound)
	})
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		defer u.mu.Unlock()
		now := time.Now()
		claims := map[string]any{"iss": u.srv.URL, "sub": "scripted-1", "aud": "scripted-client", "exp": now.Add(time.Hour).Unix(),
			"iat": now.Unix(), "nonce": u.nonce, "email": "scripted@example.com", "email_verified": true}
		if u.mangle != nil {
			u.mangle(claims)
		}
		signKey := u.key
		if u.signer != nil {
			signKey = u.signer
		}
		signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: signKey, KeyID: "k1"}},
			(&jose.SignerOptions{}).WithType("JWT"))
		payload, _ := json.Marshal(claims)
		obj, _ := signer.Sign(payload)
		idt, _ := obj.CompactSerialize()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "upstream-access", "token_type": "Bearer", "id_token": idt, "expires_in": 3600})
	})
	return u
}

// TestSocialLoginAttacks: a spoiled upstream answer or a foreign callback creates
// nothing and says why.
func TestSocialLoginAttacks(t *testing.T) {
	e := newEnv(t, storagetest.Backends(t)[0], allowPrivateURLs)
	up := newScriptedUpstream(t)
	ctx := context.Background()
	if err := e.srv.OAuth.CreateConnector(ctx, &oauth.Connector{Tenant: testTenant, ID: "scripted", Issuer: up.srv.URL,
		ClientID: "scripted-client", ClientSecret: "scripted-secret"}); err != nil {
		t.Fatal(err)
	}
	run := func(c *http.Client) (*http.Response, string) {
		resp, _ := follow(t, c, storefrontAuth(e, oauth2.GenerateVerifier(), "scripted"))
		resp, _ = follow(t, c, location(t, resp).String()) // the scripted upstream answers at once
		return follow(t, c, location(t, resp).String())
	}
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	cases := []struct {
		name   string
		mangle func(map[string]any)
		signer *rsa.PrivateKey
	}{
		{"wrong audience", func(c map[string]any) { c["aud"] = "someone-else" }, nil},
		{"wrong nonce", func(c map[string]any) { c["nonce"] = "replayed-nonce" }, nil},
		{"expired", func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() }, nil},
		{"wrong issuer", func(c map[string]any) { c["iss"] = "https://evil.example" }, nil},
		{"wrong signature", nil, other},
	}
	for _, tc := range cases {
		up.mu.Lock()
		up.mangle, up.signer = tc.mangle, tc.signer
		up.mu.Unlock()
		resp, body := run(browser(t))
		if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "could not be verified") {
			t.Errorf("%s: %d %s", tc.name, resp.StatusCode, body)
		}
	}
	if _, err := e.srv.Store().GetAccountByEmail(ctx, testTenant, "scripted@example.com"); err == nil {
		t.Error("a spoiled sign-in created an account")
	}
	// A good answer works, so the cases above failed for their reason.
	up.mu.Lock()
	up.mangle, up.signer = nil, nil
	up.mu.Unlock()
	if resp, body := run(browser(t)); resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusFound {
		t.Fatalf("good upstream answer: %d %s", resp.StatusCode, body)
	}

	// A callback in another browser (no state cookie), or a state used twice.
	c := browser(t)
	resp, _ := follow(t, c, storefrontAuth(e, oauth2.GenerateVerifier(), "scripted"))
	resp, _ = follow(t, c, location(t, resp).String())
	callback := location(t, resp).String()
	if resp, body := follow(t, browser(t), callback); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "did not start in this browser") {
		t.Errorf("callback in another browser: %d %s", resp.StatusCode, body)
	}
	if resp, _ := follow(t, c, callback); resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		t.Errorf("callback in the right browser: %d", resp.StatusCode)
	}
	if resp, _ := follow(t, c, callback); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("callback replayed: %d", resp.StatusCode)
	}
	// An unknown connector.
	if resp, _ := follow(t, browser(t), storefrontAuth(e, oauth2.GenerateVerifier(), "nope")); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("unknown idp_hint: %d", resp.StatusCode)
	}
}

// idToken asks the scripted upstream's token endpoint for an ID token directly, as a
// storefront holding one would have it.
func (u *scriptedUpstream) idToken(t *testing.T, mangle func(map[string]any)) string {
	t.Helper()
	u.mu.Lock()
	u.mangle, u.signer, u.nonce = mangle, nil, ""
	u.mu.Unlock()
	resp, err := http.PostForm(u.srv.URL+"/token", url.Values{"grant_type": {"authorization_code"}})
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	_ = json.Unmarshal([]byte(readBody(t, resp)), &out)
	return out["id_token"].(string)
}

// TestTokenExchange: an upstream ID token becomes Custodian tokens at the token endpoint
// (RFC 8693) and at the login API's exchangeauthtoken.
func TestTokenExchange(t *testing.T) {
	e := newEnv(t, storagetest.Backends(t)[0], allowPrivateURLs)
	up := newScriptedUpstream(t)
	ctx := context.Background()
	if err := e.srv.OAuth.CreateConnector(ctx, &oauth.Connector{Tenant: testTenant, ID: "scripted", Issuer: up.srv.URL,
		ClientID: "scripted-client", ClientSecret: "scripted-secret"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.OAuth.CreateClient(ctx, &oauth.Client{Tenant: testTenant, ID: "mobile", Public: true, FirstParty: true,
		GrantTypes: []string{identity.GrantAnonymous, identity.GrantRefreshToken, identity.GrantTokenExchange}, Scopes: []string{"openid"}}, ""); err != nil {
		t.Fatal(err)
	}
	exchange := func(client, subject string) (int, map[string]any) {
		return tokenRequest(t, e, url.Values{"grant_type": {identity.GrantTokenExchange}, "client_id": {client}, "subject_token": {subject},
			"subject_token_type": {oauth.TokenTypeIDToken}})
	}
	status, body := exchange("mobile", up.idToken(t, nil))
	if status != http.StatusOK || body["issued_token_type"] != oauth.TokenTypeAccessToken || body["access_token"] == nil {
		t.Fatalf("token exchange: %d %v", status, body)
	}
	at := jwtClaims(t, body["jwt_access_token"].(string))
	acc, err := e.srv.Store().GetAccountByEmail(ctx, testTenant, "scripted@example.com")
	if err != nil || at["sub"] != itoa(acc.ID) || amrOf(at)[0] != "fed" {
		t.Fatalf("exchanged token of %v (amr %v), account %v", at["sub"], at["amr"], err)
	}
	for name, mangle := range map[string]func(map[string]any){
		"wrong audience": func(c map[string]any) { c["aud"] = "someone-else" },
		"expired":        func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() },
		"unknown issuer": func(c map[string]any) { c["iss"] = "https://evil.example" },
	} {
		if status, body := exchange("mobile", up.idToken(t, mangle)); status != http.StatusBadRequest || body["error"] != "invalid_grant" {
			t.Errorf("%s: %d %v", name, status, body)
		}
	}
	if status, body := exchange(spaClient, up.idToken(t, nil)); status != http.StatusBadRequest || body["error"] != "unauthorized_client" {
		t.Errorf("client without the grant: %d %v", status, body)
	}
	if status, _ := tokenRequest(t, e, url.Values{"grant_type": {identity.GrantTokenExchange}, "client_id": {"mobile"},
		"subject_token": {up.idToken(t, nil)}, "subject_token_type": {oauth.TokenTypeAccessToken}}); status != http.StatusBadRequest {
		t.Errorf("opaque subject token type: %d", status)
	}

	// The login API's exchangeauthtoken, with the storefront's anonymous token.
	anon := loginCall(t, e, http.MethodGet, "/customerlogin/auth/anonymous/login?tenant="+testTenant+"&client_id=mobile", "").body
	got := loginCall(t, e, http.MethodPost, "/customer/"+testTenant+"/exchangeauthtoken?subjectAccessToken="+up.idToken(t, nil), "",
		"Authorization", "Bearer "+anon["access_token"].(string))
	if got.status != http.StatusOK || jwtClaims(t, got.body["saas_token"].(string))["sub"] != itoa(acc.ID) || got.body["session_id"] != anon["sessionId"] {
		t.Fatalf("exchangeauthtoken: %d %s", got.status, got.raw)
	}
	wantLoginError(t, "exchangeauthtoken with a spoiled token", loginCall(t, e, http.MethodPost,
		"/customer/"+testTenant+"/exchangeauthtoken?subjectAccessToken="+up.idToken(t, func(c map[string]any) { c["aud"] = "x" }), "",
		"Authorization", "Bearer "+anon["access_token"].(string)), http.StatusUnauthorized, "unauthorized")
	spaAnon := anonymousLogin(t, e)["access_token"].(string)
	wantLoginError(t, "exchangeauthtoken for a client without the grant", loginCall(t, e, http.MethodPost,
		"/customer/"+testTenant+"/exchangeauthtoken?subjectAccessToken="+up.idToken(t, nil), "", "Authorization", "Bearer "+spaAnon),
		http.StatusForbidden, "forbidden")

	// No second factor can be asked here: under "always" the exchange is refused.
	setTenant(t, e, "twofactor.triggers", "always")
	if status, body := exchange("mobile", up.idToken(t, nil)); status != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Errorf("exchange when a second factor is due: %d %v", status, body)
	}
	// Unless the upstream asserts one and the tenant trusts it.
	if status, body := exchange("mobile", up.idToken(t, func(c map[string]any) { c["amr"] = []string{"pwd", "mfa"} })); status != http.StatusOK {
		t.Errorf("exchange with upstream mfa: %d %v", status, body)
	} else if amr := amrOf(jwtClaims(t, body["jwt_access_token"].(string))); len(amr) != 2 || amr[1] != "mfa" {
		t.Errorf("amr of a trusted upstream second factor: %v", amr)
	}
}

func regexpFind(t *testing.T, pattern, s string) string {
	t.Helper()
	m := regexp.MustCompile(pattern).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("no %s in %s", pattern, s)
	}
	return m[1]
}

// TestSocialLoginSecondFactor: the local second-factor policy applies to a social
// sign-in whose upstream asserts none; the upstream tokens survive the challenge.
func TestSocialLoginSecondFactor(t *testing.T) {
	smtp := notifytest.StartSMTP(t)
	e := newEnv(t, storagetest.Backends(t)[0], withSMTP(smtp), allowPrivateURLs)
	socialSetup(t, e)
	upstreamUser(t, e, "alice@example.com", true)
	setTenant(t, e, "twofactor.triggers", "always")
	c := browser(t)
	verifier := oauth2.GenerateVerifier()
	sent := len(smtp.Messages())
	code, resp, page := socialCode(t, e, c, verifier, "alice@example.com")
	if code != "" || resp.StatusCode != http.StatusOK || !strings.Contains(page, `name="code"`) {
		t.Fatalf("want the second-factor page, got code %q, %d %s", code, resp.StatusCode, page)
	}
	action, csrf := formParts(t, resp.Request.URL, page)
	otp := mailedCode(t, e, smtp, "alice@example.com", sent)
	resp = postForm(t, c, action, url.Values{"csrf_token": {csrf}, "step": {"2fa"}, "code": {otp}, "method": {"email"},
		"methods": {"email"}, "challenge_id": {regexpFind(t, `name="challenge_id" value="([^"]+)"`, page)}})
	readBody(t, resp)
	done := location(t, resp)
	if done.Query().Get("code") == "" {
		t.Fatalf("no code after the second factor: %s", done)
	}
	anon := anonymousLogin(t, e)["access_token"].(string)
	got := socialLogin(t, e, anon, done.Query().Get("code"), spaRedirect, verifier)
	if got.status != http.StatusOK || got.body["social_id_token"] == nil {
		t.Fatalf("socialLogin after a second factor: %d %s", got.status, got.raw)
	}
	tn, err := e.srv.OAuth.GetTenant(context.Background(), testTenant)
	if err != nil {
		t.Fatal(err)
	}
	info, err := e.srv.OAuth.ValidateAccessToken(identity.WithTenant(context.Background(), tn), got.body["access_token"].(string))
	if err != nil || strings.Join(info.AMR, " ") != "fed otp mfa" {
		t.Errorf("token after social + second factor: amr %v, %v", info, err)
	}
}
