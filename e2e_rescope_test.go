package custodian_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/storage/storagetest"
)

// TestRescopeRefusedBeforeRotation (issue 10, item 8): a refresh that re-scopes to a
// B2B account / legal entity the customer is not a member of is refused before the
// refresh token rotates, in both customer APIs: the shopper stays signed in.
func TestRescopeRefusedBeforeRotation(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			e.clock.Advance(0)
			ctx := context.Background()
			acc, err := e.srv.Store().GetAccountByEmail(ctx, testTenant, shopperEmail)
			if err != nil {
				t.Fatal(err)
			}
			if err := e.srv.Customers.AddMembership(ctx, testTenant, acc.ID, customer.Membership{AccountID: "1001", Name: "ACME"}); err != nil {
				t.Fatal(err)
			}

			// Ticket API.
			app := appToken(t, e, backendID, backendSec)
			hdr := []string{"x-vol-tenant", testTenant, "Authorization", "Bearer " + app}
			base := "/api/commerce/customer/authtickets"
			ticket := ticketCall(t, e, http.MethodPost, base, `{"username":"`+shopperEmail+`","password":"`+shopperPass+`"}`, hdr...)
			if ticket.status != http.StatusOK {
				t.Fatalf("ticket: %d %s", ticket.status, ticket.raw)
			}
			rt := ticket.body["refreshToken"].(string)
			refresh := func(q url.Values) ticketReply {
				return ticketCall(t, e, http.MethodPut, base+"/refresh?"+q.Encode(), "", hdr...)
			}
			wantTicketError(t, "re-scope to a foreign account", refresh(url.Values{"refreshToken": {rt}, "accountId": {"2002"}}), http.StatusForbidden, "UNAUTHORIZED")
			// Past the grace window a rotated token would be a replay: it still works.
			e.clock.Advance(time.Minute)
			if got := refresh(url.Values{"refreshToken": {rt}}); got.status != http.StatusOK {
				t.Fatalf("ticket refresh after the refused re-scope: %d %s", got.status, got.raw)
			} else {
				rt = got.body["refreshToken"].(string)
			}
			if got := refresh(url.Values{"refreshToken": {rt}, "accountId": {"1001"}}); got.status != http.StatusOK {
				t.Errorf("re-scope to the customer's account: %d %s", got.status, got.raw)
			}

			// Login API.
			anon := anonymousLogin(t, e)["access_token"].(string)
			login := loginWith(t, e, anon, shopperEmail, shopperPass)
			if login.status != http.StatusOK {
				t.Fatalf("login: %d %s", login.status, login.raw)
			}
			lrt := login.body["refresh_token"].(string)
			refreshAuth := func(q url.Values) loginReply {
				q.Set("client_id", spaClient)
				return loginCall(t, e, http.MethodGet, "/customer/"+testTenant+"/refreshauthtoken?"+q.Encode(), "")
			}
			wantLoginError(t, "legal entity not a membership", refreshAuth(url.Values{"refreshToken": {lrt}, "legalEntityId": {"2002"}}),
				http.StatusForbidden, "forbidden")
			e.clock.Advance(time.Minute)
			got := refreshAuth(url.Values{"refreshToken": {lrt}})
			if got.status != http.StatusOK {
				t.Fatalf("refreshauthtoken after the refused re-scope: %d %s", got.status, got.raw)
			}
			if v := loginCall(t, e, http.MethodGet, "/customer/"+testTenant+"/validateauthtoken", "", jsonBearer(got.body["access_token"].(string))...); v.status != http.StatusOK {
				t.Errorf("refreshed token: %d %s", v.status, v.raw)
			}
			if got := refreshAuth(url.Values{"refreshToken": {got.body["refresh_token"].(string)}, "legalEntityId": {"1001"}}); got.status != http.StatusOK {
				t.Errorf("re-scope to the customer's legal entity: %d %s", got.status, got.raw)
			}
		})
	}
}
