package custodian_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/oauth"
	"github.com/custodian-id/custodian/storage/storagetest"
)

type ticketReply struct {
	status int
	body   map[string]any
	raw    string
}

func ticketCall(t *testing.T, e *env, method, path, body string, headers ...string) ticketReply {
	t.Helper()
	req, _ := http.NewRequest(method, e.url+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
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
	_ = json.Unmarshal([]byte(raw), &out)
	return ticketReply{resp.StatusCode, out, raw}
}

func appToken(t *testing.T, e *env, id, secret string) string {
	t.Helper()
	status, body := tokenRequest(t, e, url.Values{"grant_type": {"client_credentials"}}, id, secret)
	if status != http.StatusOK {
		t.Fatalf("app token: %d %v", status, body)
	}
	return body["access_token"].(string)
}

func wantTicketError(t *testing.T, what string, got ticketReply, status int, code string) {
	t.Helper()
	if got.status != status || got.body["errorCode"] != code || got.body["applicationName"] != "Customer" || got.body["message"] == "" {
		t.Errorf("%s: got %d %s, want %d %s", what, got.status, got.raw, status, code)
	}
}

// seedTicketBody is the create-user-ticket request of the seed, with the test's values.
const seedTicketBody = `{"accountId": 1001, "authTicketTtlMinutes": 30, "fingerprint": "fp-1", "password": "` + shopperPass +
	`", "refreshTokenTtlMinutes": 1440, "region": "eu", "username": "` + shopperEmail + `"}`

var seedTicketFields = []string{"accessToken", "accessTokenExpiration", "customerAccount", "jwtAccessToken", "refreshToken",
	"refreshTokenExpiration", "requires2FA", "userId"}

var seedAccountFields = []string{"accountType", "attributes", "auditInfo", "commerceSummary", "companyOrOrganization", "contacts",
	"customerSet", "customerSinceDate", "externalId", "id", "migrationRequired", "notes", "segments", "taxExempt", "taxId",
	"acceptsMarketing", "emailAddress", "firstName", "hasExternalPassword", "isActive", "isAnonymous", "isLocked", "last2FaDate",
	"lastName", "localeCode", "userId", "userName"}

func TestTicketAPI(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			ctx := context.Background()
			// (Reading the account from the store, not by signing in: every sign-in counts
			// against the per-account rate limit of 10 a minute this test stays under.)
			acc, err := e.srv.Store().GetAccountByEmail(ctx, testTenant, shopperEmail)
			if err != nil {
				t.Fatal(err)
			}
			if err := e.srv.Customers.AddMembership(ctx, testTenant, acc.ID, customer.Membership{AccountID: "1001", Name: "ACME"}); err != nil {
				t.Fatal(err)
			}
			app := appToken(t, e, backendID, backendSec)
			hdr := []string{"x-vol-tenant", testTenant, "Authorization", "Bearer " + app}
			base := "/api/commerce/customer/authtickets"

			// The seed's request, verbatim in shape, from a client with the behavior.
			got := ticketCall(t, e, http.MethodPost, base, seedTicketBody, hdr...)
			if got.status != http.StatusOK {
				t.Fatalf("create ticket: %d %s", got.status, got.raw)
			}
			for _, f := range seedTicketFields {
				if _, ok := got.body[f]; !ok {
					t.Errorf("ticket lacks %s", f)
				}
			}
			ca, _ := got.body["customerAccount"].(map[string]any)
			for _, f := range seedAccountFields {
				if _, ok := ca[f]; !ok {
					t.Errorf("customerAccount lacks %s", f)
				}
			}
			if got.body["requires2FA"] != false || ca["emailAddress"] != shopperEmail || ca["isAnonymous"] != false || ca["accountType"] != "B2B" {
				t.Errorf("ticket: %s", got.raw)
			}
			ticket := got.body
			if in := introspect(t, e, ticket["accessToken"].(string)); in["active"] != true {
				t.Errorf("ticket access token not active: %v", in)
			}

			// responseFields with nesting; a malformed one names the position.
			got = ticketCall(t, e, http.MethodPost, base+"?responseFields="+url.QueryEscape("accessToken,customerAccount(id,emailAddress)"),
				`{"username":"`+shopperEmail+`","password":"`+shopperPass+`"}`, hdr...)
			ca, _ = got.body["customerAccount"].(map[string]any)
			if got.status != http.StatusOK || len(got.body) != 2 || len(ca) != 2 || ca["emailAddress"] != shopperEmail {
				t.Errorf("responseFields: %d %s", got.status, got.raw)
			}
			got = ticketCall(t, e, http.MethodGet, base+"/anonymousshopper?responseFields="+url.QueryEscape("accessToken,(x"), "", hdr...)
			wantTicketError(t, "malformed responseFields", got, http.StatusBadRequest, "MISSING_OR_INVALID_PARAMETER")
			if !strings.Contains(got.raw, "position") {
				t.Errorf("no position: %s", got.raw)
			}

			// Anonymous shopper.
			got = ticketCall(t, e, http.MethodGet, base+"/anonymousshopper", "", hdr...)
			if got.status != http.StatusOK || got.body["customerAccount"] != nil || got.body["userId"] == "" || got.body["refreshToken"] == "" {
				t.Errorf("anonymous: %d %s", got.status, got.raw)
			}

			// Refresh by query and by body; the used token then fails.
			rt := ticket["refreshToken"].(string)
			got = ticketCall(t, e, http.MethodPut, base+"/refresh?refreshToken="+url.QueryEscape(rt), "", hdr...)
			if got.status != http.StatusOK || got.body["refreshToken"] == rt {
				t.Fatalf("refresh: %d %s", got.status, got.raw)
			}
			rt2 := got.body["refreshToken"].(string)
			got = ticketCall(t, e, http.MethodPut, base+"/refresh", `{"refreshToken":"`+rt2+`"}`, hdr...)
			if got.status != http.StatusOK {
				t.Fatalf("refresh by body: %d %s", got.status, got.raw)
			}
			e.clock.Advance(11_000_000_000) // past the grace window
			got = ticketCall(t, e, http.MethodPut, base+"/refresh?refreshToken="+url.QueryEscape(rt), "", hdr...)
			wantTicketError(t, "reused refresh token", got, http.StatusUnauthorized, "UNAUTHORIZED")

			// Errors.
			wrong := ticketCall(t, e, http.MethodPost, base, `{"username":"`+shopperEmail+`","password":"wrong password!"}`, hdr...)
			unknown := ticketCall(t, e, http.MethodPost, base, `{"username":"nobody@example.com","password":"wrong password!"}`, hdr...)
			wantTicketError(t, "wrong password", wrong, http.StatusUnauthorized, "UNAUTHORIZED")
			if wrong.raw != unknown.raw {
				t.Errorf("unknown user and wrong password differ: %s vs %s", wrong.raw, unknown.raw)
			}
			wantTicketError(t, "missing tenant", ticketCall(t, e, http.MethodGet, base+"/anonymousshopper", "", "Authorization", "Bearer "+app),
				http.StatusBadRequest, "MISSING_OR_INVALID_PARAMETER")
			wantTicketError(t, "unknown tenant", ticketCall(t, e, http.MethodGet, base+"/anonymousshopper", "", "x-vol-tenant", "nosuch", "Authorization", "Bearer "+app),
				http.StatusNotFound, "ITEM_NOT_FOUND")
			wantTicketError(t, "no app auth", ticketCall(t, e, http.MethodGet, base+"/anonymousshopper", "", "x-vol-tenant", testTenant),
				http.StatusUnauthorized, "UNAUTHORIZED")
			wantTicketError(t, "customer token as app token", ticketCall(t, e, http.MethodGet, base+"/anonymousshopper", "", "x-vol-tenant", testTenant,
				"Authorization", "Bearer "+ticket["accessToken"].(string)), http.StatusUnauthorized, "UNAUTHORIZED")
			wantTicketError(t, "TTL above cap", ticketCall(t, e, http.MethodPost, base,
				`{"username":"`+shopperEmail+`","password":"`+shopperPass+`","authTicketTtlMinutes":100000}`, hdr...),
				http.StatusBadRequest, "MISSING_OR_INVALID_PARAMETER")
			wantTicketError(t, "unknown field", ticketCall(t, e, http.MethodPost, base, `{"username":"a","password":"b","admin":true}`, hdr...),
				http.StatusBadRequest, "MISSING_OR_INVALID_PARAMETER")
			wantTicketError(t, "malformed JSON", ticketCall(t, e, http.MethodPost, base, `{"username":`, hdr...),
				http.StatusBadRequest, "MISSING_OR_INVALID_PARAMETER")
			wantTicketError(t, "not a member", ticketCall(t, e, http.MethodPost, base,
				`{"username":"`+shopperEmail+`","password":"`+shopperPass+`","accountId":2002}`, hdr...), http.StatusForbidden, "UNAUTHORIZED")

			// A client without the behavior may not ask for lifetimes.
			const plainID, plainSecret = "plain-app", "plain-app-secret-0123456789-abcdefghij"
			if _, err := e.srv.OAuth.CreateClient(ctx, &oauth.Client{Tenant: testTenant, ID: plainID,
				GrantTypes: []string{identity.GrantClientCredentials, identity.GrantRefreshToken}}, plainSecret); err != nil {
				t.Fatal(err)
			}
			wantTicketError(t, "TTL without behavior", ticketCall(t, e, http.MethodPost, base,
				`{"username":"`+shopperEmail+`","password":"`+shopperPass+`","authTicketTtlMinutes":10}`,
				"x-vol-tenant", testTenant, "Authorization", basicAuth(plainID, plainSecret)), http.StatusForbidden, "UNAUTHORIZED")

			// A locked account says so only with the right password.
			for range 5 {
				ticketCall(t, e, http.MethodPost, base, `{"username":"`+shopperEmail+`","password":"wrong password!"}`, hdr...)
			}
			wantTicketError(t, "locked", ticketCall(t, e, http.MethodPost, base,
				`{"username":"`+shopperEmail+`","password":"`+shopperPass+`"}`, hdr...), http.StatusForbidden, "ACCOUNT_LOCKED")
		})
	}
}

// TestOversizedBodies: each API answers an oversized body with 413 in its own shape.
func TestOversizedBodies(t *testing.T) {
	e := newEnv(t, storagetest.Backends(t)[0])
	big := `{"username":"` + strings.Repeat("x", 100<<10) + `"}`
	got := ticketCall(t, e, http.MethodPost, "/api/commerce/customer/authtickets", big, "x-vol-tenant", testTenant)
	if got.status != http.StatusRequestEntityTooLarge || got.body["errorCode"] != "MISSING_OR_INVALID_PARAMETER" {
		t.Errorf("ticket API: %d %s", got.status, got.raw)
	}
	got = ticketCall(t, e, http.MethodPost, "/customer/"+testTenant+"/login", big)
	if got.status != http.StatusRequestEntityTooLarge || got.body["type"] != "bad_request" || got.body["status"] != float64(413) {
		t.Errorf("login API: %d %s", got.status, got.raw)
	}
}
