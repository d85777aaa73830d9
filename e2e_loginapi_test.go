package custodian_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/custodian-id/custodian"
	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/notify/notifytest"
	"github.com/custodian-id/custodian/oauth"
	"github.com/custodian-id/custodian/storage/storagetest"
)

// The customer login API (CONTRACT.md §3), driven over HTTP the way the seed's
// tutorial drives it.

// loginReply is one answer of the customer login API.
type loginReply struct {
	status int
	header http.Header
	raw    string
	body   map[string]any
}

// loginCall sends a request; headers are name, value pairs.
func loginCall(t *testing.T, e *env, method, path, body string, headers ...string) loginReply {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw := readBody(t, resp)
	var out map[string]any
	if strings.TrimSpace(raw) != "" && !json.Valid([]byte(raw)) {
		t.Fatalf("%s %s: %d, not JSON: %s", method, path, resp.StatusCode, raw)
	}
	_ = json.Unmarshal([]byte(raw), &out) // an object; lists stay in raw
	return loginReply{status: resp.StatusCode, header: resp.Header, raw: raw, body: out}
}

// jsonBearer are the headers of a JSON call with a bearer token.
func jsonBearer(tok string) []string {
	return []string{"Authorization", "Bearer " + tok, "Content-Type", "application/json"}
}

// wantKeys checks that a body has exactly the given fields.
func wantKeys(t *testing.T, what string, body map[string]any, keys ...string) {
	t.Helper()
	var got []string
	for k := range body {
		got = append(got, k)
	}
	slices.Sort(got)
	slices.Sort(keys)
	if !slices.Equal(got, keys) {
		t.Errorf("%s: fields %v, want %v", what, got, keys)
	}
}

// wantLoginError checks the one error shape of the API and the fields named in details.
func wantLoginError(t *testing.T, what string, got loginReply, status int, typ string, fields ...string) {
	t.Helper()
	if got.status != status || got.body["status"] != float64(status) || got.body["type"] != typ {
		t.Errorf("%s: got %d %s, want %d %s", what, got.status, got.raw, status, typ)
		return
	}
	if msg, _ := got.body["message"].(string); msg == "" {
		t.Errorf("%s: no message: %s", what, got.raw)
	}
	for k := range got.body {
		if k != "status" && k != "type" && k != "message" && k != "details" {
			t.Errorf("%s: unexpected field %q in error %s", what, k, got.raw)
		}
	}
	details, _ := got.body["details"].([]any)
	var named []string
	for _, d := range details {
		m, _ := d.(map[string]any)
		if m["field"] == "" || m["type"] == "" || m["message"] == "" {
			t.Errorf("%s: incomplete detail %v", what, d)
		}
		named = append(named, fmt.Sprint(m["field"]))
	}
	for _, f := range fields {
		if !slices.Contains(named, f) {
			t.Errorf("%s: no detail for %q in %s", what, f, got.raw)
		}
	}
}

func anonymousLogin(t *testing.T, e *env) map[string]any {
	t.Helper()
	got := loginCall(t, e, http.MethodGet, "/customerlogin/auth/anonymous/login?tenant="+testTenant+"&client_id="+spaClient, "")
	if got.status != http.StatusOK {
		t.Fatalf("anonymous login: %d %s", got.status, got.raw)
	}
	return got.body
}

// seedSignup is the seed's signup body; only the e-mail addresses differ, as the seed's
// are scrubbed.
func seedSignup(email string) string {
	return `{
"email": "` + email + `",
"password": "password123",
"customerDetails": {
"title": "MR",
"firstName": "John",
"middleName": "",
"lastName": "Doe",
"contactEmail": "` + email + `",
"contactPhone": "123456789",
"company": "Emporix",
"preferredLanguage": "en_US",
"preferredCurrency": "EUR",
"preferredSite": "main",
"b2b": {
"companyRegistrationId": "123-456-789",
"legalEntities": [
{
"id": "67e162a3ad4e2f12bc4f9306",
"name": "ABC",
"contactAssignmentId": "91033918"
}
]
}
},
"customerAddress": {
"contactName": "John Doe",
"companyName": "Emporix",
"street": "Platz der Republik",
"streetNumber": "1",
"streetAppendix": "",
"extraLine1": "",
"extraLine2": "",
"zipCode": "11011",
"city": "Berlin",
"country": "DE",
"state": "Berlin",
"contactPhone": "123456789",
"tags": ["BILLING", "SHIPPING"]
}
}`
}

func loginWith(t *testing.T, e *env, anonToken, email, password string) loginReply {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"email": email, "password": password})
	return loginCall(t, e, http.MethodPost, "/customer/"+testTenant+"/login", string(body), jsonBearer(anonToken)...)
}

var loginResponseFields = []string{"access_token", "saas_token", "expires_in", "refresh_token", "refresh_token_expires_in",
	"token_type", "session_id", "initialPassword"}

var anonymousFields = []string{"access_token", "token_type", "expires_in", "refresh_token", "refresh_token_expires_in",
	"sessionId", "scope"}

// TestLoginAPITutorial replays the seed's tutorial in order: anonymous token, refresh,
// signup, duplicate signup, login, validation, refresh, logout.
func TestLoginAPITutorial(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			ctx := context.Background()
			const email = "john.doe@example.com"

			// 1. Requesting an anonymous token.
			anon := anonymousLogin(t, e)
			wantKeys(t, "anonymous token", anon, anonymousFields...)
			if anon["token_type"] != "Bearer" || anon["scope"] != "tenant="+testTenant || anon["sessionId"] == "" {
				t.Errorf("anonymous token: %v", anon)
			}
			if exp, _ := anon["expires_in"].(float64); exp < 3500 || exp > 3600 || exp != float64(int(exp)) {
				t.Errorf("anonymous expires_in %v, want whole seconds of the hour", anon["expires_in"])
			}

			// 2. Refreshing an anonymous token: same shape, same session.
			got := loginCall(t, e, http.MethodGet, "/customerlogin/auth/anonymous/refresh?"+url.Values{"tenant": {testTenant},
				"refresh_token": {anon["refresh_token"].(string)}, "client_id": {spaClient}}.Encode(), "")
			if got.status != http.StatusOK {
				t.Fatalf("anonymous refresh: %d %s", got.status, got.raw)
			}
			wantKeys(t, "refreshed anonymous token", got.body, anonymousFields...)
			if got.body["sessionId"] != anon["sessionId"] || got.body["access_token"] == anon["access_token"] ||
				got.body["refresh_token"] == anon["refresh_token"] || got.body["scope"] != "tenant="+testTenant {
				t.Errorf("refreshed anonymous token: %v (was %v)", got.body, anon)
			}
			anonToken, session := got.body["access_token"].(string), got.body["sessionId"].(string)

			// 3. Creating a new customer.
			got = loginCall(t, e, http.MethodPost, "/customer/"+testTenant+"/signup", seedSignup(email), jsonBearer(anonToken)...)
			if got.status != http.StatusCreated {
				t.Fatalf("signup: %d %s", got.status, got.raw)
			}
			wantKeys(t, "signup", got.body, "id")
			id, _ := got.body["id"].(string)
			if _, err := strconv.ParseInt(id, 10, 64); err != nil {
				t.Fatalf("signup id %v", got.body["id"])
			}
			got = loginCall(t, e, http.MethodPost, "/customer/"+testTenant+"/signup", seedSignup(email), jsonBearer(anonToken)...)
			wantLoginError(t, "duplicate signup", got, http.StatusConflict, "conflict_resource")

			// A signup does not make the shopper a member of the legal entity it names
			// (that would grant tokens scoped to any company); the admin assigns it.
			cid, _ := strconv.ParseInt(id, 10, 64)
			if ok, _ := e.srv.Customers.IsMember(context.Background(), testTenant, cid, "67e162a3ad4e2f12bc4f9306"); ok {
				t.Fatalf("signup made itself a member of a legal entity")
			}
			if err := e.srv.Customers.AddMembership(context.Background(), testTenant, cid,
				customer.Membership{AccountID: "67e162a3ad4e2f12bc4f9306", Name: "ABC", ContactAssignmentID: "91033918"}); err != nil {
				t.Fatal(err)
			}

			// 5. Logging in a customer: the anonymous session carries over.
			got = loginWith(t, e, anonToken, email, "password123")
			if got.status != http.StatusOK {
				t.Fatalf("login: %d %s", got.status, got.raw)
			}
			wantKeys(t, "login", got.body, loginResponseFields...)
			lg := got.body
			if lg["session_id"] != session || lg["token_type"] != "Bearer" || lg["initialPassword"] != false ||
				lg["expires_in"].(float64) <= 0 || lg["refresh_token_expires_in"].(float64) <= 0 {
				t.Errorf("login response %v (anonymous session %s)", lg, session)
			}

			// The saas_token is a JWT of the tenant's keys.
			keys := oidc.NewRemoteKeySet(ctx, e.issuer()+"/jwks.json")
			payload, err := keys.VerifySignature(ctx, lg["saas_token"].(string))
			if err != nil {
				t.Fatalf("saas_token does not verify against the JWKS: %v", err)
			}
			var claims map[string]any
			if err := json.Unmarshal(payload, &claims); err != nil {
				t.Fatal(err)
			}
			if claims["iss"] != e.issuer() || claims["sub"] != id || claims["email"] != email || claims["tenant"] != testTenant ||
				claims["sid"] != session || claims["exp"].(float64) <= claims["iat"].(float64) {
				t.Errorf("saas_token claims %v", claims)
			}

			// 7. Validating a token.
			customerToken := lg["access_token"].(string)
			got = loginCall(t, e, http.MethodGet, "/customer/"+testTenant+"/validateauthtoken", "", "Authorization", "Bearer "+customerToken)
			if got.status != http.StatusOK {
				t.Fatalf("validateauthtoken: %d %s", got.status, got.raw)
			}
			wantKeys(t, "validateauthtoken", got.body, "token_type", "expires_in", "scope", "sessionId", "email", "legalEntityId")
			scope, _ := got.body["scope"].(string)
			if got.body["token_type"] != "Bearer" || got.body["sessionId"] != session || got.body["email"] != email ||
				got.body["legalEntityId"] != "67e162a3ad4e2f12bc4f9306" || got.body["expires_in"].(float64) <= 0 ||
				!strings.HasSuffix(scope, " tenant="+testTenant) || !strings.Contains(scope, "customer.customer_read_own") {
				t.Errorf("validateauthtoken: %v", got.body)
			}

			// The anonymous token is not a customer's.
			got = loginCall(t, e, http.MethodGet, "/customer/"+testTenant+"/validateauthtoken", "", "Authorization", "Bearer "+anonToken)
			wantLoginError(t, "validate anonymous token", got, http.StatusUnauthorized, "unauthorized")

			// Refreshing the customer's tokens keeps the session and the legal entity.
			got = loginCall(t, e, http.MethodGet, "/customer/"+testTenant+"/refreshauthtoken?"+url.Values{
				"refreshToken": {lg["refresh_token"].(string)}, "client_id": {spaClient}}.Encode(), "")
			if got.status != http.StatusOK {
				t.Fatalf("refreshauthtoken: %d %s", got.status, got.raw)
			}
			wantKeys(t, "refreshauthtoken", got.body, loginResponseFields...)
			if got.body["session_id"] != session || got.body["access_token"] == customerToken {
				t.Errorf("refreshauthtoken: %v", got.body)
			}
			rf := got.body
			got = loginCall(t, e, http.MethodGet, "/customer/"+testTenant+"/validateauthtoken", "", "Authorization", "Bearer "+rf["access_token"].(string))
			if got.status != http.StatusOK || got.body["email"] != email || got.body["scope"] != scope {
				t.Errorf("validate refreshed token: %d %v", got.status, got.body)
			}

			// Logout: the token and its refresh token stop working.
			got = loginCall(t, e, http.MethodGet, "/customer/"+testTenant+"/logout?accessToken="+url.QueryEscape(rf["access_token"].(string)), "")
			if got.status != http.StatusNoContent {
				t.Fatalf("logout: %d %s", got.status, got.raw)
			}
			got = loginCall(t, e, http.MethodGet, "/customer/"+testTenant+"/validateauthtoken", "", "Authorization", "Bearer "+rf["access_token"].(string))
			wantLoginError(t, "validate after logout", got, http.StatusUnauthorized, "unauthorized")
			if got.header.Get("WWW-Authenticate") == "" {
				t.Errorf("401 without WWW-Authenticate")
			}
			got = loginCall(t, e, http.MethodGet, "/customer/"+testTenant+"/refreshauthtoken?"+url.Values{
				"refreshToken": {rf["refresh_token"].(string)}, "client_id": {spaClient}}.Encode(), "")
			wantLoginError(t, "refresh after logout", got, http.StatusUnauthorized, "unauthorized")
			// Logging out twice is harmless.
			got = loginCall(t, e, http.MethodGet, "/customer/"+testTenant+"/logout?accessToken="+url.QueryEscape(rf["access_token"].(string)), "")
			if got.status != http.StatusNoContent {
				t.Errorf("second logout: %d %s", got.status, got.raw)
			}
		})
	}
}

var optinLinkRE = regexp.MustCompile(`/customer/` + testTenant + `/signup/optin/([A-Za-z0-9_-]+)`)

// optinToken flushes the outbox and reads the activation token from the newest mail to
// the address.
func optinToken(t *testing.T, e *env, smtp *notifytest.SMTPServer, email string) string {
	t.Helper()
	if _, err := e.srv.DeliverNotifications(context.Background()); err != nil {
		t.Fatalf("deliver notifications: %v", err)
	}
	m := optinLinkRE.FindStringSubmatch(smtp.WaitFor(t, email, 10*time.Second).Body)
	if m == nil {
		t.Fatalf("no activation link in the mail to %s", email)
	}
	return m[1]
}

func withSMTP(smtp *notifytest.SMTPServer) envOption {
	return func(c *custodian.Config) {
		c.SMTPURL = custodian.Secret(smtp.URL())
		c.MailFrom = "shop@example.com"
	}
}

// TestLoginAPIOptIn: with signup.optin the account waits for its activation link; the
// confirmation answers with login tokens; resending never tells who has an account.
func TestLoginAPIOptIn(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			smtp := notifytest.StartSMTP(t)
			e := newEnv(t, b, withSMTP(smtp))
			ctx := context.Background()
			if _, err := e.srv.OAuth.UpdateTenantSettings(ctx, testTenant, map[string]string{"signup.optin": "true"}); err != nil {
				t.Fatal(err)
			}
			anon := anonymousLogin(t, e)
			anonToken := anon["access_token"].(string)
			const email = "opt.in@example.com"
			got := loginCall(t, e, http.MethodPost, "/customer/"+testTenant+"/signup", seedSignup(email), jsonBearer(anonToken)...)
			if got.status != http.StatusCreated {
				t.Fatalf("signup: %d %s", got.status, got.raw)
			}
			wantLoginError(t, "login before opt-in", loginWith(t, e, anonToken, email, "password123"), http.StatusForbidden, "forbidden")

			token := optinToken(t, e, smtp, email)
			got = loginCall(t, e, http.MethodGet, "/customer/"+testTenant+"/signup/optin/"+token, "", "Authorization", "Bearer "+anonToken)
			if got.status != http.StatusOK {
				t.Fatalf("confirm opt-in: %d %s", got.status, got.raw)
			}
			wantKeys(t, "opt-in confirmation", got.body, loginResponseFields...)
			if got.body["session_id"] != anon["sessionId"] {
				t.Errorf("opt-in tokens of another session: %v", got.body)
			}
			v := loginCall(t, e, http.MethodGet, "/customer/"+testTenant+"/validateauthtoken", "", "Authorization", "Bearer "+got.body["access_token"].(string))
			if v.status != http.StatusOK || v.body["email"] != email {
				t.Errorf("validate opt-in token: %d %v", v.status, v.body)
			}
			got = loginCall(t, e, http.MethodGet, "/customer/"+testTenant+"/signup/optin/"+token, "", "Authorization", "Bearer "+anonToken)
			wantLoginError(t, "opt-in link used twice", got, http.StatusBadRequest, "bad_request")
			if got := loginWith(t, e, anonToken, email, "password123"); got.status != http.StatusOK {
				t.Errorf("login after opt-in: %d %s", got.status, got.raw)
			}

			// Resend: 202 for a waiting account (a new mail), for an active one and for an
			// unknown address (no mail) alike.
			const waiting = "waiting@example.com"
			if got := loginCall(t, e, http.MethodPost, "/customer/"+testTenant+"/signup", seedSignup(waiting), jsonBearer(anonToken)...); got.status != http.StatusCreated {
				t.Fatalf("signup: %d %s", got.status, got.raw)
			}
			first := optinToken(t, e, smtp, waiting)
			before := len(smtp.Messages())
			for _, addr := range []string{waiting, "nobody@example.com", email} {
				got := loginCall(t, e, http.MethodPost, "/customer/"+testTenant+"/signup/optin/refresh_token", `{"email":"`+addr+`"}`,
					"Content-Type", "application/json")
				if got.status != http.StatusAccepted || got.raw != "" {
					t.Errorf("resend to %s: %d %s", addr, got.status, got.raw)
				}
			}
			second := optinToken(t, e, smtp, waiting)
			if second == first || len(smtp.Messages()) != before+1 {
				t.Errorf("resend: %d new mails, token changed %v", len(smtp.Messages())-before, second != first)
			}
			// A bare click on the link (no storefront token) activates without tokens.
			got = loginCall(t, e, http.MethodGet, "/customer/"+testTenant+"/signup/optin/"+second, "")
			if got.status != http.StatusNoContent {
				t.Errorf("bare opt-in click: %d %s", got.status, got.raw)
			}
			if got := loginWith(t, e, anonToken, waiting, "password123"); got.status != http.StatusOK {
				t.Errorf("login after bare opt-in: %d %s", got.status, got.raw)
			}
			got = loginCall(t, e, http.MethodGet, "/customer/"+testTenant+"/signup/optin/"+first, "", "Authorization", "Bearer "+anonToken)
			wantLoginError(t, "superseded opt-in link", got, http.StatusBadRequest, "bad_request")
		})
	}
}

// TestLoginAPIBadInput: each bad request gets the API's error shape, with field-level
// details where a field is at fault.
func TestLoginAPIBadInput(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			ctx := context.Background()
			for _, c := range []*oauth.Client{
				{Tenant: testTenant, ID: "kiosk", Public: true, GrantTypes: []string{identity.GrantAnonymous, identity.GrantRefreshToken}},
				{Tenant: testTenant, ID: "noanon", Public: true, RedirectURIs: []string{spaRedirect}},
			} {
				if _, err := e.srv.OAuth.CreateClient(ctx, c, ""); err != nil {
					t.Fatal(err)
				}
			}
			anon := anonymousLogin(t, e)
			anonToken := anon["access_token"].(string)
			lg := loginWith(t, e, anonToken, shopperEmail, shopperPass)
			if lg.status != http.StatusOK {
				t.Fatalf("login: %d %s", lg.status, lg.raw)
			}
			customerToken := lg.body["access_token"].(string)
			signup := "/customer/" + testTenant + "/signup"
			anonPath := func(v url.Values) string { return "/customerlogin/auth/anonymous/login?" + v.Encode() }

			for _, tc := range []struct {
				name    string
				method  string
				path    string
				body    string
				headers []string
				status  int
				typ     string
				fields  []string
			}{
				{"signup: missing fields", http.MethodPost, signup, `{"email":"","password":""}`, jsonBearer(anonToken),
					400, "bad_request", []string{"email", "password"}},
				{"signup: invalid fields", http.MethodPost, signup,
					`{"email":"not-an-email","password":"short","customerAddress":{"street":"","zipCode":"1","city":"X","country":"XX"}}`,
					jsonBearer(anonToken), 400, "bad_request", []string{"email", "password", "customerAddress.street", "customerAddress.country"}},
				{"signup: unknown field", http.MethodPost, signup, `{"email":"a@example.com","password":"password123","admin":true}`,
					jsonBearer(anonToken), 400, "bad_request", []string{"admin"}},
				{"signup: wrong JSON type", http.MethodPost, signup, `{"email":5,"password":"password123"}`,
					jsonBearer(anonToken), 400, "bad_request", []string{"email"}},
				{"signup: malformed JSON", http.MethodPost, signup, `{"email":`, jsonBearer(anonToken), 400, "bad_request", nil},
				{"signup: trailing data", http.MethodPost, signup, `{"email":"a@example.com","password":"password123"} {}`,
					jsonBearer(anonToken), 400, "bad_request", nil},
				{"signup: empty body", http.MethodPost, signup, ``, jsonBearer(anonToken), 400, "bad_request", nil},
				{"signup: wrong content type", http.MethodPost, signup, `email=a@example.com`,
					[]string{"Authorization", "Bearer " + anonToken, "Content-Type", "application/x-www-form-urlencoded"}, 415, "bad_request", nil},
				{"signup: no token", http.MethodPost, signup, seedSignup("x@example.com"), []string{"Content-Type", "application/json"},
					401, "unauthorized", nil},
				{"signup: customer token", http.MethodPost, signup, seedSignup("x@example.com"), jsonBearer(customerToken),
					401, "unauthorized", nil},
				{"signup: garbage token", http.MethodPost, signup, seedSignup("x@example.com"), jsonBearer("not-a-token"),
					401, "unauthorized", nil},
				{"signup: unknown tenant", http.MethodPost, "/customer/nosuch/signup", seedSignup("x@example.com"), jsonBearer(anonToken),
					404, "resource_not_found", nil},
				{"login: missing password", http.MethodPost, "/customer/" + testTenant + "/login", `{"email":"a@example.com"}`,
					jsonBearer(anonToken), 400, "bad_request", []string{"password"}},
				{"login: unknown tenant", http.MethodPost, "/customer/nosuch/login", `{"email":"a@example.com","password":"x"}`,
					jsonBearer(anonToken), 404, "resource_not_found", nil},
				{"login: non-member legal entity", http.MethodPost, "/customer/" + testTenant + "/login?legalEntityId=4711",
					`{"email":"` + shopperEmail + `","password":"` + shopperPass + `"}`, jsonBearer(anonToken), 403, "forbidden", nil},
				{"anonymous: unknown tenant", http.MethodGet, anonPath(url.Values{"tenant": {"nosuch"}, "client_id": {spaClient}}), "", nil,
					404, "resource_not_found", nil},
				{"anonymous: no tenant", http.MethodGet, anonPath(url.Values{"client_id": {spaClient}}), "", nil,
					400, "bad_request", []string{"tenant"}},
				{"anonymous: no client", http.MethodGet, anonPath(url.Values{"tenant": {testTenant}}), "", nil,
					400, "bad_request", []string{"client_id"}},
				{"anonymous: unknown client", http.MethodGet, anonPath(url.Values{"tenant": {testTenant}, "client_id": {"ghost"}}), "", nil,
					401, "unauthorized", nil},
				{"anonymous: confidential client", http.MethodGet, anonPath(url.Values{"tenant": {testTenant}, "client_id": {backendID}}), "", nil,
					401, "unauthorized", nil},
				{"anonymous: client without the grant", http.MethodGet, anonPath(url.Values{"tenant": {testTenant}, "client_id": {"noanon"}}), "", nil,
					403, "forbidden", nil},
				{"anonymous refresh: another client's token", http.MethodGet, "/customerlogin/auth/anonymous/refresh?" + url.Values{
					"tenant": {testTenant}, "client_id": {"kiosk"}, "refresh_token": {anon["refresh_token"].(string)}}.Encode(), "", nil,
					401, "unauthorized", nil},
				{"anonymous refresh: unknown token", http.MethodGet, "/customerlogin/auth/anonymous/refresh?" + url.Values{
					"tenant": {testTenant}, "client_id": {spaClient}, "refresh_token": {"nope.nope"}}.Encode(), "", nil,
					401, "unauthorized", nil},
				{"anonymous refresh: customer's token", http.MethodGet, "/customerlogin/auth/anonymous/refresh?" + url.Values{
					"tenant": {testTenant}, "client_id": {spaClient}, "refresh_token": {lg.body["refresh_token"].(string)}}.Encode(), "", nil,
					401, "unauthorized", nil},
				{"refreshauthtoken: no token", http.MethodGet, "/customer/" + testTenant + "/refreshauthtoken?client_id=" + spaClient, "", nil,
					400, "bad_request", []string{"refreshToken"}},
				{"refreshauthtoken: no client", http.MethodGet, "/customer/" + testTenant + "/refreshauthtoken?refreshToken=x", "", nil,
					400, "bad_request", []string{"client_id"}},
				{"refreshauthtoken: confidential client without secret", http.MethodGet, "/customer/" + testTenant +
					"/refreshauthtoken?client_id=" + backendID + "&refreshToken=x", "", nil, 401, "unauthorized", nil},
				{"validateauthtoken: no token", http.MethodGet, "/customer/" + testTenant + "/validateauthtoken", "", nil,
					401, "unauthorized", nil},
				{"validateauthtoken: other tenant", http.MethodGet, "/customer/nosuch/validateauthtoken", "",
					[]string{"Authorization", "Bearer " + customerToken}, 404, "resource_not_found", nil},
				{"logout: no token", http.MethodGet, "/customer/" + testTenant + "/logout", "", nil, 400, "bad_request", []string{"accessToken"}},
				{"resend: no e-mail", http.MethodPost, "/customer/" + testTenant + "/signup/optin/refresh_token", `{}`,
					[]string{"Content-Type", "application/json"}, 400, "bad_request", []string{"email"}},
				{"opt-in: unknown token", http.MethodGet, "/customer/" + testTenant + "/signup/optin/nonsense", "", nil,
					400, "bad_request", nil},
			} {
				t.Run(tc.name, func(t *testing.T) {
					got := loginCall(t, e, tc.method, tc.path, tc.body, tc.headers...)
					wantLoginError(t, tc.name, got, tc.status, tc.typ, tc.fields...)
				})
			}

			// None of that broke the customer's session.
			got := loginCall(t, e, http.MethodGet, "/customer/"+testTenant+"/validateauthtoken", "", "Authorization", "Bearer "+customerToken)
			if got.status != http.StatusOK {
				t.Errorf("customer token after bad input: %d %s", got.status, got.raw)
			}
			// A customer's refresh token still works at refreshauthtoken, found by the
			// anonymous token the storefront holds.
			got = loginCall(t, e, http.MethodGet, "/customer/"+testTenant+"/refreshauthtoken?refreshToken="+
				url.QueryEscape(lg.body["refresh_token"].(string)), "", "Authorization", "Bearer "+anonToken)
			if got.status != http.StatusOK {
				t.Errorf("refresh with the client of the bearer token: %d %s", got.status, got.raw)
			}
		})
	}
}

// TestLoginAPIRefreshTokens: a replayed refresh token kills its family, an expired one
// is refused, a confidential client authenticates, and the legal entity can change.
func TestLoginAPIRefreshTokens(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			ctx := context.Background()
			refreshAuth := func(rt string, extra url.Values, headers ...string) loginReply {
				t.Helper()
				v := url.Values{"refreshToken": {rt}}
				for k, vs := range extra {
					v[k] = vs
				}
				return loginCall(t, e, http.MethodGet, "/customer/"+testTenant+"/refreshauthtoken?"+v.Encode(), "", headers...)
			}
			validate := func(tok string) loginReply {
				t.Helper()
				return loginCall(t, e, http.MethodGet, "/customer/"+testTenant+"/validateauthtoken", "", "Authorization", "Bearer "+tok)
			}
			spa := url.Values{"client_id": {spaClient}}
			anonToken := anonymousLogin(t, e)["access_token"].(string)

			t.Run("replay", func(t *testing.T) {
				lg := loginWith(t, e, anonToken, shopperEmail, shopperPass)
				rt1 := lg.body["refresh_token"].(string)
				r2 := refreshAuth(rt1, spa)
				if r2.status != http.StatusOK {
					t.Fatalf("refresh: %d %s", r2.status, r2.raw)
				}
				e.clock.Advance(11 * time.Second) // past the grace window
				wantLoginError(t, "replayed refresh token", refreshAuth(rt1, spa), http.StatusUnauthorized, "unauthorized")
				wantLoginError(t, "family after replay", validate(r2.body["access_token"].(string)), http.StatusUnauthorized, "unauthorized")
				wantLoginError(t, "refresh after replay", refreshAuth(r2.body["refresh_token"].(string), spa), http.StatusUnauthorized, "unauthorized")
			})

			t.Run("confidential client", func(t *testing.T) {
				status, tok := tokenRequest(t, e, url.Values{"grant_type": {identity.GrantAnonymous}}, backendID, backendSec)
				if status != http.StatusOK {
					t.Fatalf("anonymous grant: %d %v", status, tok)
				}
				lg := loginWith(t, e, tok["access_token"].(string), shopperEmail, shopperPass)
				if lg.status != http.StatusOK {
					t.Fatalf("login: %d %s", lg.status, lg.raw)
				}
				rt := lg.body["refresh_token"].(string)
				wantLoginError(t, "wrong secret", refreshAuth(rt, nil, "Authorization", basicAuth(backendID, backendSec+"x")),
					http.StatusUnauthorized, "unauthorized")
				wantLoginError(t, "another client", refreshAuth(rt, spa), http.StatusUnauthorized, "unauthorized")
				if got := refreshAuth(rt, nil, "Authorization", basicAuth(backendID, backendSec)); got.status != http.StatusOK {
					t.Errorf("refresh with client credentials: %d %s", got.status, got.raw)
				}
			})

			t.Run("legal entity", func(t *testing.T) {
				a, err := e.srv.Customers.CreateAccount(ctx, testTenant, customerNew("b2b@example.com", shopperPass))
				if err != nil {
					t.Fatal(err)
				}
				for _, id := range []string{"LE-1", "LE-2"} {
					if err := e.srv.Customers.AddMembership(ctx, testTenant, a.ID, customer.Membership{AccountID: id, Name: "Legal entity " + id}); err != nil {
						t.Fatal(err)
					}
				}
				lg := loginCall(t, e, http.MethodPost, "/customer/"+testTenant+"/login?legalEntityId=LE-1",
					`{"email":"b2b@example.com","password":"`+shopperPass+`"}`, jsonBearer(anonToken)...)
				if lg.status != http.StatusOK {
					t.Fatalf("login: %d %s", lg.status, lg.raw)
				}
				if v := validate(lg.body["access_token"].(string)); v.body["legalEntityId"] != "LE-1" {
					t.Errorf("bound legal entity: %v", v.body)
				}
				wantLoginError(t, "switch to a foreign legal entity", refreshAuth(lg.body["refresh_token"].(string),
					url.Values{"client_id": {spaClient}, "legalEntityId": {"LE-9"}}), http.StatusForbidden, "forbidden")

				lg = loginCall(t, e, http.MethodPost, "/customer/"+testTenant+"/login?legalEntityId=LE-1",
					`{"email":"b2b@example.com","password":"`+shopperPass+`"}`, jsonBearer(anonToken)...)
				sw := refreshAuth(lg.body["refresh_token"].(string), url.Values{"client_id": {spaClient}, "legalEntityId": {"LE-2"}})
				if sw.status != http.StatusOK {
					t.Fatalf("switch: %d %s", sw.status, sw.raw)
				}
				if v := validate(sw.body["access_token"].(string)); v.status != http.StatusOK || v.body["legalEntityId"] != "LE-2" ||
					v.body["sessionId"] != lg.body["session_id"] {
					t.Errorf("switched token: %d %v", v.status, v.body)
				}
				// B2B customers with several legal entities and none chosen: no legalEntityId.
				plain := loginCall(t, e, http.MethodPost, "/customer/"+testTenant+"/login",
					`{"email":"b2b@example.com","password":"`+shopperPass+`"}`, jsonBearer(anonToken)...)
				if v := validate(plain.body["access_token"].(string)); v.status != http.StatusOK || v.body["legalEntityId"] != nil {
					t.Errorf("unbound token: %d %v", v.status, v.body)
				}
			})

			t.Run("expired", func(t *testing.T) {
				// Tokens minted 31 days ago: refresh tokens live 30 days.
				fresh := anonymousLogin(t, e)["access_token"].(string)
				e.clock.Advance(-31 * 24 * time.Hour)
				old := anonymousLogin(t, e)
				lg := loginWith(t, e, fresh, shopperEmail, shopperPass)
				e.clock.Advance(31 * 24 * time.Hour)
				if lg.status != http.StatusOK {
					t.Fatalf("login: %d %s", lg.status, lg.raw)
				}
				wantLoginError(t, "expired customer refresh token", refreshAuth(lg.body["refresh_token"].(string), spa),
					http.StatusUnauthorized, "unauthorized")
				got := loginCall(t, e, http.MethodGet, "/customerlogin/auth/anonymous/refresh?"+url.Values{"tenant": {testTenant},
					"client_id": {spaClient}, "refresh_token": {old["refresh_token"].(string)}}.Encode(), "")
				wantLoginError(t, "expired anonymous refresh token", got, http.StatusUnauthorized, "unauthorized")
				wantLoginError(t, "expired access token", validate(lg.body["access_token"].(string)), http.StatusUnauthorized, "unauthorized")
			})
		})
	}
}

// TestLoginAPIGuard: the lockout and the rate limits of the login door.
func TestLoginAPIGuard(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			anonToken := anonymousLogin(t, e)["access_token"].(string)
			t.Run("lockout", func(t *testing.T) {
				unknown := loginWith(t, e, anonToken, "nobody@example.com", "wrong password!")
				wantLoginError(t, "unknown e-mail", unknown, http.StatusUnauthorized, "unauthorized")
				for i := range 5 {
					got := loginWith(t, e, anonToken, shopperEmail, "wrong password!")
					wantLoginError(t, fmt.Sprintf("wrong password %d", i+1), got, http.StatusUnauthorized, "unauthorized")
					if got.raw != unknown.raw {
						t.Errorf("a wrong password reads %s, an unknown e-mail %s", got.raw, unknown.raw)
					}
				}
				wantLoginError(t, "right password, locked", loginWith(t, e, anonToken, shopperEmail, shopperPass), http.StatusForbidden, "forbidden")
				// Locked, a wrong password reads as the right one: the lock confirms no password.
				wantLoginError(t, "wrong password, locked", loginWith(t, e, anonToken, shopperEmail, "wrong password!"), http.StatusForbidden, "forbidden")
				e.clock.Advance(16 * time.Minute)
				if got := loginWith(t, e, anonToken, shopperEmail, shopperPass); got.status != http.StatusOK {
					t.Errorf("after the lock ran out: %d %s", got.status, got.raw)
				}
			})
			t.Run("rate limit", func(t *testing.T) {
				var got loginReply
				for range 11 { // the per-account limit is 10 a minute
					got = loginWith(t, e, anonToken, "sprayed@example.com", "wrong password!")
				}
				wantLoginError(t, "eleventh attempt", got, http.StatusTooManyRequests, "too_many_requests")
				if s, err := strconv.Atoi(got.header.Get("Retry-After")); err != nil || s < 1 || s > 60 {
					t.Errorf("Retry-After %q", got.header.Get("Retry-After"))
				}
			})
		})
	}
}

// TestLoginAPIAdminStatus: the admin holds and releases a customer; a held customer
// cannot sign in and their tokens stop validating and refreshing.
func TestLoginAPIAdminStatus(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			a, err := e.srv.Customers.CreateAccount(context.Background(), testTenant, customerNew("held@example.com", shopperPass))
			if err != nil {
				t.Fatal(err)
			}
			path := fmt.Sprintf("/customer/%s/customers/%d", testTenant, a.ID)
			admin := []string{"Authorization", "Bearer " + adminToken, "Content-Type", "application/json"}
			// The route needs the admin credential, so it is served on the admin listener only.
			ae := *e
			ae.url = e.admin
			if got, err := http.NewRequest(http.MethodPatch, e.url+path, strings.NewReader(`{"onHold":true}`)); err != nil {
				t.Fatal(err)
			} else {
				got.Header.Set("Authorization", "Bearer "+adminToken)
				resp, err := http.DefaultClient.Do(got)
				if err != nil {
					t.Fatal(err)
				}
				if resp.Body.Close(); resp.StatusCode != http.StatusNotFound {
					t.Errorf("the admin route on the public listener: %d, want 404", resp.StatusCode)
				}
			}
			anonToken := anonymousLogin(t, e)["access_token"].(string)
			lg := loginWith(t, e, anonToken, "held@example.com", shopperPass)
			if lg.status != http.StatusOK {
				t.Fatalf("login: %d %s", lg.status, lg.raw)
			}

			got := loginCall(t, &ae, http.MethodPatch, path, `{"onHold":true}`, jsonBearer(lg.body["access_token"].(string))...)
			if got.status != http.StatusUnauthorized {
				t.Errorf("customer token on the admin route: %d %s", got.status, got.raw)
			}
			got = loginCall(t, &ae, http.MethodPatch, path, `{"onHold":true}`, admin...)
			if got.status != http.StatusOK || got.body["onHold"] != true || got.body["active"] != true ||
				got.body["customerNumber"] != strconv.FormatInt(a.ID, 10) {
				t.Fatalf("hold: %d %s", got.status, got.raw)
			}
			wantLoginError(t, "held customer signs in", loginWith(t, e, anonToken, "held@example.com", shopperPass), http.StatusForbidden, "forbidden")
			got = loginCall(t, e, http.MethodGet, "/customer/"+testTenant+"/validateauthtoken", "", "Authorization", "Bearer "+lg.body["access_token"].(string))
			wantLoginError(t, "held customer's token", got, http.StatusUnauthorized, "unauthorized")
			got = loginCall(t, e, http.MethodGet, "/customer/"+testTenant+"/refreshauthtoken?"+url.Values{"client_id": {spaClient},
				"refreshToken": {lg.body["refresh_token"].(string)}}.Encode(), "")
			// Holding the account revoked its tokens.
			wantLoginError(t, "held customer's refresh", got, http.StatusUnauthorized, "unauthorized")

			got = loginCall(t, &ae, http.MethodPatch, path, `{"onHold":false,"active":true}`,
				"Authorization", "Bearer "+adminToken, "Content-Type", "application/merge-patch+json")
			if got.status != http.StatusOK || got.body["onHold"] != false {
				t.Fatalf("release: %d %s", got.status, got.raw)
			}
			if got := loginWith(t, e, anonToken, "held@example.com", shopperPass); got.status != http.StatusOK {
				t.Errorf("released customer signs in: %d %s", got.status, got.raw)
			}

			wantLoginError(t, "nothing to change", loginCall(t, &ae, http.MethodPatch, path, `{}`, admin...),
				http.StatusBadRequest, "bad_request", "active", "onHold")
			wantLoginError(t, "wrong type", loginCall(t, &ae, http.MethodPatch, path, `{"active":"yes"}`, admin...),
				http.StatusBadRequest, "bad_request", "active")
			wantLoginError(t, "unknown customer", loginCall(t, &ae, http.MethodPatch, fmt.Sprintf("/customer/%s/customers/999999", testTenant),
				`{"active":false}`, admin...), http.StatusNotFound, "resource_not_found")
			wantLoginError(t, "unknown tenant", loginCall(t, &ae, http.MethodPatch, "/customer/nosuch/customers/1", `{"active":false}`, admin...),
				http.StatusNotFound, "resource_not_found")
		})
	}
}

func basicAuth(id, secret string) string {
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.SetBasicAuth(id, secret)
	return r.Header.Get("Authorization")
}

// TestLoginTokensAreStandardTokens: a login response's tokens are fosite tokens like any
// other: the standard token endpoint refreshes them (keeping the customer scopes the
// client is not registered for), and introspection sees them.
func TestLoginTokensAreStandardTokens(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			anon := anonymousLogin(t, e)["access_token"].(string)
			lg := loginWith(t, e, anon, shopperEmail, shopperPass)
			if lg.status != http.StatusOK {
				t.Fatalf("login: %d %s", lg.status, lg.raw)
			}
			status, body := refresh(t, e, lg.body["refresh_token"].(string))
			if status != http.StatusOK || !strings.Contains(body["scope"].(string), "customer.customer_read_own") {
				t.Fatalf("standard refresh of a login token: %d %v", status, body)
			}
			if in := introspect(t, e, body["access_token"].(string)); in["active"] != true || in["client_id"] != spaClient {
				t.Errorf("introspect: %v", in)
			}
			// The client_credentials grant still cannot ask for customer scopes.
			status, body = tokenRequest(t, e, url.Values{"grant_type": {"client_credentials"}, "scope": {"customer.customer_read_own"}}, backendID, backendSec)
			if status != http.StatusBadRequest || body["error"] != "invalid_scope" {
				t.Errorf("client_credentials with a customer scope: %d %v", status, body)
			}
		})
	}
}
