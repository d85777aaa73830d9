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

	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/storage/storagetest"
)

func customerNew(email, password string) customer.NewAccount {
	return customer.NewAccount{Email: email, Password: password, FirstName: "Jane", LastName: "Doe", Active: true}
}

func spaConfig(e *env, p *oidc.Provider) *oauth2.Config {
	return &oauth2.Config{
		ClientID:    spaClient,
		Endpoint:    p.Endpoint(),
		RedirectURL: spaRedirect,
		Scopes:      []string{oidc.ScopeOpenID, "profile", "email"},
	}
}

// authorize runs the browser half of the code flow through the real login form and
// returns the code from the redirect.
func authorize(t *testing.T, c *http.Client, conf *oauth2.Config, verifier, state, nonce, email, password string) string {
	t.Helper()
	authURL := conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce))
	action, csrf := loginForm(t, c, authURL)
	resp := postForm(t, c, action, url.Values{"email": {email}, "password": {password}, "csrf_token": {csrf}, "step": {"password"}})
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusFound {
		t.Fatalf("login POST: status %d: %s", resp.StatusCode, body)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != spaRedirect {
		t.Fatalf("redirected to %q, want %q", got, spaRedirect)
	}
	if loc.Query().Get("state") != state {
		t.Fatalf("state %q, want %q", loc.Query().Get("state"), state)
	}
	code := loc.Query().Get("code")
	if code == "" {
		t.Fatalf("no code in redirect %s", loc)
	}
	return code
}

func introspect(t *testing.T, e *env, token string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.issuer()+"/introspect", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(backendID, backendSec)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("introspect: %d %s", resp.StatusCode, body)
	}
	var out map[string]any
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestOpenIDConnectFlow drives the whole standard flow with real client libraries:
// discovery, authorization code + PKCE through the login form, ID token verified
// against the JWKS, userinfo, refresh, introspection, revocation and logout.
func TestOpenIDConnectFlow(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			ctx := context.Background()
			provider, err := oidc.NewProvider(ctx, e.issuer())
			if err != nil {
				t.Fatalf("discovery: %v", err)
			}
			conf := spaConfig(e, provider)
			c := browser(t)
			verifier := oauth2.GenerateVerifier()
			code := authorize(t, c, conf, verifier, "state-123456", "nonce-abcdef", shopperEmail, shopperPass)

			tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatalf("exchange: %v", err)
			}
			rawID, _ := tok.Extra("id_token").(string)
			idt, err := provider.Verifier(&oidc.Config{ClientID: spaClient}).Verify(ctx, rawID)
			if err != nil {
				t.Fatalf("verify ID token: %v", err)
			}
			if idt.Nonce != "nonce-abcdef" {
				t.Errorf("nonce %q", idt.Nonce)
			}
			var idc struct {
				Email string   `json:"email"`
				AMR   []string `json:"amr"`
				SID   string   `json:"sid"`
			}
			if err := idt.Claims(&idc); err != nil {
				t.Fatal(err)
			}
			if idc.Email != shopperEmail || len(idc.AMR) == 0 || idc.AMR[0] != "pwd" || idc.SID == "" {
				t.Errorf("ID token claims %+v", idc)
			}
			sid, _ := tok.Extra("session_id").(string)
			if sid != idc.SID {
				t.Errorf("session_id %q, ID token sid %q", sid, idc.SID)
			}

			// The JWT access token is an RFC 9068 token signed with a key of the JWKS.
			jat, _ := tok.Extra("jwt_access_token").(string)
			ks := oidc.NewRemoteKeySet(ctx, e.issuer()+"/jwks.json")
			payload, err := ks.VerifySignature(ctx, jat)
			if err != nil {
				t.Fatalf("verify jwt_access_token: %v", err)
			}
			var at map[string]any
			_ = json.Unmarshal(payload, &at)
			for _, k := range []string{"iss", "sub", "aud", "client_id", "scope", "jti", "exp", "iat"} {
				if _, ok := at[k]; !ok {
					t.Errorf("jwt_access_token lacks %q: %v", k, at)
				}
			}
			if at["iss"] != e.issuer() || at["sub"] != idt.Subject || at["client_id"] != spaClient {
				t.Errorf("jwt_access_token claims %v", at)
			}

			ui, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
			if err != nil {
				t.Fatalf("userinfo: %v", err)
			}
			if ui.Email != shopperEmail || ui.Subject != idt.Subject {
				t.Errorf("userinfo %+v", ui)
			}
			// The JWT access token is accepted at userinfo too.
			if _, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: jat, TokenType: "Bearer"})); err != nil {
				t.Errorf("userinfo with JWT access token: %v", err)
			}

			// Refresh rotates: a new refresh token, the same session.
			old := *tok
			old.Expiry = time.Now().Add(-time.Minute)
			tok2, err := conf.TokenSource(ctx, &old).Token()
			if err != nil {
				t.Fatalf("refresh: %v", err)
			}
			if tok2.RefreshToken == "" || tok2.RefreshToken == tok.RefreshToken || tok2.AccessToken == tok.AccessToken {
				t.Fatalf("refresh did not rotate")
			}
			if s2, _ := tok2.Extra("session_id").(string); s2 != sid {
				t.Errorf("session after refresh %q, want %q", s2, sid)
			}

			if got := introspect(t, e, tok2.AccessToken); got["active"] != true || got["client_id"] != spaClient || got["sub"] != idt.Subject {
				t.Errorf("introspect active token: %v", got)
			}
			// The access token minted with the rotated refresh token is revoked.
			if got := introspect(t, e, tok.AccessToken); got["active"] != false {
				t.Errorf("introspect superseded token: %v", got)
			}

			// Revocation (RFC 7009) by the public client itself.
			resp := postForm(t, http.DefaultClient, e.issuer()+"/revoke", url.Values{"token": {tok2.AccessToken}, "client_id": {spaClient}})
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("revoke: %d %s", resp.StatusCode, readBody(t, resp))
			}
			resp.Body.Close()
			if got := introspect(t, e, tok2.AccessToken); got["active"] != false {
				t.Errorf("revoked token still active: %v", got)
			}
			// The JWT twin of a revoked token is refused as well.
			if _, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: jat, TokenType: "Bearer"})); err == nil {
				t.Errorf("userinfo accepted the JWT of a revoked access token")
			}

			// Single sign-on: the browser session answers a second authorization without the form.
			verifier3 := oauth2.GenerateVerifier()
			resp, err = c.Get(conf.AuthCodeURL("state-sso-1234", oauth2.S256ChallengeOption(verifier3), oidc.Nonce("nonce-sso-1234")))
			if err != nil {
				t.Fatal(err)
			}
			readBody(t, resp)
			loc, _ := url.Parse(resp.Header.Get("Location"))
			if resp.StatusCode != http.StatusSeeOther || loc == nil || loc.Query().Get("code") == "" {
				t.Fatalf("SSO authorization: %d %q", resp.StatusCode, resp.Header.Get("Location"))
			}
			tok3, err := conf.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(verifier3))
			if err != nil {
				t.Fatalf("SSO exchange: %v", err)
			}
			if s3, _ := tok3.Extra("session_id").(string); s3 != sid {
				t.Errorf("SSO session %q, want %q", s3, sid)
			}

			// RP-initiated logout with id_token_hint ends the session and its tokens.
			lo := e.issuer() + "/logout?" + url.Values{"id_token_hint": {rawID}, "post_logout_redirect_uri": {spaLogout}, "state": {"bye"}}.Encode()
			resp, err = c.Get(lo)
			if err != nil {
				t.Fatal(err)
			}
			readBody(t, resp)
			if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != spaLogout+"?state=bye" {
				t.Fatalf("logout: %d Location=%q", resp.StatusCode, resp.Header.Get("Location"))
			}
			old3 := *tok3
			old3.Expiry = time.Now().Add(-time.Minute)
			if _, err := conf.TokenSource(ctx, &old3).Token(); err == nil {
				t.Errorf("refresh token survived logout")
			}
			if got := introspect(t, e, tok3.AccessToken); got["active"] != false {
				t.Errorf("access token survived logout: %v", got)
			}
			// The browser session is gone: the next authorization shows the form again.
			loginForm(t, c, conf.AuthCodeURL("state-after-logout", oauth2.S256ChallengeOption(verifier)))

			// Logout without a hint asks first (no cross-site sign-out), and a
			// post_logout_redirect_uri that is not registered is refused.
			resp, err = browser(t).Get(e.issuer() + "/logout")
			if err != nil {
				t.Fatal(err)
			}
			if body := readBody(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(body, "Sign out?") {
				t.Errorf("logout without hint: %d", resp.StatusCode)
			}
			resp, err = browser(t).Get(e.issuer() + "/logout?" + url.Values{"id_token_hint": {rawID}, "post_logout_redirect_uri": {"https://evil.example/"}}.Encode())
			if err != nil {
				t.Fatal(err)
			}
			readBody(t, resp)
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("unregistered post-logout URI: %d", resp.StatusCode)
			}
		})
	}
}
