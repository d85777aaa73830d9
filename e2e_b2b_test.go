package custodian_test

import (
	"context"
	"net/http"
	"strconv"
	"testing"

	"github.com/custodian-id/custodian/storage/storagetest"
)

// TestShopperCannotDeclareB2B (issue 10, item 10): a company registration id the
// shopper sends at signup or in PATCH /me is kept but does not make the account B2B;
// memberships the admin assigns do, and so does the id under b2b.self_declared.
func TestShopperCannotDeclareB2B(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			ctx := context.Background()
			const email = "john.doe@example.com"
			_, me := signedUp(t, e, email) // the seed's signup, with b2b.companyRegistrationId
			profile := func(what, model string) {
				t.Helper()
				got := meCall(t, e, me, http.MethodGet, "/me", "")
				b2b, _ := got.body["b2b"].(map[string]any)
				if got.status != http.StatusOK || got.body["businessModel"] != model || b2b == nil || b2b["companyRegistrationId"] != "123-456-789" {
					t.Errorf("%s: want %s with the shopper's registration id: %d %s", what, model, got.status, got.raw)
				}
			}
			profile("after signup", "B2C")
			if got := meCall(t, e, me, http.MethodPatch, "/me", `{"b2b":{"companyRegistrationId":"123-456-789"}}`); got.status != http.StatusOK ||
				got.body["businessModel"] != "B2C" {
				t.Errorf("PATCH b2b: %d %s", got.status, got.raw)
			}
			profile("after PATCH", "B2C")
			app := appToken(t, e, backendID, backendSec)
			ticket := ticketCall(t, e, http.MethodPost, "/api/commerce/customer/authtickets", `{"username":"`+email+`","password":"password123"}`,
				"x-vol-tenant", testTenant, "Authorization", "Bearer "+app)
			if ca, _ := ticket.body["customerAccount"].(map[string]any); ticket.status != http.StatusOK || ca["accountType"] != "B2C" {
				t.Errorf("ticket accountType: %d %s", ticket.status, ticket.raw)
			}
			// The signup's legal entities never become memberships.
			acc, err := e.srv.Store().GetAccountByEmail(ctx, testTenant, email)
			if err != nil {
				t.Fatal(err)
			}
			if ok, _ := e.srv.Customers.IsMember(ctx, testTenant, acc.ID, "67e162a3ad4e2f12bc4f9306"); ok {
				t.Errorf("the signup made itself a member of a legal entity")
			}

			// The tenant's setting lets the shopper's word count.
			setTenant(t, e, "b2b.self_declared", "true")
			profile("under b2b.self_declared", "B2B")
			setTenant(t, e, "b2b.self_declared", "false")
			// A membership the admin assigns makes the account B2B.
			status, got := adminDo(t, e, http.MethodPost, "/admin/tenants/"+testTenant+"/customers/"+strconv.FormatInt(acc.ID, 10)+"/memberships",
				`{"accountId":"1001","name":"ACME"}`)
			if status != http.StatusOK || got["accountType"] != "B2B" {
				t.Errorf("admin membership: %d %v", status, got)
			}
			profile("with a membership", "B2B")
		})
	}
}
