package custodian_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/custodian-id/custodian/storage/storagetest"
)

func adminDo(t *testing.T, e *env, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, e.admin+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw := readBody(t, resp)
	var out map[string]any
	_ = json.Unmarshal([]byte(raw), &out)
	return resp.StatusCode, out
}

// TestAdminCustomers: the admin reads the login state, locks and unlocks, and edits the
// fields other systems own; the lock is seen by the login pages.
func TestAdminCustomers(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			a, err := e.srv.Customers.CreateAccount(context.Background(), testTenant, customerNew("admin-view@example.com", shopperPass))
			if err != nil {
				t.Fatal(err)
			}
			base := fmt.Sprintf("/admin/tenants/%s/customers/%d", testTenant, a.ID)

			status, got := adminDo(t, e, http.MethodGet, base, "")
			st, _ := got["loginState"].(map[string]any)
			if status != http.StatusOK || got["emailAddress"] != "admin-view@example.com" || st["remainingLoginAttempts"] != float64(5) {
				t.Fatalf("get: %d %v", status, got)
			}
			status, got = adminDo(t, e, http.MethodPost, base+"/lock", "")
			if st, _ := got["loginState"].(map[string]any); status != http.StatusOK || st["isLocked"] != true {
				t.Fatalf("lock: %d %v", status, got)
			}
			// A locked account cannot sign in at the login page, with the right password.
			status, _ = tokenRequestPassword(t, e, "admin-view@example.com", shopperPass)
			if status == http.StatusOK {
				t.Errorf("locked account got tokens")
			}
			status, got = adminDo(t, e, http.MethodDelete, base+"/lock", "")
			if st, _ := got["loginState"].(map[string]any); status != http.StatusOK || st["isLocked"] != false {
				t.Fatalf("unlock: %d %v", status, got)
			}

			status, got = adminDo(t, e, http.MethodPatch, base, `{"segments":[{"id":1,"code":"VIP","name":"VIP"}],"commerceSummary":{"orderCount":3},"onHold":true}`)
			segs, _ := got["segments"].([]any)
			if status != http.StatusOK || len(segs) != 1 || got["onHold"] != true || got["version"].(float64) < 2 {
				t.Fatalf("patch: %d %v", status, got)
			}
			status, got = adminDo(t, e, http.MethodPatch, base, `{"segments":{"not":"an array"}}`)
			if status != http.StatusBadRequest || got["type"] != "bad_request" || got["details"] == nil {
				t.Errorf("bad segments: %d %v", status, got)
			}
			status, got = adminDo(t, e, http.MethodPost, base+"/memberships", `{"accountId":"1001","name":"ACME"}`)
			if ms, _ := got["memberships"].([]any); status != http.StatusOK || len(ms) != 1 || got["accountType"] != "B2B" {
				t.Errorf("membership: %d %v", status, got)
			}
			if status, _ := adminDo(t, e, http.MethodGet, fmt.Sprintf("/admin/tenants/%s/customers/999999", testTenant), ""); status != http.StatusNotFound {
				t.Errorf("unknown customer: %d", status)
			}
			req, _ := http.NewRequest(http.MethodGet, e.admin+base, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			readBody(t, resp)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("without the admin token: %d", resp.StatusCode)
			}
		})
	}
}

// TestListenersSplit: the public handler serves shoppers and storefronts and a
// liveness probe, nothing of operations or administration (404, as for any unknown
// path); the admin handler serves exactly those, and none of the public routes.
func TestListenersSplit(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			call := func(base, method, path string) int {
				t.Helper()
				req, _ := http.NewRequest(method, base+path, strings.NewReader(`{}`))
				req.Header.Set("Authorization", "Bearer "+adminToken)
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				readBody(t, resp)
				return resp.StatusCode
			}
			for _, tc := range []struct {
				method, path  string
				public, admin int
			}{
				{http.MethodGet, "/healthz", http.StatusOK, http.StatusOK},
				{http.MethodGet, "/readyz", http.StatusNotFound, http.StatusOK},
				{http.MethodGet, "/metrics", http.StatusNotFound, http.StatusOK},
				{http.MethodGet, "/admin/tenants", http.StatusNotFound, http.StatusOK},
				{http.MethodGet, "/admin/tenants/" + testTenant + "/clients", http.StatusNotFound, http.StatusOK},
				{http.MethodPatch, "/customer/" + testTenant + "/customers/1", http.StatusNotFound, http.StatusBadRequest}, // no change asked
				{http.MethodGet, "/oauth2/" + testTenant + "/.well-known/openid-configuration", http.StatusOK, http.StatusNotFound},
				{http.MethodGet, "/customerlogin/auth/anonymous/login?tenant=" + testTenant + "&client_id=" + spaClient, http.StatusOK, http.StatusNotFound},
			} {
				if got := call(e.url, tc.method, tc.path); got != tc.public {
					t.Errorf("public %s %s: %d, want %d", tc.method, tc.path, got, tc.public)
				}
				if got := call(e.admin, tc.method, tc.path); got != tc.admin {
					t.Errorf("admin %s %s: %d, want %d", tc.method, tc.path, got, tc.admin)
				}
			}
		})
	}
}

// tokenRequestPassword signs in through the browser login form and reports whether a
// code came back.
func tokenRequestPassword(t *testing.T, e *env, email, password string) (int, string) {
	t.Helper()
	c := browser(t)
	authURL := e.issuer() + "/auth?" + url.Values{"response_type": {"code"}, "client_id": {spaClient}, "redirect_uri": {spaRedirect},
		"scope": {"openid"}, "state": {"state-123456"}, "code_challenge": {strings.Repeat("a", 43)}, "code_challenge_method": {"S256"}}.Encode()
	action, csrf := loginForm(t, c, authURL)
	resp := postForm(t, c, action, url.Values{"email": {email}, "password": {password}, "csrf_token": {csrf}, "step": {"password"}})
	body := readBody(t, resp)
	if resp.StatusCode == http.StatusSeeOther {
		return http.StatusOK, ""
	}
	return resp.StatusCode, body
}
