package custodian_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"testing"

	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/oauth"
	"github.com/custodian-id/custodian/storage/storagetest"
)

// TestDirectGrantRefreshWithOpenID: a family that the password grant started with the
// openid scope refreshes into a new pair and an ID token about the same subject. fosite
// builds that ID token after the rotation committed, so a session without an ID token
// subject used to answer 500 with the presented token already spent. The anonymous
// grant's stateless tokens refresh with openid too (they carry no ID token: an anonymous
// shopper has no identity to assert).
func TestDirectGrantRefreshWithOpenID(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			ctx := context.Background()
			setTenant(t, e, "grants.password", "true", "grants.allowed",
				"authorization_code,refresh_token,client_credentials,password,"+identity.GrantAnonymous)
			const kioskSecret = "kiosk-secret-0123456789-0123456789-abc"
			if _, err := e.srv.OAuth.CreateClient(ctx, &oauth.Client{Tenant: testTenant, ID: "kiosk", FirstParty: true,
				GrantTypes: []string{identity.GrantPassword, identity.GrantRefreshToken, identity.GrantAnonymous},
				Scopes:     []string{"openid", "profile", "email", "offline_access"}}, kioskSecret); err != nil {
				t.Fatal(err)
			}
			acct, err := e.srv.Store().GetAccountByEmail(ctx, testTenant, shopperEmail)
			if err != nil {
				t.Fatal(err)
			}
			cases := []struct {
				name    string
				form    url.Values
				subject string // "": no ID token
			}{
				{"password", url.Values{"grant_type": {"password"}, "username": {shopperEmail}, "password": {shopperPass},
					"scope": {"openid offline_access"}}, strconv.FormatInt(acct.ID, 10)},
				{"anonymous", url.Values{"grant_type": {identity.GrantAnonymous}, "scope": {"openid offline_access"}}, ""},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					status, first := tokenRequest(t, e, c.form, "kiosk", kioskSecret)
					if status != http.StatusOK || first["refresh_token"] == nil {
						t.Fatalf("%s grant: %d %v", c.name, status, first)
					}
					want := c.subject
					status, next := tokenRequest(t, e, url.Values{"grant_type": {"refresh_token"},
						"refresh_token": {first["refresh_token"].(string)}}, "kiosk", kioskSecret)
					if status != http.StatusOK {
						t.Fatalf("refresh: %d %v", status, next)
					}
					idt, ok := next["id_token"].(string)
					if want == "" {
						if ok || next["access_token"] == nil {
							t.Errorf("anonymous refresh: %v", next)
						}
						return
					}
					if !ok {
						t.Fatalf("refresh without an ID token: %v", next)
					}
					claims := jwtClaims(t, idt)
					if claims["sub"] != want {
						t.Errorf("ID token sub %v, want %s", claims["sub"], want)
					}
					if c.name == "password" && !slices.Equal(amrOf(claims), []string{"pwd"}) {
						t.Errorf("ID token amr %v, want [pwd]", claims["amr"])
					}
					// The new refresh token carries the family on.
					status, again := tokenRequest(t, e, url.Values{"grant_type": {"refresh_token"},
						"refresh_token": {next["refresh_token"].(string)}}, "kiosk", kioskSecret)
					if status != http.StatusOK || again["id_token"] == nil {
						t.Fatalf("second refresh: %d %v", status, again)
					}
				})
			}
		})
	}
}
