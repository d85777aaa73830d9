package custodian_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/custodian-id/custodian/storage/storagetest"
)

// adminList calls an admin route that answers a JSON array.
func adminList(t *testing.T, e *env, path string) (int, []map[string]any, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.admin+path, nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw := readBody(t, resp)
	var out []map[string]any
	_ = json.Unmarshal([]byte(raw), &out)
	return resp.StatusCode, out, raw
}

// TestAdminClientSecretRotation: a rotated secret is answered once; the old one stops
// working at the token endpoint at once, the new one works; a public client has none.
func TestAdminClientSecretRotation(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			cc := url.Values{"grant_type": {"client_credentials"}}
			status, got := adminDo(t, e, http.MethodPost, "/admin/tenants/"+testTenant+"/clients/"+backendID+"/secret", "")
			secret, _ := got["secret"].(string)
			if status != http.StatusOK || len(secret) < 32 || got["id"] != backendID {
				t.Fatalf("rotate: %d %v", status, got)
			}
			if status, _ := tokenRequest(t, e, cc, backendID, backendSec); status != http.StatusUnauthorized {
				t.Errorf("the old secret: %d, want 401", status)
			}
			if status, body := tokenRequest(t, e, cc, backendID, secret); status != http.StatusOK {
				t.Errorf("the new secret: %d %v", status, body)
			}
			// The secret is shown once: the client's view never has it.
			status, got = adminDo(t, e, http.MethodGet, "/admin/tenants/"+testTenant+"/clients/"+backendID, "")
			if _, has := got["secret"]; status != http.StatusOK || has {
				t.Errorf("client view: %d %v", status, got)
			}
			if status, got := adminDo(t, e, http.MethodPost, "/admin/tenants/"+testTenant+"/clients/"+spaClient+"/secret", ""); status != http.StatusBadRequest || got["type"] != "bad_request" {
				t.Errorf("public client: %d %v", status, got)
			}
			if status, got := adminDo(t, e, http.MethodPost, "/admin/tenants/"+testTenant+"/clients/nope/secret", ""); status != http.StatusNotFound || got["type"] != "resource_not_found" {
				t.Errorf("unknown client: %d %v", status, got)
			}
		})
	}
}

// TestAdminCustomerSearchAndPassword: search by e-mail follows the canonical key; an
// operator's new password obeys the policy, works at once, and ends the customer's
// tokens.
func TestAdminCustomerSearchAndPassword(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			base := "/admin/tenants/" + testTenant + "/customers"
			status, list, raw := adminList(t, e, base+"?email="+url.QueryEscape("  JANE@Example.COM "))
			if status != http.StatusOK || len(list) != 1 || list[0]["emailAddress"] != shopperEmail {
				t.Fatalf("search by e-mail: %d %s", status, raw)
			}
			id := int64(list[0]["id"].(float64))
			if _, ok := list[0]["loginState"].(map[string]any); !ok {
				t.Errorf("search answer lacks loginState: %s", raw)
			}
			if status, list, raw := adminList(t, e, base+"?email=nobody@example.com"); status != http.StatusOK || list == nil || len(list) != 0 {
				t.Errorf("search without a match: %d %s, want 200 []", status, raw)
			}
			for _, q := range []string{"", "?email=", "?email=not-an-address", "?email=a@example.com&name=x", "?email=a@example.com&email=b@example.com"} {
				if status, _, raw := adminList(t, e, base+q); status != http.StatusBadRequest || !strings.Contains(raw, `"bad_request"`) {
					t.Errorf("search %q: %d %s, want 400", q, status, raw)
				}
			}

			anon := anonymousLogin(t, e)["access_token"].(string)
			before := loginWith(t, e, anon, shopperEmail, shopperPass)
			if before.status != http.StatusOK {
				t.Fatalf("login: %d %s", before.status, before.raw)
			}
			pw := fmt.Sprintf("%s/%d/password", base, id)
			if status, got := adminDo(t, e, http.MethodPut, pw, `{"password":"password"}`); status != http.StatusBadRequest || got["details"] == nil {
				t.Errorf("a common password: %d %v", status, got)
			}
			if status, got := adminDo(t, e, http.MethodPut, fmt.Sprintf("%s/999999/password", base), `{"password":"a fine new password"}`); status != http.StatusNotFound {
				t.Errorf("unknown customer: %d %v", status, got)
			}
			if status, got := adminDo(t, e, http.MethodPut, pw, `{"password":"a fine new password","extra":1}`); status != http.StatusBadRequest {
				t.Errorf("unknown field: %d %v", status, got)
			}
			if status, got := adminDo(t, e, http.MethodPut, pw, `{"password":"a fine new password"}`); status != http.StatusNoContent {
				t.Fatalf("set password: %d %v", status, got)
			}
			if got := loginWith(t, e, anon, shopperEmail, shopperPass); got.status == http.StatusOK {
				t.Errorf("the old password still signs in")
			}
			if got := loginWith(t, e, anon, shopperEmail, "a fine new password"); got.status != http.StatusOK {
				t.Errorf("the new password: %d %s", got.status, got.raw)
			}
			// The tokens of the sign-in before the change are over.
			refresh := loginCall(t, e, http.MethodGet, "/customer/"+testTenant+"/refreshauthtoken?refreshToken="+
				url.QueryEscape(before.body["refresh_token"].(string)), "", "Authorization", "Bearer "+anon)
			if refresh.status == http.StatusOK {
				t.Errorf("a refresh token from before the new password still works: %s", refresh.raw)
			}
			valid := loginCall(t, e, http.MethodGet, "/customer/"+testTenant+"/validateauthtoken", "",
				"Authorization", "Bearer "+before.body["access_token"].(string))
			if valid.status != http.StatusUnauthorized {
				t.Errorf("an access token from before the new password: %d %s", valid.status, valid.raw)
			}
			evs, _, raw := adminList(t, e, fmt.Sprintf("/admin/tenants/%s/events?customerId=%d", testTenant, id))
			if evs != http.StatusOK || !strings.Contains(raw, `"password.set_by_admin"`) {
				t.Errorf("no audit event: %d %s", evs, raw)
			}
		})
	}
}
