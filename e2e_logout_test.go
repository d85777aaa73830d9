package custodian_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/oauth"
	"github.com/custodian-id/custodian/storage/storagetest"
)

// Logout and foreign sessions (issue 10, item 3): only an ID token of the tenant is a
// logout hint, a hint about someone else than the browser's customer asks first, and
// no caller can put a shopper session it does not own into its tokens.

// signedIn is a customer signed in through the login form of a browser.
type signedIn struct {
	browser *http.Client
	tok     *oauth2.Token
	idToken string
}

func signInBrowser(t *testing.T, e *env, conf *oauth2.Config, email string) signedIn {
	t.Helper()
	c := browser(t)
	verifier := oauth2.GenerateVerifier()
	code := authorize(t, c, conf, verifier, "state-"+email, "nonce-"+email, email, shopperPass)
	tok, err := conf.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange for %s: %v", email, err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		t.Fatalf("no ID token for %s", email)
	}
	return signedIn{browser: c, tok: tok, idToken: raw}
}

// logoutGet calls the logout endpoint in a browser with an id_token_hint.
func logoutGet(t *testing.T, e *env, c *http.Client, hint string) (*http.Response, string) {
	t.Helper()
	q := url.Values{"post_logout_redirect_uri": {spaLogout}, "state": {"bye"}}
	if hint != "" {
		q.Set("id_token_hint", hint)
	}
	return follow(t, c, e.issuer()+"/logout?"+q.Encode())
}

func tokenActive(t *testing.T, e *env, tok string) bool {
	t.Helper()
	return introspect(t, e, tok)["active"] == true
}

func TestLogoutHints(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			ctx := context.Background()
			if _, err := e.srv.Customers.CreateAccount(ctx, testTenant, customerNew("bob@example.com", shopperPass)); err != nil {
				t.Fatal(err)
			}
			provider, err := oidc.NewProvider(ctx, e.issuer())
			if err != nil {
				t.Fatal(err)
			}
			conf := spaConfig(e, provider)
			jane := signInBrowser(t, e, conf, shopperEmail)
			bob := signInBrowser(t, e, conf, "bob@example.com")
			janeJWT, _ := jane.tok.Extra("jwt_access_token").(string)

			// Tokens of the tenant that are not ID tokens are no hint: the JWT access
			// token, the login API's saas_token. Nothing ends, with or without a
			// post_logout_redirect_uri.
			anon := anonymousLogin(t, e)["access_token"].(string)
			saas := loginWith(t, e, anon, shopperEmail, shopperPass).body["saas_token"].(string)
			for name, hint := range map[string]string{"JWT access token": janeJWT, "saas_token": saas, "garbage": "a.b.c"} {
				resp, body := logoutGet(t, e, jane.browser, hint)
				if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "id_token_hint is not valid") {
					t.Errorf("%s as hint: %d %s", name, resp.StatusCode, body)
				}
				resp, body = follow(t, jane.browser, e.issuer()+"/logout?"+url.Values{"id_token_hint": {hint}}.Encode())
				if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "id_token_hint is not valid") {
					t.Errorf("%s as hint, no redirect: %d %s", name, resp.StatusCode, body)
				}
			}
			if !tokenActive(t, e, jane.tok.AccessToken) {
				t.Fatal("a hint that is not an ID token ended the session")
			}

			// Bob's ID token in Jane's browser: a page asks, nothing ends on GET.
			resp, body := logoutGet(t, e, jane.browser, bob.idToken)
			if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Sign out?") {
				t.Fatalf("foreign hint: want the confirmation page, got %d %s", resp.StatusCode, body)
			}
			if !tokenActive(t, e, jane.tok.AccessToken) || !tokenActive(t, e, bob.tok.AccessToken) {
				t.Fatal("a foreign hint ended a session without asking")
			}
			// Confirming signs Jane out of this browser; Bob's session is not hers to end.
			action, csrf := formParts(t, resp.Request.URL, body)
			resp = postForm(t, jane.browser, action, url.Values{"csrf_token": {csrf}})
			readBody(t, resp)
			if loc := location(t, resp); loc.String() != spaLogout+"?state=bye" {
				t.Errorf("confirmed logout went to %s", loc)
			}
			if tokenActive(t, e, jane.tok.AccessToken) {
				t.Error("confirmed logout left the browser's session alive")
			}
			if !tokenActive(t, e, bob.tok.AccessToken) {
				t.Error("a logout in Jane's browser ended Bob's session")
			}

			// Bob's own ID token in Bob's browser signs him out at once.
			resp, _ = logoutGet(t, e, bob.browser, bob.idToken)
			if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != spaLogout+"?state=bye" {
				t.Errorf("own hint: %d %s", resp.StatusCode, resp.Header.Get("Location"))
			}
			if tokenActive(t, e, bob.tok.AccessToken) {
				t.Error("own hint left the session alive")
			}

			// In a browser where no one is signed in, a valid ID token still asks
			// (the hint is not proof of who is at the keyboard); confirmed, the
			// hint's session ends.
			jane2 := signInBrowser(t, e, conf, shopperEmail)
			other := browser(t)
			resp, body = logoutGet(t, e, other, jane2.idToken)
			if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Sign out?") || !tokenActive(t, e, jane2.tok.AccessToken) {
				t.Fatalf("hint in a browser without a session: %d, active %v", resp.StatusCode, tokenActive(t, e, jane2.tok.AccessToken))
			}
			action, csrf = formParts(t, resp.Request.URL, body)
			resp = postForm(t, other, action, url.Values{"csrf_token": {csrf}})
			readBody(t, resp)
			if resp.StatusCode != http.StatusFound || tokenActive(t, e, jane2.tok.AccessToken) {
				t.Errorf("confirmed logout with a hint: %d, active %v", resp.StatusCode, tokenActive(t, e, jane2.tok.AccessToken))
			}
			// A confirmation without the CSRF token is refused.
			resp = postForm(t, browser(t), action, url.Values{})
			if readBody(t, resp); resp.StatusCode != http.StatusForbidden {
				t.Errorf("logout POST without CSRF: %d", resp.StatusCode)
			}
		})
	}
}

// TestSessionIDCannotBeChosen: socialLogin's session-id header only repeats the
// session of the caller's own anonymous token of the same client; a victim's session id
// cannot be put into an attacker's tokens (and so cannot be ended through them).
func TestSessionIDCannotBeChosen(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			ctx := context.Background()
			if _, err := e.srv.Customers.CreateAccount(ctx, testTenant, customerNew("mallory@example.com", shopperPass)); err != nil {
				t.Fatal(err)
			}
			provider, err := oidc.NewProvider(ctx, e.issuer())
			if err != nil {
				t.Fatal(err)
			}
			conf := spaConfig(e, provider)

			// The victim signs in with the login API; her cart session is known to
			// anyone who saw one of her JWTs (sid).
			victimAnon := anonymousLogin(t, e)
			victim := loginWith(t, e, victimAnon["access_token"].(string), shopperEmail, shopperPass)
			victimSession := victim.body["session_id"].(string)
			if victimSession != victimAnon["sessionId"] {
				t.Fatalf("victim session %v", victim.body)
			}

			// The attacker signs in through the login pages and exchanges the code at
			// socialLogin, naming the victim's session.
			code := func() (string, string) {
				verifier := oauth2.GenerateVerifier()
				return authorize(t, browser(t), conf, verifier, "state-mallory", "nonce-mallory", "mallory@example.com", shopperPass), verifier
			}
			exchange := func(code, verifier string, headers ...string) loginReply {
				q := url.Values{"code": {code}, "redirect_uri": {spaRedirect}, "code_verifier": {verifier}, "client_id": {spaClient}}
				return loginCall(t, e, http.MethodPost, "/customer/"+testTenant+"/socialLogin?"+q.Encode(), "", headers...)
			}
			attackerAnon := anonymousLogin(t, e)
			c, v := code()
			got := exchange(c, v, "Authorization", "Bearer "+attackerAnon["access_token"].(string), "session-id", victimSession)
			wantLoginError(t, "victim's session with the attacker's token", got, http.StatusBadRequest, "bad_request", "session-id")
			c, v = code()
			got = exchange(c, v, "session-id", victimSession)
			wantLoginError(t, "a session without a token", got, http.StatusBadRequest, "bad_request", "session-id")
			// The refused calls spent nothing: the code still works, in the caller's
			// own anonymous session.
			got = exchange(c, v, "Authorization", "Bearer "+attackerAnon["access_token"].(string), "session-id", attackerAnon["sessionId"].(string))
			if got.status != http.StatusOK || got.body["session_id"] != attackerAnon["sessionId"] {
				t.Fatalf("own session: %d %s", got.status, got.raw)
			}
			// Without a token the tokens keep the sign-in's own session, never a
			// named one.
			c, v = code()
			got = exchange(c, v)
			if got.status != http.StatusOK {
				t.Fatalf("exchange without a token: %d %s", got.status, got.raw)
			}
			// An anonymous token of another client does not lend its session.
			if _, err := e.srv.OAuth.CreateClient(ctx, &oauth.Client{Tenant: testTenant, ID: "kiosk", Public: true, FirstParty: true,
				GrantTypes: []string{identity.GrantAnonymous}}, ""); err != nil {
				t.Fatal(err)
			}
			kioskAnon := loginCall(t, e, http.MethodGet, "/customerlogin/auth/anonymous/login?tenant="+testTenant+"&client_id=kiosk", "").body
			c, v = code()
			got = loginCall(t, e, http.MethodPost, "/customer/"+testTenant+"/socialLogin?"+url.Values{"code": {c}, "redirect_uri": {spaRedirect},
				"code_verifier": {v}, "client_id": {spaClient}}.Encode(), "", "Authorization", "Bearer "+kioskAnon["access_token"].(string))
			wantLoginError(t, "another client's anonymous token", got, http.StatusBadRequest, "bad_request", "client_id")

			// The victim's session is untouched.
			if r := loginCall(t, e, http.MethodGet, "/customer/"+testTenant+"/validateauthtoken", "", jsonBearer(victim.body["access_token"].(string))...); r.status != http.StatusOK ||
				r.body["sessionId"] != victimSession {
				t.Errorf("victim after the attempts: %d %s", r.status, r.raw)
			}
		})
	}
}
