package customer_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"

	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/storage/storagetest"
)

// fakeTokens is the OAuth provider's side of a refresh as the rule sees it: one
// refresh token whose family is described by grant, and a record of what the rule did.
type fakeTokens struct {
	client     string
	live       *customer.TokenGrant // what InspectRefresh finds (nil: not live)
	refreshed  *customer.TokenGrant // the family after the rotation (Inspect of the new access token)
	refreshErr error
	rotated    int
	issued     []customer.TokenGrant
	revoked    []string
}

func (f *fakeTokens) ClientID() string { return f.client }

func (f *fakeTokens) InspectRefresh(context.Context, string) (*customer.TokenGrant, error) {
	return f.live, nil
}

func (f *fakeTokens) Refresh(context.Context, string) (*customer.TokenSet, error) {
	if f.refreshErr != nil {
		return nil, f.refreshErr
	}
	f.rotated++
	g := f.refreshed
	return &customer.TokenSet{AccessToken: "access-" + strconv.Itoa(f.rotated), Scopes: g.Scopes, SessionID: g.SessionID, Subject: g.Subject}, nil
}

func (f *fakeTokens) Inspect(context.Context, string) (*customer.TokenGrant, error) {
	return f.refreshed, nil
}

func (f *fakeTokens) Issue(_ context.Context, g customer.TokenGrant, _ string) (*customer.TokenSet, error) {
	f.issued = append(f.issued, g)
	return &customer.TokenSet{AccessToken: "rescoped", Scopes: g.Scopes, SessionID: g.SessionID, Subject: g.Subject}, nil
}

func (f *fakeTokens) Revoke(_ context.Context, token string) error {
	f.revoked = append(f.revoked, token)
	return nil
}

// TestRefresh is the one refresh-and-rescope rule of both customer APIs, without HTTP:
// a re-scope to an account the customer does not belong to is refused before the
// token rotates; a customer who is gone or inactive gets nothing and the refreshed
// family is revoked; a re-scope replaces the refreshed family by one bound to the
// account.
func TestRefresh(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			f := newFixture(t, b, noLimits())
			ctx := context.Background()
			member := f.account(t, "member@example.com", "correct horse battery")
			if err := f.svc.AddMembership(ctx, "shop", member.ID, customer.Membership{AccountID: "acct-1"}); err != nil {
				t.Fatal(err)
			}
			inactive := f.account(t, "inactive@example.com", "correct horse battery")
			off := false
			if _, err := f.svc.SetStatus(ctx, "shop", inactive.ID, &off, nil); err != nil {
				t.Fatal(err)
			}
			grant := func(id int64, account string) *customer.TokenGrant {
				return &customer.TokenGrant{ClientID: "web", Subject: strconv.FormatInt(id, 10), AccountID: account, SessionID: "cart-1",
					DeviceID: "dev-1", AMR: []string{"pwd"}, Scopes: []string{"customer"}}
			}
			anonymous := &customer.TokenGrant{ClientID: "web", Subject: "7c1e…", Anonymous: true, SessionID: "cart-1"}
			for _, tc := range []struct {
				name       string
				live       *customer.TokenGrant // before the rotation; nil: not live
				refreshed  *customer.TokenGrant
				refreshErr error
				member     string
				err        error
				rotates    bool
				rescoped   bool
				revoked    bool   // the refreshed family was revoked
				bound      string // the B2B account of the answer
				account    bool   // the answer names the customer
			}{
				{name: "anonymous shopper", live: anonymous, refreshed: anonymous, rotates: true},
				{name: "customer", live: grant(member.ID, ""), refreshed: grant(member.ID, ""), rotates: true, account: true},
				{name: "customer keeps the bound account", live: grant(member.ID, "acct-1"), refreshed: grant(member.ID, "acct-1"),
					member: "acct-1", rotates: true, account: true, bound: "acct-1"},
				{name: "re-scope to an account of the customer", live: grant(member.ID, ""), refreshed: grant(member.ID, ""),
					member: "acct-1", rotates: true, rescoped: true, revoked: true, account: true, bound: "acct-1"},
				{name: "re-scope to a foreign account: refused before the rotation", live: grant(member.ID, ""),
					refreshed: grant(member.ID, ""), member: "acct-9", err: customer.ErrNotMember},
				// A refused re-scope is no verdict on the family: the presented token
				// stays usable (within the grace window) for a retry without it.
				{name: "foreign account, token looked at only after the rotation", live: nil, refreshed: grant(member.ID, ""),
					member: "acct-9", err: customer.ErrNotMember, rotates: true},
				// Verdicts against the customer are read before the rotation, and end
				// the family of the presented token.
				{name: "inactive customer", live: grant(inactive.ID, ""), refreshed: grant(inactive.ID, ""),
					err: customer.ErrInactive, revoked: true},
				{name: "customer gone", live: grant(999999, ""), refreshed: grant(999999, ""),
					err: customer.ErrNotFound, revoked: true},
				{name: "neither a customer nor anonymous", live: &customer.TokenGrant{ClientID: "web", Subject: "web"},
					refreshed: &customer.TokenGrant{ClientID: "web", Subject: "web"}, err: customer.ErrNotCustomerToken, revoked: true},
				{name: "customer gone, token looked at only after the rotation", live: nil, refreshed: grant(999999, ""),
					err: customer.ErrNotFound, rotates: true, revoked: true},
				{name: "the refresh itself refuses", live: grant(member.ID, ""), refreshed: grant(member.ID, ""),
					refreshErr: errors.New("invalid_grant"), err: errors.New("invalid_grant")},
			} {
				t.Run(tc.name, func(t *testing.T) {
					tokens := &fakeTokens{client: "web", live: tc.live, refreshed: tc.refreshed, refreshErr: tc.refreshErr}
					res, err := f.svc.Refresh(ctx, f.tenant, tokens, "refresh-token", tc.member, "test")
					switch {
					case tc.err != nil && tc.refreshErr != nil:
						if !errors.Is(err, tc.refreshErr) {
							t.Fatalf("got %v, want the refresh's own error", err)
						}
					case tc.err != nil:
						if !errors.Is(err, tc.err) {
							t.Fatalf("got %v, want %v", err, tc.err)
						}
					case err != nil:
						t.Fatal(err)
					}
					if (tokens.rotated > 0) != tc.rotates {
						t.Errorf("rotated %d times, want a rotation: %v", tokens.rotated, tc.rotates)
					}
					if (len(tokens.issued) > 0) != tc.rescoped {
						t.Errorf("issued %+v, want a re-scope: %v", tokens.issued, tc.rescoped)
					}
					if got := slices.Contains(tokens.revoked, "access-1") || slices.Contains(tokens.revoked, "refresh-token"); got != tc.revoked {
						t.Errorf("revoked %v, want the refreshed family revoked: %v", tokens.revoked, tc.revoked)
					}
					if err != nil {
						return
					}
					if (res.Account != nil) != tc.account || res.Member != tc.bound {
						t.Errorf("refreshed: account %v, member %q", res.Account, res.Member)
					}
					if tc.rescoped {
						g := tokens.issued[0]
						if g.AccountID != "acct-1" || g.SessionID != "cart-1" || g.DeviceID != "dev-1" || !slices.Equal(g.AMR, []string{"pwd"}) ||
							res.Tokens.AccessToken != "rescoped" {
							t.Errorf("re-scoped family %+v, answer %+v", g, res.Tokens)
						}
					}
				})
			}
		})
	}
}
