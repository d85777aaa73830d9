package custodian_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/oauth"
	"github.com/custodian-id/custodian/storage/storagetest"
)

// wantRetryAfter checks a 429's Retry-After: whole seconds within the minute window.
func wantRetryAfter(t *testing.T, what string, h http.Header) {
	t.Helper()
	if s, err := strconv.Atoi(h.Get("Retry-After")); err != nil || s < 1 || s > 60 {
		t.Errorf("%s: Retry-After %q", what, h.Get("Retry-After"))
	}
}

// doRequest sends a request and returns status, headers and body.
func doRequest(t *testing.T, method, target, body string, headers ...string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, target, strings.NewReader(body))
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
	return resp.StatusCode, resp.Header, readBody(t, resp)
}

// TestRateLimitSettings: ratelimit.login_per_ip, ratelimit.login_per_account and
// ratelimit.signup_per_ip are the tenant's, 0 switches each off, and every entry point
// answers 429 with Retry-After in its own shape.
func TestRateLimitSettings(t *testing.T) {
	const kioskID, kioskSecret = "kiosk", "kiosk-secret-0123456789-0123456789-abc"
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			e.clock.Advance(0) // pinned: each step stays in its rate-limit window
			anon := anonymousLogin(t, e)["access_token"].(string)
			nextWindow := func() { e.clock.Advance(time.Minute) }

			t.Run("login_per_account", func(t *testing.T) {
				nextWindow()
				setTenant(t, e, "ratelimit.login_per_account", "2")
				for i := range 2 {
					wantLoginError(t, fmt.Sprintf("attempt %d", i+1), loginWith(t, e, anon, "acct@example.com", "wrong password!"),
						http.StatusUnauthorized, "unauthorized")
				}
				got := loginWith(t, e, anon, "acct@example.com", "wrong password!")
				wantLoginError(t, "third attempt on one account", got, http.StatusTooManyRequests, "too_many_requests")
				wantRetryAfter(t, "login API", got.header)
				setTenant(t, e, "ratelimit.login_per_account", "0")
				for i := range 4 {
					wantLoginError(t, fmt.Sprintf("limit off, attempt %d", i+1), loginWith(t, e, anon, "acct@example.com", "wrong password!"),
						http.StatusUnauthorized, "unauthorized")
				}
			})

			t.Run("login_per_ip in every dialect", func(t *testing.T) {
				nextWindow()
				setTenant(t, e, "ratelimit.login_per_ip", "2", "ratelimit.login_per_account", "100",
					"grants.password", "true", "grants.allowed", "authorization_code,refresh_token,client_credentials,password,"+identity.GrantAnonymous)
				if _, err := e.srv.OAuth.CreateClient(t.Context(), &oauth.Client{Tenant: testTenant, ID: kioskID, FirstParty: true,
					GrantTypes: []string{identity.GrantPassword}}, kioskSecret); err != nil {
					t.Fatal(err)
				}
				for i := range 2 {
					wantLoginError(t, fmt.Sprintf("attempt %d", i+1), loginWith(t, e, anon, fmt.Sprintf("ip%d@example.com", i), "wrong password!"),
						http.StatusUnauthorized, "unauthorized")
				}
				// Login API.
				got := loginWith(t, e, anon, shopperEmail, shopperPass)
				wantLoginError(t, "the right password past the address's limit", got, http.StatusTooManyRequests, "too_many_requests")
				wantRetryAfter(t, "login API", got.header)
				// Ticket API.
				status, h, raw := doRequest(t, http.MethodPost, e.url+"/api/commerce/customer/authtickets",
					`{"username":"`+shopperEmail+`","password":"`+shopperPass+`"}`,
					"x-vol-tenant", testTenant, "Content-Type", "application/json", "Authorization", basicAuth(backendID, backendSec))
				var tb map[string]any
				_ = json.Unmarshal([]byte(raw), &tb)
				if status != http.StatusTooManyRequests || tb["errorCode"] != "TOO_MANY_REQUESTS" || tb["applicationName"] != "Customer" {
					t.Errorf("ticket API: %d %s", status, raw)
				}
				wantRetryAfter(t, "ticket API", h)
				// Token endpoint (password grant): RFC 6749 shape.
				status, h, raw = doRequest(t, http.MethodPost, e.issuer()+"/token",
					url.Values{"grant_type": {"password"}, "username": {shopperEmail}, "password": {shopperPass}}.Encode(),
					"Content-Type", "application/x-www-form-urlencoded", "Authorization", basicAuth(kioskID, kioskSecret))
				var ob map[string]any
				_ = json.Unmarshal([]byte(raw), &ob)
				if status != http.StatusTooManyRequests || ob["error"] != "slow_down" || ob["error_description"] == "" {
					t.Errorf("token endpoint: %d %s", status, raw)
				}
				wantRetryAfter(t, "token endpoint", h)
				// Login page.
				c := browser(t)
				authURL := e.issuer() + "/auth?" + url.Values{"response_type": {"code"}, "client_id": {spaClient}, "redirect_uri": {spaRedirect},
					"scope": {"openid"}, "state": {"state-123456"}, "code_challenge": {strings.Repeat("a", 43)}, "code_challenge_method": {"S256"}}.Encode()
				action, csrf := loginForm(t, c, authURL)
				resp := postForm(t, c, action, url.Values{"email": {shopperEmail}, "password": {shopperPass}, "csrf_token": {csrf}, "step": {"password"}})
				page := readBody(t, resp)
				if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(page, "Too many attempts") ||
					!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
					t.Errorf("login page: %d %s", resp.StatusCode, page)
				}
				wantRetryAfter(t, "login page", resp.Header)

				setTenant(t, e, "ratelimit.login_per_ip", "0")
				if got := loginWith(t, e, anon, shopperEmail, shopperPass); got.status != http.StatusOK {
					t.Errorf("limit off: %d %s", got.status, got.raw)
				}
				if status, _, raw := doRequest(t, http.MethodPost, e.issuer()+"/token",
					url.Values{"grant_type": {"password"}, "username": {shopperEmail}, "password": {shopperPass}}.Encode(),
					"Content-Type", "application/x-www-form-urlencoded", "Authorization", basicAuth(kioskID, kioskSecret)); status != http.StatusOK {
					t.Errorf("limit off, token endpoint: %d %s", status, raw)
				}
			})

			t.Run("signup_per_ip", func(t *testing.T) {
				base := "/customer/" + testTenant
				reset := func(email string) loginReply {
					return loginCall(t, e, http.MethodPost, base+"/password/reset", `{"email":"`+email+`"}`, jsonBearer(anon)...)
				}
				// The default, 10 a minute, counts sign-ups, reset requests and opt-in
				// resends together.
				nextWindow()
				if got := loginCall(t, e, http.MethodPost, base+"/signup", seedSignup("new1@example.com"), jsonBearer(anon)...); got.status != http.StatusCreated {
					t.Fatalf("signup: %d %s", got.status, got.raw)
				}
				if got := loginCall(t, e, http.MethodPost, base+"/signup/optin/refresh_token", `{"email":"new1@example.com"}`,
					"Content-Type", "application/json"); got.status >= 400 {
					t.Fatalf("opt-in resend: %d %s", got.status, got.raw)
				}
				for i := range 8 {
					if got := reset(fmt.Sprintf("r%d@example.com", i)); got.status != http.StatusNoContent {
						t.Fatalf("reset %d: %d %s", i, got.status, got.raw)
					}
				}
				got := loginCall(t, e, http.MethodPost, base+"/signup", seedSignup("new2@example.com"), jsonBearer(anon)...)
				wantLoginError(t, "the eleventh sign-up, reset or resend", got, http.StatusTooManyRequests, "too_many_requests")
				wantRetryAfter(t, "signup", got.header)
				got = reset("r9@example.com")
				wantLoginError(t, "reset past the limit", got, http.StatusTooManyRequests, "too_many_requests")

				nextWindow()
				setTenant(t, e, "ratelimit.signup_per_ip", "1")
				if got := reset("a@example.com"); got.status != http.StatusNoContent {
					t.Errorf("first reset: %d %s", got.status, got.raw)
				}
				got = loginCall(t, e, http.MethodPost, base+"/signup", seedSignup("new3@example.com"), jsonBearer(anon)...)
				wantLoginError(t, "a sign-up after a reset at 1 a minute", got, http.StatusTooManyRequests, "too_many_requests")

				setTenant(t, e, "ratelimit.signup_per_ip", "0")
				for i := range 12 {
					if got := reset(fmt.Sprintf("off%d@example.com", i)); got.status != http.StatusNoContent {
						t.Fatalf("limit off, reset %d: %d %s", i, got.status, got.raw)
					}
				}
				if got := loginCall(t, e, http.MethodPost, base+"/signup", seedSignup("new4@example.com"), jsonBearer(anon)...); got.status != http.StatusCreated {
					t.Errorf("limit off, signup: %d %s", got.status, got.raw)
				}
			})

			t.Run("settings are checked", func(t *testing.T) {
				for _, bad := range []string{"-1", "many", "100001", "1.5"} {
					if _, err := e.srv.OAuth.UpdateTenantSettings(t.Context(), testTenant, map[string]string{"ratelimit.login_per_ip": bad}); err == nil {
						t.Errorf("ratelimit.login_per_ip=%s accepted", bad)
					}
				}
			})
		})
	}
}
