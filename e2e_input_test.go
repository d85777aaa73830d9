package custodian_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/custodian-id/custodian/storage/storagetest"
)

// Input that is not what it claims to be (issue 10, items 5 and 6).

// rawCall sends a request with a body of raw bytes and answers the status and body.
func rawCall(t *testing.T, method, target, contentType, body string, headers ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := browser(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, readBody(t, resp)
}

// TestInvalidUTF8Refused: every dialect refuses JSON, form bodies and queries that are
// not valid UTF-8 with a 400 in its own shape, instead of decoding them with U+FFFD in
// place of the bad bytes (two different passwords would become one).
func TestInvalidUTF8Refused(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			anon := anonymousLogin(t, e)["access_token"].(string)
			app := appToken(t, e, backendID, backendSec)
			base := e.url + "/customer/" + testTenant
			const jsonType = "application/json"
			bearer := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

			// Two passwords that differ only in an invalid byte: the first signup must not
			// create an account the second can sign in to.
			status, body := rawCall(t, http.MethodPost, base+"/signup", jsonType,
				"{\"email\":\"utf8@example.com\",\"password\":\"p\xe4ssw\xf6rd-1\xff\"}", bearer(anon)...)
			wantShape(t, "login API signup", status, body, "type", "bad_request")
			status, body = rawCall(t, http.MethodPost, base+"/login", jsonType,
				"{\"email\":\"utf8@example.com\",\"password\":\"p\xe4ssw\xf6rd-1\xfe\"}", bearer(anon)...)
			wantShape(t, "login API login", status, body, "type", "bad_request")
			if r := loginWith(t, e, anon, "utf8@example.com", "p\uFFFDssw\uFFFDrd-1\uFFFD"); r.status == http.StatusOK {
				t.Errorf("an account was created from invalid UTF-8")
			}
			status, body = rawCall(t, http.MethodPost, base+"/login", jsonType, `{"email":"`+shopperEmail+`","password":"\ud800"}`, bearer(anon)...)
			wantShape(t, "login API lone surrogate", status, body, "type", "bad_request")
			status, body = rawCall(t, http.MethodGet, e.url+"/customerlogin/auth/anonymous/login?tenant="+testTenant+"&client_id=sp%FFa", "", "")
			wantShape(t, "login API query", status, body, "type", "bad_request")
			status, body = rawCall(t, http.MethodPost, base+"/signup", jsonType,
				"{\"email\":\"gar\xc0bage@example.com\",\"password\":\"password123\"}", bearer(anon)...)
			wantShape(t, "login API e-mail with garbage", status, body, "type", "bad_request")

			// Ticket API.
			status, body = rawCall(t, http.MethodPost, e.url+"/api/commerce/customer/authtickets", jsonType,
				"{\"username\":\""+shopperEmail+"\",\"password\":\"correct horse battery\xff\"}", append(bearer(app), "x-vol-tenant", testTenant)...)
			wantShape(t, "ticket API body", status, body, "errorCode", "MISSING_OR_INVALID_PARAMETER")
			status, body = rawCall(t, http.MethodPut, e.url+"/api/commerce/customer/authtickets/refresh?refreshToken=ab%FEcd", "", "",
				append(bearer(app), "x-vol-tenant", testTenant)...)
			wantShape(t, "ticket API query", status, body, "errorCode", "MISSING_OR_INVALID_PARAMETER")

			// Admin API.
			admin := []string{"Authorization", "Bearer " + adminToken}
			status, body = rawCall(t, http.MethodPatch, e.url+"/admin/tenants/"+testTenant+"/settings", jsonType,
				"{\"branding.display_name\":\"Sh\xffp\"}", admin...)
			wantShape(t, "admin body", status, body, "type", "bad_request")
			status, body = rawCall(t, http.MethodGet, e.url+"/admin/tenants/"+testTenant+"/events?limit=%FF", "", "", admin...)
			wantShape(t, "admin query", status, body, "type", "bad_request")

			// OAuth endpoints: invalid_request.
			form := "application/x-www-form-urlencoded"
			for _, ep := range []string{"/token", "/introspect", "/revoke"} {
				status, body = rawCall(t, http.MethodPost, e.issuer()+ep, form, "grant_type=client_credentials&token=x&scope=openid%FF",
					"Authorization", basicAuth(backendID, backendSec))
				wantShape(t, "oauth "+ep, status, body, "error", "invalid_request")
			}
			status, body = rawCall(t, http.MethodPost, e.issuer()+"/token?scope=%FF", form, "grant_type=client_credentials",
				"Authorization", basicAuth(backendID, backendSec))
			wantShape(t, "oauth /token query", status, body, "error", "invalid_request")
			auth := e.issuer() + "/auth?response_type=code&client_id=" + spaClient + "&redirect_uri=" + url.QueryEscape(spaRedirect) +
				"&scope=openid&state=state-123456&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGlSstw-cM&code_challenge_method=S256"
			for what, target := range map[string]string{"auth query": auth + "&nonce=n%FFnce-123456", "logout query": e.issuer() + "/logout?state=%FF"} {
				status, body = rawCall(t, http.MethodGet, target, "", "")
				if status != http.StatusBadRequest || !strings.Contains(body, "invalid_request") || !strings.Contains(body, "UTF-8") {
					t.Errorf("%s: %d %s", what, status, body)
				}
			}
			// The login form posts to /auth.
			c := browser(t)
			action, csrf := loginForm(t, c, auth)
			resp := postForm(t, c, action, url.Values{"csrf_token": {csrf}, "step": {"password"}, "email": {shopperEmail},
				"password": {"correct horse battery\xff"}})
			if page := readBody(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "UTF-8") {
				t.Errorf("login form: %d %s", resp.StatusCode, page)
			}
		})
	}
}

// wantShape checks a 400 in a dialect's error shape: key names the field that carries
// the error's kind.
func wantShape(t *testing.T, what string, status int, body, key, want string) {
	t.Helper()
	var m map[string]any
	_ = json.Unmarshal([]byte(body), &m)
	if status != http.StatusBadRequest || m[key] != want {
		t.Errorf("%s: %d %s, want 400 with %s %q", what, status, body, key, want)
	}
}
