package customer_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/storage/storagetest"
)

// TestSocialSignIn is the linking rule of upstream identities, without HTTP: a known
// identity signs its customer in; a verified e-mail links to the customer whose own
// address is verified when social.autolink is on; an address nobody verified never
// links; a customer whose address was never verified is claimed by the verified owner;
// a new address creates a customer when social.autoprovision is on.
func TestSocialSignIn(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			f := newFixture(t, b, noLimits())
			// The tenant of the request: the settings each case sets are the ones read.
			ctx := identity.WithTenant(context.Background(), f.tenant)
			verified := func(email string) *customer.Account {
				a := f.account(t, email, "correct horse battery")
				if err := f.store.SetEmailVerified(ctx, "shop", a.ID, true); err != nil {
					t.Fatal(err)
				}
				return a
			}
			for i, tc := range []struct {
				name          string
				existing      func(email string) *customer.Account // nil: no account has the address
				emailVerified bool
				autolink      bool
				autoprovision bool
				err           error
				sameAccount   bool // signs in the existing account
				claimed       bool // the existing account lost its password to the verified owner
			}{
				{name: "verified e-mail links to a verified account", existing: verified, emailVerified: true, autolink: true, sameAccount: true},
				{name: "autolink off asks for the password", existing: verified, emailVerified: true, err: customer.ErrSocialLinkNeedsPassword},
				{name: "unverified upstream e-mail never links", existing: verified, autolink: true, err: customer.ErrSocialUnverifiedEmail},
				{name: "the verified owner claims an unverified account",
					existing:      func(email string) *customer.Account { return f.account(t, email, "correct horse battery") },
					emailVerified: true, autolink: false, sameAccount: true, claimed: true},
				{name: "a new address creates a customer", emailVerified: true, autoprovision: true},
				{name: "autoprovision off", emailVerified: true, err: customer.ErrSocialNoAccount},
				{name: "a new address the upstream did not verify", autoprovision: true, err: customer.ErrSocialUnverifiedEmail},
			} {
				t.Run(tc.name, func(t *testing.T) {
					f.tenant.Settings = identity.DefaultSettings()
					f.tenant.Settings.SocialAutoLink, f.tenant.Settings.SocialAutoProvision = tc.autolink, tc.autoprovision
					email := fmt.Sprintf("social%d@example.com", i)
					var existing *customer.Account
					if tc.existing != nil {
						existing = tc.existing(email)
					}
					id := customer.SocialIdentity{ConnectorID: "google", Issuer: "https://accounts.example", Subject: fmt.Sprint("sub-", i),
						Email: email, EmailVerified: tc.emailVerified, GivenName: "Jane", FamilyName: "Doe", ClientID: "web"}
					pr, err := f.svc.SocialSignIn(ctx, "shop", id)
					if tc.err != nil {
						if !errors.Is(err, tc.err) {
							t.Fatalf("got %v, want %v", err, tc.err)
						}
						return
					}
					if err != nil {
						t.Fatal(err)
					}
					if !slices.Equal(pr.AMR, []string{"fed"}) || pr.Email != email {
						t.Errorf("principal %+v", pr)
					}
					if tc.sameAccount != (existing != nil && pr.CustomerID == existing.ID) {
						t.Errorf("signed in customer %d, existing %+v", pr.CustomerID, existing)
					}
					a, err := f.svc.Account(ctx, "shop", pr.CustomerID)
					if err != nil {
						t.Fatal(err)
					}
					if !a.EmailVerified || len(a.Identities) != 1 || a.Identities[0].ConnectorID != "google" {
						t.Errorf("account after the sign-in: verified %v, identities %+v", a.EmailVerified, a.Identities)
					}
					if existing != nil && tc.claimed != (a.PasswordHash == "") {
						t.Errorf("claimed %v, password hash %q", tc.claimed, a.PasswordHash)
					}
					if existing == nil && (a.FirstName != "Jane" || a.CreatedBy != "social:google") {
						t.Errorf("created account %+v", a)
					}
					// The identity is known now: the next sign-in finds the same customer.
					again, err := f.svc.SocialSignIn(ctx, "shop", id)
					if err != nil || again.CustomerID != pr.CustomerID {
						t.Errorf("second sign-in: %v %+v", err, again)
					}
				})
			}
		})
	}
}

// TestSocialTrustsUpstreamMFA: an upstream that asserts a second factor counts as one
// under social.trust_upstream_mfa, and the local policy applies otherwise.
func TestSocialTrustsUpstreamMFA(t *testing.T) {
	f := newFixture(t, storagetest.Backends(t)[0], noLimits())
	ctx := identity.WithTenant(context.Background(), f.tenant)
	if err := f.tenant.Settings.Set("twofactor.triggers", "always"); err != nil {
		t.Fatal(err)
	}
	id := customer.SocialIdentity{ConnectorID: "google", Issuer: "https://accounts.example", Subject: "sub-1",
		Email: "mfa@example.com", EmailVerified: true, AMR: []string{"pwd", "mfa"}, ClientID: "web"}
	pr, err := f.svc.SocialSignIn(ctx, "shop", id)
	if err != nil || pr.Challenge != nil || !slices.Equal(pr.AMR, []string{"fed", "mfa"}) {
		t.Fatalf("trusted upstream MFA: %v %+v", err, pr)
	}
	f.tenant.Settings.SocialTrustMFA = false
	pr, err = f.svc.SocialSignIn(ctx, "shop", id)
	if err != nil || pr.Challenge == nil {
		t.Fatalf("local policy: %v %+v", err, pr)
	}
	id.NoChallenge = true
	if _, err := f.svc.SocialSignIn(ctx, "shop", id); !errors.Is(err, identity.ErrSecondFactorRequired) {
		t.Errorf("an entry point that cannot ask: %v", err)
	}
}

// TestLinkAndUnlink: a password links an identity only to a verified account, and the
// last way to sign in cannot be unlinked.
func TestLinkAndUnlink(t *testing.T) {
	f := newFixture(t, storagetest.Backends(t)[0], noLimits())
	ctx := context.Background()
	a := f.account(t, "jane@example.com", "correct horse battery")
	id := customer.SocialIdentity{ConnectorID: "google", Issuer: "https://accounts.example", Subject: "sub-1",
		Email: "jane@example.com", EmailVerified: true}
	if err := f.svc.LinkSocialIdentity(ctx, "shop", a.ID, id); !errors.Is(err, customer.ErrInvalid) {
		t.Errorf("link to an unverified account: %v", err)
	}
	if err := f.store.SetEmailVerified(ctx, "shop", a.ID, true); err != nil {
		t.Fatal(err)
	}
	unverified := id
	unverified.EmailVerified = false
	if err := f.svc.LinkSocialIdentity(ctx, "shop", a.ID, unverified); !errors.Is(err, customer.ErrSocialUnverifiedEmail) {
		t.Errorf("link of an unverified identity: %v", err)
	}
	if err := f.svc.LinkSocialIdentity(ctx, "shop", a.ID, id); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Unlink(ctx, "shop", a.ID, "github"); !errors.Is(err, customer.ErrNoLink) {
		t.Errorf("unlink what is not linked: %v", err)
	}
	// A customer created by a social sign-in has no password: its only link stays.
	pr, err := f.svc.SocialSignIn(ctx, "shop", customer.SocialIdentity{ConnectorID: "google", Issuer: "https://accounts.example",
		Subject: "sub-2", Email: "new@example.com", EmailVerified: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Unlink(ctx, "shop", pr.CustomerID, "google"); !errors.Is(err, customer.ErrLastSignIn) {
		t.Errorf("unlink the last way to sign in: %v", err)
	}
	if err := f.svc.Unlink(ctx, "shop", a.ID, "google"); err != nil {
		t.Errorf("unlink with a password left: %v", err)
	}
}
