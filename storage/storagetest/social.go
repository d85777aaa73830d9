package storagetest

import (
	"errors"
	"testing"
	"time"

	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/oauth"
	"github.com/custodian-id/custodian/storage"
)

// testSocial: connectors, upstream sign-ins in flight, social handoffs and linked
// identities.
// It is one long function on purpose: a scenario of the conformance suite is one
// store's story told in order, each step building on the state the last one left.
func testSocial(t *testing.T, s *storage.Store) {
	mustTenant(t, s, "alpha")
	mustTenant(t, s, "beta")
	now := time.Now().UTC().Truncate(time.Second)
	c := &oauth.Connector{Tenant: "alpha", ID: "google", Name: "Google", Issuer: "https://accounts.google.com", ClientID: "cid",
		SealedSecret: []byte{1, 2, 3}, Scopes: []string{"phone"}, CreatedAt: now}
	if err := s.CreateConnector(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateConnector(ctx, c); !errors.Is(err, identity.ErrConflict) {
		t.Errorf("duplicate connector: %v", err)
	}
	got, err := s.GetConnector(ctx, "alpha", "google")
	if err != nil || got.Issuer != c.Issuer || string(got.SealedSecret) != "\x01\x02\x03" || got.Scopes[0] != "phone" {
		t.Fatalf("connector round trip %+v, %v", got, err)
	}
	if _, err := s.GetConnector(ctx, "beta", "google"); !errors.Is(err, identity.ErrNotFound) {
		t.Errorf("another tenant's connector: %v", err)
	}
	if cs, _ := s.ListConnectors(ctx, "alpha"); len(cs) != 1 {
		t.Errorf("list = %d", len(cs))
	}

	// Upstream sign-ins are single use and expire.
	l := &oauth.UpstreamLogin{StateHash: "s1", Tenant: "alpha", ConnectorID: "google", Nonce: "n", SealedVerifier: []byte("v"),
		ResumeURL: "/oauth2/alpha/auth?x=1", ExpiresAt: now.Add(time.Minute), CreatedAt: now}
	if err := s.CreateUpstreamLogin(ctx, l); err != nil {
		t.Fatal(err)
	}
	wins, _ := race(6, func() error { _, err := s.UseUpstreamLogin(ctx, "alpha", "s1", now); return err }, identity.ErrNotFound)
	if wins != 1 {
		t.Errorf("an upstream sign-in was used %d times", wins)
	}
	l.StateHash = "s2"
	if err := s.CreateUpstreamLogin(ctx, l); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UseUpstreamLogin(ctx, "alpha", "s2", now.Add(2*time.Minute)); !errors.Is(err, identity.ErrNotFound) {
		t.Errorf("an expired upstream sign-in was used: %v", err)
	}

	// Handoffs are taken once.
	if err := s.PutSocialHandoff(ctx, "alpha", "req-1", []byte("sealed"), now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if b, err := s.TakeSocialHandoff(ctx, "alpha", "req-1", now); err != nil || string(b) != "sealed" {
		t.Errorf("take = %q, %v", b, err)
	}
	if _, err := s.TakeSocialHandoff(ctx, "alpha", "req-1", now); !errors.Is(err, identity.ErrNotFound) {
		t.Errorf("taken twice: %v", err)
	}
	if err := s.DeleteStaleSocial(ctx, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}

	// Identities link one upstream subject to one customer.
	id := mustCustomer(t, s, "alpha", "jane@example.com")
	link := &customer.Identity{Tenant: "alpha", Issuer: c.Issuer, Subject: "123", ConnectorID: "google", CustomerID: id,
		Email: "jane@example.com", CreatedAt: now}
	if err := s.LinkIdentity(ctx, link); err != nil {
		t.Fatal(err)
	}
	if err := s.LinkIdentity(ctx, link); !errors.Is(err, customer.ErrConflict) {
		t.Errorf("linked twice: %v", err)
	}
	if got, err := s.GetIdentity(ctx, "alpha", c.Issuer, "123"); err != nil || got.CustomerID != id {
		t.Errorf("identity %+v, %v", got, err)
	}
	if _, err := s.GetIdentity(ctx, "beta", c.Issuer, "123"); !errors.Is(err, customer.ErrNotFound) {
		t.Errorf("another tenant's identity: %v", err)
	}
	if ids, _ := s.ListIdentities(ctx, "alpha", id); len(ids) != 1 {
		t.Errorf("identities %v", ids)
	}
	if err := s.DeleteIdentities(ctx, "alpha", id, "apple"); !errors.Is(err, customer.ErrNoLink) {
		t.Errorf("unlink unknown: %v", err)
	}
	if err := s.DeleteIdentities(ctx, "alpha", id, "google"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetEmailVerified(ctx, "alpha", id, true); err != nil {
		t.Fatal(err)
	}
	if a, _ := s.GetAccount(ctx, "alpha", id); !a.EmailVerified {
		t.Error("email_verified not stored")
	}
	// Retiring a customer's one-time tokens of a kind leaves other kinds and other
	// customers' tokens working.
	other := mustCustomer(t, s, "alpha", "john@example.com")
	for _, tok := range []*customer.OneTimeToken{
		{Hash: "h-change", Tenant: "alpha", CustomerID: id, Kind: customer.TokenEmailChange, ExpiresAt: now.Add(time.Hour)},
		{Hash: "h-reset", Tenant: "alpha", CustomerID: id, Kind: customer.TokenPasswordReset, ExpiresAt: now.Add(time.Hour)},
		{Hash: "h-other", Tenant: "alpha", CustomerID: other, Kind: customer.TokenEmailChange, ExpiresAt: now.Add(time.Hour)},
	} {
		if err := s.CreateToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RetireTokens(ctx, "alpha", id, customer.TokenEmailChange); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UseToken(ctx, "alpha", customer.TokenEmailChange, "h-change", now); !errors.Is(err, customer.ErrInvalidToken) {
		t.Errorf("a retired token was used: %v", err)
	}
	for _, h := range []struct{ kind, hash string }{{customer.TokenPasswordReset, "h-reset"}, {customer.TokenEmailChange, "h-other"}} {
		if _, err := s.UseToken(ctx, "alpha", h.kind, h.hash, now); err != nil {
			t.Errorf("%s was retired too: %v", h.hash, err)
		}
	}

	if err := s.DeleteConnector(ctx, "alpha", "google"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteConnector(ctx, "alpha", "google"); !errors.Is(err, identity.ErrNotFound) {
		t.Errorf("deleted twice: %v", err)
	}
}
