package custodian_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/oauth"
	"github.com/custodian-id/custodian/storage/storagetest"
)

// Introspection (issue 10, items 4 and 17): only an authenticated confidential client
// may introspect, and only tokens it may see; every form of token Custodian issues
// answers, and revocation reaches the JWT form.

const (
	reportsID  = "reports"
	reportsSec = "reports-secret-0123456789-abcdefghijklmn"
	ordersAPI  = "orders-api"
	ordersSec  = "orders-api-secret-0123456789-abcdefghijk"
)

// introspectAs calls the introspection endpoint with the given headers (name, value
// pairs) and returns the status and the JSON body.
func introspectAs(t *testing.T, e *env, token string, headers ...string) (int, http.Header, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.issuer()+"/introspect", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := readBody(t, resp)
	var out map[string]any
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatalf("introspection answer is not JSON (%d): %s", resp.StatusCode, body)
	}
	return resp.StatusCode, resp.Header, out
}

func TestIntrospectionNeedsClientAuthentication(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			ctx := context.Background()
			// A confidential client without any introspection behavior, a resource
			// server (orders-api) that the backend mints tokens for.
			if _, err := e.srv.OAuth.CreateClient(ctx, &oauth.Client{Tenant: testTenant, ID: reportsID,
				GrantTypes: []string{identity.GrantClientCredentials}, Scopes: []string{"orders"}}, reportsSec); err != nil {
				t.Fatal(err)
			}
			if _, err := e.srv.OAuth.CreateClient(ctx, &oauth.Client{Tenant: testTenant, ID: ordersAPI,
				GrantTypes: []string{identity.GrantClientCredentials}}, ordersSec); err != nil {
				t.Fatal(err)
			}
			backend, err := e.srv.OAuth.GetClient(ctx, testTenant, backendID)
			if err != nil {
				t.Fatal(err)
			}
			backend.Audience = []string{ordersAPI}
			if err := e.srv.Store().UpdateClient(ctx, backend); err != nil {
				t.Fatal(err)
			}

			// A customer's tokens, issued to the public storefront client.
			anon := anonymousLogin(t, e)["access_token"].(string)
			jane := loginWith(t, e, anon, shopperEmail, shopperPass)
			if jane.status != http.StatusOK {
				t.Fatalf("login: %d %s", jane.status, jane.raw)
			}
			refreshTok := jane.body["refresh_token"].(string)

			// Callers that cannot authenticate as a confidential client are refused,
			// whatever they present: the anonymous token anyone can mint, a customer's
			// token, a public client's id, a wrong secret.
			for name, headers := range map[string][]string{
				"no credentials":        nil,
				"anonymous bearer":      {"Authorization", "Bearer " + anon},
				"customer bearer":       {"Authorization", "Bearer " + jane.body["access_token"].(string)},
				"public client":         {"Authorization", basicAuth(spaClient, "")},
				"public client, secret": {"Authorization", basicAuth(spaClient, "anything-at-all-0123456789-0123456789")},
				"wrong secret":          {"Authorization", basicAuth(reportsID, "wrong-secret-0123456789-0123456789-012")},
				"unknown client":        {"Authorization", basicAuth("nobody", reportsSec)},
			} {
				status, hdr, body := introspectAs(t, e, refreshTok, headers...)
				if status != http.StatusUnauthorized || body["error"] != "invalid_client" || !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Basic") {
					t.Errorf("%s: %d %v (WWW-Authenticate %q)", name, status, body, hdr.Get("WWW-Authenticate"))
				}
				if _, leaked := body["sub"]; leaked {
					t.Errorf("%s: leaked %v", name, body)
				}
			}

			// A confidential client sees its own tokens and tokens whose audience
			// names it; anything else is inactive, exactly like an unknown token.
			_, own := tokenRequest(t, e, url.Values{"grant_type": {"client_credentials"}, "scope": {"orders"}}, reportsID, reportsSec)
			_, forOrders := tokenRequest(t, e, url.Values{"grant_type": {"client_credentials"}, "audience": {ordersAPI}}, backendID, backendSec)
			_, backendOwn := tokenRequest(t, e, url.Values{"grant_type": {"client_credentials"}}, backendID, backendSec)
			cases := []struct {
				name       string
				id, secret string
				token      string
				active     bool
			}{
				{"own token", reportsID, reportsSec, own["access_token"].(string), true},
				{"own token, JWT form", reportsID, reportsSec, own["jwt_access_token"].(string), true},
				{"another customer's refresh token", reportsID, reportsSec, refreshTok, false},
				{"another customer's access token", reportsID, reportsSec, jane.body["access_token"].(string), false},
				{"another client's token", reportsID, reportsSec, backendOwn["access_token"].(string), false},
				{"token for its audience", ordersAPI, ordersSec, forOrders["access_token"].(string), true},
				{"token for its audience, JWT form", ordersAPI, ordersSec, forOrders["jwt_access_token"].(string), true},
				{"token for another audience", reportsID, reportsSec, forOrders["access_token"].(string), false},
				{"token without its audience", ordersAPI, ordersSec, backendOwn["access_token"].(string), false},
				{"unknown token", reportsID, reportsSec, "not-a-token", false},
				// The backend holds oauth:introspect-any (a resource server of the shop).
				{"any token with the behavior", backendID, backendSec, refreshTok, true},
			}
			for _, tc := range cases {
				status, _, body := introspectAs(t, e, tc.token, "Authorization", basicAuth(tc.id, tc.secret))
				if status != http.StatusOK || body["active"] != tc.active {
					t.Errorf("%s: %d %v, want active %v", tc.name, status, body, tc.active)
				}
				if !tc.active && len(body) != 1 {
					t.Errorf("%s: an inactive answer says more than active: %v", tc.name, body)
				}
			}
			if _, _, body := introspectAs(t, e, forOrders["access_token"].(string), "Authorization", basicAuth(ordersAPI, ordersSec)); body["client_id"] != backendID ||
				!strings.Contains(strings.Join(asStrings(body["aud"]), " "), ordersAPI) {
				t.Errorf("token for its audience: %v", body)
			}
		})
	}
}

// TestIntrospectionEveryTokenForm: the opaque access token, its JWT twin and the
// refresh token all introspect, with the same answer for both access-token forms;
// revoking either form at /revoke ends both.
func TestIntrospectionEveryTokenForm(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			anon := anonymousLogin(t, e)["access_token"].(string)
			login := func() map[string]any {
				got := loginWith(t, e, anon, shopperEmail, shopperPass)
				if got.status != http.StatusOK {
					t.Fatalf("login: %d %s", got.status, got.raw)
				}
				return got.body
			}
			first := login()
			tn, err := e.srv.OAuth.GetTenant(context.Background(), testTenant)
			if err != nil {
				t.Fatal(err)
			}
			// The login API answers the JWT form in the profile of its token; the
			// standard token response carries it as jwt_access_token.
			status, tok := tokenRequest(t, e, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first["refresh_token"].(string)},
				"client_id": {spaClient}})
			if status != http.StatusOK {
				t.Fatalf("refresh: %d %v", status, tok)
			}
			opaque, jwtForm, rt := tok["access_token"].(string), tok["jwt_access_token"].(string), tok["refresh_token"].(string)
			if _, err := e.srv.OAuth.ValidateAccessToken(identity.WithTenant(context.Background(), tn), jwtForm); err != nil {
				t.Fatalf("the JWT form does not work as an access token: %v", err)
			}

			a, j, r := introspect(t, e, opaque), introspect(t, e, jwtForm), introspect(t, e, rt)
			for name, got := range map[string]map[string]any{"opaque": a, "jwt": j, "refresh": r} {
				if got["active"] != true || got["client_id"] != spaClient || got["sub"] == nil || got["sub"] != a["sub"] ||
					got["sid"] != first["session_id"] || got["iss"] != e.issuer() {
					t.Errorf("%s form: %v", name, got)
				}
			}
			for _, k := range []string{"sub", "client_id", "scope", "exp", "aud", "token_type", "token_use", "sid"} {
				if jsonString(a[k]) != jsonString(j[k]) {
					t.Errorf("%s differs between the forms: opaque %v, JWT %v", k, a[k], j[k])
				}
			}
			if a["token_use"] != "access_token" || r["token_use"] != "refresh_token" || r["token_type"] != nil {
				t.Errorf("token_use: access %v, refresh %v (%v)", a["token_use"], r["token_use"], r["token_type"])
			}
			if exp, _ := r["exp"].(float64); exp <= a["exp"].(float64) {
				t.Errorf("the refresh token's exp (%v) is its own, not the access token's (%v)", r["exp"], a["exp"])
			}
			// A hint only orders the lookups.
			if _, _, got := introspectAs(t, e, rt, "Authorization", basicAuth(backendID, backendSec)); got["active"] != true {
				t.Errorf("refresh token without hint: %v", got)
			}

			// Revoking the JWT form at /revoke (by the client it was issued to) ends
			// the opaque twin and the refresh family.
			resp := postForm(t, http.DefaultClient, e.issuer()+"/revoke", url.Values{"token": {jwtForm}, "client_id": {spaClient}})
			readBody(t, resp)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("revoke the JWT form: %d", resp.StatusCode)
			}
			for name, tok := range map[string]string{"opaque": opaque, "jwt": jwtForm, "refresh": rt} {
				if got := introspect(t, e, tok); got["active"] != false {
					t.Errorf("%s form after revoking the JWT: %v", name, got)
				}
			}

			// Revoking the opaque form ends the JWT twin too.
			second := login()
			status, tok = tokenRequest(t, e, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {second["refresh_token"].(string)},
				"client_id": {spaClient}})
			if status != http.StatusOK {
				t.Fatalf("refresh: %d %v", status, tok)
			}
			if got := introspect(t, e, tok["jwt_access_token"].(string)); got["active"] != true {
				t.Fatalf("fresh JWT form: %v", got)
			}
			resp = postForm(t, http.DefaultClient, e.issuer()+"/revoke", url.Values{"token": {tok["access_token"].(string)}, "client_id": {spaClient}})
			readBody(t, resp)
			if got := introspect(t, e, tok["jwt_access_token"].(string)); got["active"] != false {
				t.Errorf("JWT form after revoking the opaque token: %v", got)
			}

			// Another client cannot revoke a JWT it was not issued.
			third := login()
			status, tok = tokenRequest(t, e, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {third["refresh_token"].(string)},
				"client_id": {spaClient}})
			if status != http.StatusOK {
				t.Fatalf("refresh: %d %v", status, tok)
			}
			req, _ := http.NewRequest(http.MethodPost, e.issuer()+"/revoke", strings.NewReader(url.Values{"token": {tok["jwt_access_token"].(string)}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(backendID, backendSec)
			if resp, err := http.DefaultClient.Do(req); err != nil {
				t.Fatal(err)
			} else {
				readBody(t, resp)
			}
			if got := introspect(t, e, tok["jwt_access_token"].(string)); got["active"] != true {
				t.Errorf("another client revoked the JWT form: %v", got)
			}
		})
	}
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
