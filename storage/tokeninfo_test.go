package storage_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/oauth"
	"github.com/custodian-id/custodian/storage"
	"github.com/custodian-id/custodian/storage/storagetest"
)

// TestAccessTokenInfo: validation reads what a token says from its columns and info
// column, the same as the stored request says, also for a row written before the info
// column (info NULL); a revoked token, another tenant's and one whose client was
// deleted are not live; and the lookup is one statement.
func TestAccessTokenInfo(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			s := storagetest.Open(t, b, storage.Options{})
			for _, name := range []string{"alpha", "beta"} {
				if err := s.CreateTenant(ctx, &identity.Tenant{Name: name}); err != nil {
					t.Fatal(err)
				}
			}
			alpha, _ := s.GetTenant(ctx, "alpha")
			beta, _ := s.GetTenant(ctx, "beta")
			actx, bctx := identity.WithTenant(ctx, alpha), identity.WithTenant(ctx, beta)
			c := &oauth.Client{Tenant: "alpha", ID: "web", Public: true}
			if err := s.CreateClient(ctx, c); err != nil {
				t.Fatal(err)
			}
			exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
			issued := time.Now().UTC().Truncate(time.Second)
			sess := oauth.NewSession()
			sess.Tenant, sess.Subject, sess.SessionID, sess.DeviceID = "alpha", "42", "sid-1", "dev-1"
			sess.AMR, sess.AccountID, sess.ThirdParty = []string{"pwd", "otp"}, "acct-7", true
			sess.SetExpiresAt(fosite.AccessToken, exp)
			req := fosite.NewRequest()
			req.ID, req.Client, req.Session, req.RequestedAt = "family-1", c, sess, issued
			req.GrantedScope = fosite.Arguments{"openid", "customer.profile.view"}
			req.GrantedAudience = fosite.Arguments{"api"}
			for _, sig := range []string{"at-1", "at-legacy"} {
				if err := s.CreateAccessTokenSession(actx, sig, req); err != nil {
					t.Fatal(err)
				}
			}
			// at-legacy as a release before the info column left it.
			db, rebind := storagetest.SQL(t, b)
			if _, err := db.Exec(rebind(`UPDATE oauth2_tokens SET info = NULL WHERE signature = ?`), "at-legacy"); err != nil {
				t.Fatal(err)
			}
			want := oauth.AccessInfo{Tenant: "alpha", Subject: "42", ClientID: "web", Scopes: []string{"openid", "customer.profile.view"},
				SessionID: "sid-1", AccountID: "acct-7", AMR: []string{"pwd", "otp"}, Audience: []string{"api"}, ThirdParty: true,
				DeviceID: "dev-1", IssuedAt: issued, ExpiresAt: exp, RequestID: "family-1", Use: oauth.UseAccessToken}
			for _, sig := range []string{"at-1", "at-legacy"} {
				cctx, count := storage.WithStatementCount(actx)
				got, err := s.AccessTokenInfo(cctx, sig)
				if err != nil {
					t.Fatalf("%s: %v", sig, err)
				}
				if !sameInfo(*got, want) {
					t.Errorf("%s:\n got %+v\nwant %+v", sig, *got, want)
				}
				if n := count.Statements(); n != 1 {
					t.Errorf("%s: %d statements, want 1: %v", sig, n, count.List())
				}
			}
			if _, err := s.AccessTokenInfo(bctx, "at-1"); !errors.Is(err, fosite.ErrNotFound) {
				t.Errorf("another tenant's token: %v", err)
			}
			if _, err := s.AccessTokenInfo(actx, "nope"); !errors.Is(err, fosite.ErrNotFound) {
				t.Errorf("unknown token: %v", err)
			}
			if err := s.RevokeAccessToken(actx, "family-1"); err != nil {
				t.Fatal(err)
			}
			if _, err := s.AccessTokenInfo(actx, "at-1"); !errors.Is(err, fosite.ErrInactiveToken) {
				t.Errorf("revoked token: %v", err)
			}
			// A live token of a client that is then deleted stops working.
			req.ID = "family-2"
			if err := s.CreateAccessTokenSession(actx, "at-2", req); err != nil {
				t.Fatal(err)
			}
			if _, err := s.AccessTokenInfo(actx, "at-2"); err != nil {
				t.Fatalf("live token: %v", err)
			}
			if err := s.DeleteClient(ctx, "alpha", "web"); err != nil {
				t.Fatal(err)
			}
			if _, err := s.AccessTokenInfo(actx, "at-2"); !errors.Is(err, fosite.ErrNotFound) {
				t.Errorf("token of a deleted client: %v", err)
			}
		})
	}
}

func sameInfo(a, b oauth.AccessInfo) bool {
	return a.Tenant == b.Tenant && a.Subject == b.Subject && a.ClientID == b.ClientID && slices.Equal(a.Scopes, b.Scopes) &&
		a.SessionID == b.SessionID && a.Anonymous == b.Anonymous && a.AccountID == b.AccountID && slices.Equal(a.AMR, b.AMR) &&
		slices.Equal(a.Audience, b.Audience) && a.ThirdParty == b.ThirdParty && a.DeviceID == b.DeviceID &&
		a.IssuedAt.Equal(b.IssuedAt) && a.ExpiresAt.Equal(b.ExpiresAt) && a.RequestID == b.RequestID && a.Use == b.Use
}

// TestStatementCount: the counter sees every statement and transaction of its
// context, prepared or not, and nothing of another context.
func TestStatementCount(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			s := storagetest.Open(t, b, storage.Options{})
			ctx, count := storage.WithStatementCount(context.Background())
			if err := s.InTx(ctx, func(ctx context.Context) error {
				if err := s.CreateTenant(ctx, &identity.Tenant{Name: "alpha"}); err != nil {
					return err
				}
				_, err := s.GetAccount(ctx, "alpha", 1) // a prepared statement, inside the transaction
				if !errors.Is(err, customer.ErrNotFound) {
					return err
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.GetTenant(context.Background(), "alpha"); err != nil { // not counted
				t.Fatal(err)
			}
			if _, err := s.GetAccount(ctx, "alpha", 2); !errors.Is(err, customer.ErrNotFound) {
				t.Fatal(err)
			}
			if count.Statements() != 3 || count.Transactions() != 1 {
				t.Errorf("%d statements in %d transactions, want 3 in 1: %v", count.Statements(), count.Transactions(), count.List())
			}
			count.Reset()
			if count.Statements() != 0 || count.Transactions() != 0 {
				t.Errorf("after reset: %v", count.List())
			}
		})
	}
}
