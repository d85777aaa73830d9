package custodian_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/gorilla/mux"
	"golang.org/x/oauth2"

	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/oauth"
	"github.com/custodian-id/custodian/storage/storagetest"
)

// Issue 10, item 1: the self-service API (/customer/{tenant}/me…) asks each token for
// the route's scope, and its security settings for a first-party token.

const (
	partnerApp      = "partner-app"
	partnerRedirect = "http://127.0.0.1:9/partner"
)

// createPartner registers a third-party (not first-party) public client that may ask
// for every customer scope.
func createPartner(t *testing.T, e *env) {
	t.Helper()
	if _, err := e.srv.OAuth.CreateClient(context.Background(), &oauth.Client{Tenant: testTenant, ID: partnerApp, Name: "Partner App",
		Public: true, RedirectURIs: []string{partnerRedirect},
		Scopes:     []string{"openid", "email", oauth.ScopeProfileView, oauth.ScopeProfileEdit, oauth.ScopeAccountManage},
		GrantTypes: []string{identity.GrantAuthorizationCode, identity.GrantRefreshToken}}, ""); err != nil {
		t.Fatal(err)
	}
}

// codeFlow runs the authorization code flow of a public client in the browser c: the
// login page when c has no session, the consent page when one is shown (allowed), then
// the code exchange. It answers the consent page ("" when none was shown) and the
// token response.
func codeFlow(t *testing.T, e *env, c *http.Client, clientID, redirect, scope string, extra url.Values) (string, map[string]any) {
	t.Helper()
	verifier := oauth2.GenerateVerifier()
	q := url.Values{"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirect}, "scope": {scope},
		"state": {"state-123456"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}}
	for k, v := range extra {
		q[k] = v
	}
	resp, err := c.Get(e.issuer() + "/auth?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	page := readBody(t, resp)
	if resp.StatusCode == http.StatusOK && strings.Contains(page, `name="password"`) {
		action, csrf := formParts(t, resp.Request.URL, page)
		resp = postForm(t, c, action, url.Values{"email": {shopperEmail}, "password": {shopperPass}, "csrf_token": {csrf}, "step": {"password"}})
		page = readBody(t, resp)
	}
	consent := ""
	if resp.StatusCode == http.StatusOK && strings.Contains(page, "Allow access?") {
		consent = page
		action, csrf := formParts(t, resp.Request.URL, page)
		resp = postForm(t, c, action, url.Values{"csrf_token": {csrf}, "step": {"consent"}, "consent": {"allow"}})
		page = readBody(t, resp)
	}
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || loc == nil || loc.Query().Get("code") == "" {
		t.Fatalf("authorize %s: %d %q %s", clientID, resp.StatusCode, resp.Header.Get("Location"), page)
	}
	status, tokens := tokenRequest(t, e, url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"redirect_uri": {redirect}, "client_id": {clientID}, "code_verifier": {verifier}})
	if status != http.StatusOK {
		t.Fatalf("exchange the code of %s: %d %v", clientID, status, tokens)
	}
	return consent, tokens
}

// wantForbidden checks a 403 of the login API that names the missing scope.
func wantForbidden(t *testing.T, what string, got loginReply, scope string) {
	t.Helper()
	wantLoginError(t, what, got, http.StatusForbidden, "forbidden")
	if msg, _ := got.body["message"].(string); !strings.Contains(msg, scope) {
		t.Errorf("%s: the message does not name %s: %s", what, scope, got.raw)
	}
	if h := got.header.Get("WWW-Authenticate"); !strings.Contains(h, `error="insufficient_scope"`) || !strings.Contains(h, scope) {
		t.Errorf("%s: WWW-Authenticate %q", what, h)
	}
}

// meCall calls a self-service route of the test tenant with a JSON body.
func meCall(t *testing.T, e *env, token, method, path, body string) loginReply {
	t.Helper()
	return loginCall(t, e, method, "/customer/"+testTenant+path, body, jsonBearer(token)...)
}

const testAddress = `{"contactName":"Jane Doe","street":"Main Street","streetNumber":"1","zipCode":"11011","city":"Berlin","country":"DE"}`

func TestSelfServiceScopes(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			createPartner(t, e)
			ctx := context.Background()
			c := browser(t)

			// A third-party client granted only openid: no route of the self-service API.
			_, tokens := codeFlow(t, e, c, partnerApp, partnerRedirect, "openid", nil)
			openid := tokens["access_token"].(string)
			for _, call := range []struct {
				method, path, body, scope string
			}{
				{http.MethodGet, "/me", "", oauth.ScopeProfileView},
				{http.MethodGet, "/me/export", "", oauth.ScopeAccountManage},
				{http.MethodPatch, "/me", `{"firstName":"Mallory"}`, oauth.ScopeProfileEdit},
				{http.MethodPost, "/me/addresses", testAddress, oauth.ScopeProfileEdit},
				{http.MethodGet, "/me/devices", "", oauth.ScopeAccountManage},
				{http.MethodPost, "/me/2fa/totp", "", oauth.ScopeAccountManage},
				{http.MethodPost, "/me/2fa/totp/confirm", `{"code":"123456"}`, oauth.ScopeAccountManage},
			} {
				wantForbidden(t, "openid-only "+call.method+" "+call.path, meCall(t, e, openid, call.method, call.path, call.body), call.scope)
				wantForbidden(t, "openid-only JWT "+call.method+" "+call.path,
					meCall(t, e, tokens["jwt_access_token"].(string), call.method, call.path, call.body), call.scope)
			}
			acc, err := e.srv.Store().GetAccountByEmail(ctx, testTenant, shopperEmail)
			if err != nil {
				t.Fatal(err)
			}
			if acc.FirstName != "Jane" {
				t.Errorf("a refused PATCH changed the profile: %q", acc.FirstName)
			}

			// The same client granted the profile scopes, and even the security scope: the
			// consent page says what each means; the profile works, security settings never.
			consent, tokens := codeFlow(t, e, c, partnerApp, partnerRedirect,
				"openid "+oauth.ScopeProfileView+" "+oauth.ScopeProfileEdit+" "+oauth.ScopeAccountManage, url.Values{"prompt": {"consent"}})
			_, list, _ := strings.Cut(consent, `<ul class="scopes">`)
			list, _, _ = strings.Cut(html.UnescapeString(list), "</ul>")
			for _, s := range []string{"openid", oauth.ScopeProfileView, oauth.ScopeProfileEdit, oauth.ScopeAccountManage} {
				if !strings.Contains(list, "<li>"+oauth.ScopeDescription(s)+"</li>") || oauth.ScopeDescription(s) == s {
					t.Errorf("consent page does not describe %s in words: %s", s, list)
				}
			}
			if strings.Contains(list, "customer.") {
				t.Errorf("consent page shows scope names, not words: %s", list)
			}
			partner := tokens["access_token"].(string)
			if got := meCall(t, e, partner, http.MethodGet, "/me", ""); got.status != http.StatusOK {
				t.Errorf("profile scope, GET /me: %d %s", got.status, got.raw)
			}
			if got := meCall(t, e, partner, http.MethodPatch, "/me", `{"preferredLanguage":"de_DE"}`); got.status != http.StatusOK {
				t.Errorf("profile scope, PATCH /me: %d %s", got.status, got.raw)
			}
			if got := meCall(t, e, partner, http.MethodPost, "/me/addresses", testAddress); got.status != http.StatusCreated {
				t.Errorf("profile scope, POST /me/addresses: %d %s", got.status, got.raw)
			}
			security := []struct{ method, path, body string }{
				{http.MethodGet, "/me/export", ""},
				{http.MethodGet, "/me/devices", ""},
				{http.MethodGet, "/me/2fa", ""},
				{http.MethodPost, "/me/2fa/totp", ""},
				{http.MethodPut, "/me/2fa", `{"enabled":true}`},
				{http.MethodPost, "/password/change", `{"currentPassword":"` + shopperPass + `","newPassword":"another horse battery"}`},
				{http.MethodPost, "/me/accounts/internal/email/change", `{"email":"` + shopperEmail + `","password":"` + shopperPass + `","newEmail":"mallory@example.com"}`},
				{http.MethodDelete, "/me", `{"password":"` + shopperPass + `"}`},
			}
			for _, call := range security {
				wantForbidden(t, "third-party "+call.method+" "+call.path, meCall(t, e, partner, call.method, call.path, call.body), oauth.ScopeAccountManage)
			}
			wantForbidden(t, "third-party JWT POST /me/2fa/totp", meCall(t, e, tokens["jwt_access_token"].(string), http.MethodPost, "/me/2fa/totp", ""),
				oauth.ScopeAccountManage)
			// The mark survives a refresh at the token endpoint and a re-scope at
			// refreshauthtoken.
			status, refreshed := tokenRequest(t, e, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tokens["refresh_token"].(string)},
				"client_id": {partnerApp}})
			if status != http.StatusOK {
				t.Fatalf("refresh: %d %v", status, refreshed)
			}
			wantForbidden(t, "refreshed third-party token", meCall(t, e, refreshed["access_token"].(string), http.MethodPost, "/me/2fa/totp", ""),
				oauth.ScopeAccountManage)
			if err := e.srv.Customers.AddMembership(ctx, testTenant, acc.ID, customer.Membership{AccountID: "acme", Name: "ACME"}); err != nil {
				t.Fatal(err)
			}
			rescoped := loginCall(t, e, http.MethodGet, "/customer/"+testTenant+"/refreshauthtoken?"+url.Values{"client_id": {partnerApp},
				"refreshToken": {refreshed["refresh_token"].(string)}, "legalEntityId": {"acme"}}.Encode(), "")
			if rescoped.status != http.StatusOK {
				t.Fatalf("re-scope: %d %s", rescoped.status, rescoped.raw)
			}
			wantForbidden(t, "re-scoped third-party token", meCall(t, e, rescoped.body["access_token"].(string), http.MethodPost, "/me/2fa/totp", ""),
				oauth.ScopeAccountManage)
			if got := meCall(t, e, rescoped.body["access_token"].(string), http.MethodGet, "/me", ""); got.status != http.StatusOK {
				t.Errorf("re-scoped third-party token lost its profile scope: %d %s", got.status, got.raw)
			}

			// A first-party client holds every customer scope, whatever it asked for.
			_, spa := codeFlow(t, e, c, spaClient, spaRedirect, "openid", nil)
			for _, call := range []struct{ method, path string }{{http.MethodGet, "/me"}, {http.MethodGet, "/me/devices"}, {http.MethodGet, "/me/export"}} {
				if got := meCall(t, e, spa["access_token"].(string), call.method, call.path, ""); got.status != http.StatusOK {
					t.Errorf("first-party %s %s: %d %s", call.method, call.path, got.status, got.raw)
				}
			}

			// Tokens of the ticket and login APIs are first-party, whatever their client:
			// here the confidential backend and a public storefront client that is not
			// marked first-party.
			app := appToken(t, e, backendID, backendSec)
			ticket := ticketCall(t, e, http.MethodPost, "/api/commerce/customer/authtickets",
				`{"username":"`+shopperEmail+`","password":"`+shopperPass+`"}`, "x-vol-tenant", testTenant, "Authorization", "Bearer "+app)
			if ticket.status != http.StatusOK {
				t.Fatalf("ticket: %d %s", ticket.status, ticket.raw)
			}
			if _, err := e.srv.OAuth.CreateClient(ctx, &oauth.Client{Tenant: testTenant, ID: "webshop", Public: true,
				GrantTypes: []string{identity.GrantAnonymous, identity.GrantRefreshToken}}, ""); err != nil {
				t.Fatal(err)
			}
			anon := loginCall(t, e, http.MethodGet, "/customerlogin/auth/anonymous/login?tenant="+testTenant+"&client_id=webshop", "")
			login := loginWith(t, e, anon.body["access_token"].(string), shopperEmail, shopperPass)
			if login.status != http.StatusOK {
				t.Fatalf("login: %d %s", login.status, login.raw)
			}
			for name, tok := range map[string]string{"ticket": ticket.body["accessToken"].(string), "ticket JWT": ticket.body["jwtAccessToken"].(string),
				"login": login.body["access_token"].(string)} {
				if got := meCall(t, e, tok, http.MethodGet, "/me/devices", ""); got.status != http.StatusOK {
					t.Errorf("%s token, GET /me/devices: %d %s", name, got.status, got.raw)
				}
			}
			// validateauthtoken answers the seed's scope list as before.
			v := loginCall(t, e, http.MethodGet, "/customer/"+testTenant+"/validateauthtoken", "", jsonBearer(login.body["access_token"].(string))...)
			if v.status != http.StatusOK || v.body["scope"] != strings.Join(oauth.CustomerScopes, " ")+" tenant="+testTenant {
				t.Errorf("validateauthtoken: %d %s", v.status, v.raw)
			}
		})
	}
}

// TestClientTokenIsNoCustomer: a client's own token (client_credentials) names the
// client as its subject; a client whose id looks like a customer number is still no
// customer, even first-party.
func TestClientTokenIsNoCustomer(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			ctx := context.Background()
			acc, err := e.srv.Store().GetAccountByEmail(ctx, testTenant, shopperEmail)
			if err != nil {
				t.Fatal(err)
			}
			id := strconv.FormatInt(acc.ID, 10)
			if _, err := e.srv.OAuth.CreateClient(ctx, &oauth.Client{Tenant: testTenant, ID: id, FirstParty: true,
				GrantTypes: []string{identity.GrantClientCredentials}, Scopes: []string{oauth.ScopeProfileView}}, backendSec); err != nil {
				t.Fatal(err)
			}
			status, tokens := tokenRequest(t, e, url.Values{"grant_type": {"client_credentials"}, "scope": {oauth.ScopeProfileView}}, id, backendSec)
			if status != http.StatusOK {
				t.Fatalf("client token: %d %v", status, tokens)
			}
			for _, form := range []string{"access_token", "jwt_access_token"} {
				got := meCall(t, e, tokens[form].(string), http.MethodGet, "/me", "")
				wantLoginError(t, "client's "+form+" at /me", got, http.StatusUnauthorized, "unauthorized")
			}
		})
	}
}

// TestEveryMeRouteAsksForAScope walks every registered self-service route and calls it
// with a token that has none of the customer scopes: each answers 403 naming a scope,
// before it reads its body or path. The one exception is the e-mail change
// confirmation, whose credential is the mailed token.
func TestEveryMeRouteAsksForAScope(t *testing.T) {
	b := storagetest.Backends(t)[0]
	e := newEnv(t, b)
	createPartner(t, e)
	_, tokens := codeFlow(t, e, browser(t), partnerApp, partnerRedirect, "openid", nil)
	openid := tokens["access_token"].(string)
	r := mux.NewRouter()
	e.srv.Register(r)
	checked := 0
	err := r.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		methods, err := route.GetMethods()
		if err != nil {
			return nil
		}
		tmpl, err := route.GetPathTemplate()
		if err != nil {
			return nil
		}
		p := openAPINormalizeTemplate(tmpl)
		if !strings.HasPrefix(p, "/customer/{tenant}/me") && p != "/customer/{tenant}/password/change" {
			return nil
		}
		if strings.HasSuffix(p, "/email/change/confirm") {
			return nil
		}
		path := strings.NewReplacer("{tenant}", testTenant, "{addressId}", "x", "{deviceId}", "x", "{providerId}", "x").Replace(p)
		for _, m := range methods {
			got := loginCall(t, e, m, path, "{}", jsonBearer(openid)...)
			if got.status != http.StatusForbidden || got.body["type"] != "forbidden" || !strings.Contains(got.raw, "customer.") {
				t.Errorf("%s %s with an openid-only token: %d %s", m, p, got.status, got.raw)
			}
			checked++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 20 {
		t.Errorf("only %d self-service routes found", checked)
	}
}
