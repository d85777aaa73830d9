package storagetest

// The token table: fosite's token families, rotation with its grace window, reuse,
// revocation.

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/oauth"
	"github.com/custodian-id/custodian/storage"
)

// tokenRequest builds a fosite request of a tenant's client with an oauth.Session.
func tokenRequest(client *oauth.Client, tenant, subject, sessionID, requestID string, exp time.Time) *fosite.Request {
	sess := oauth.NewSession()
	sess.Tenant = tenant
	sess.Subject = subject
	sess.SessionID = sessionID
	sess.SetExpiresAt(fosite.AccessToken, exp)
	sess.SetExpiresAt(fosite.RefreshToken, exp)
	sess.SetExpiresAt(fosite.AuthorizeCode, exp)
	r := fosite.NewRequest()
	r.ID = requestID
	r.Client = client
	r.Session = sess
	r.RequestedAt = time.Now().UTC().Truncate(time.Second)
	r.GrantedScope = fosite.Arguments{"openid"}
	r.Form = url.Values{"client_secret": {"must-not-be-stored"}, "scope": {"openid"}}
	return r
}

func tokenFixture(t *testing.T, s *storage.Store) (context.Context, context.Context, *oauth.Client) {
	t.Helper()
	alpha := mustTenant(t, s, "alpha")
	beta := mustTenant(t, s, "beta")
	c := &oauth.Client{Tenant: "alpha", ID: "web", Public: true, GrantTypes: []string{"refresh_token"}}
	if err := s.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	return identity.WithTenant(ctx, alpha), identity.WithTenant(ctx, beta), c
}

// testTokens: token families through their whole life: issue, look up, rotate with
// the grace window, revoke by family, subject and session, expire.
// It is one long function on purpose: a scenario of the conformance suite is one
// store's story told in order, each step building on the state the last one left.
func testTokens(t *testing.T, s *storage.Store) {
	actx, bctx, c := tokenFixture(t, s)
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	req := tokenRequest(c, "alpha", "42", "sid-1", "family-1", exp)

	// Authorization codes: single use, and a used code still returns its request.
	if err := s.CreateAuthorizeCodeSession(actx, "code-sig", req); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetAuthorizeCodeSession(actx, "code-sig", oauth.NewSession())
	if err != nil || got.GetID() != "family-1" || got.GetSession().GetSubject() != "42" || got.GetClient().GetID() != "web" {
		t.Fatalf("get code: %v %v", got, err)
	}
	if got.GetRequestForm().Get("client_secret") != "" {
		t.Errorf("a secret form field was stored")
	}
	if _, err := s.GetAuthorizeCodeSession(bctx, "code-sig", oauth.NewSession()); !errors.Is(err, fosite.ErrNotFound) {
		t.Errorf("code visible from another tenant: %v", err)
	}
	if err := s.InvalidateAuthorizeCodeSession(actx, "code-sig"); err != nil {
		t.Fatal(err)
	}
	if err := s.InvalidateAuthorizeCodeSession(actx, "code-sig"); !errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) {
		t.Errorf("second invalidation: %v", err)
	}
	got, err = s.GetAuthorizeCodeSession(actx, "code-sig", oauth.NewSession())
	if !errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) || got == nil || got.GetID() != "family-1" {
		t.Errorf("used code: %v %v", got, err)
	}

	// Access and refresh tokens of one family; revocation by family.
	if err := s.CreateAccessTokenSession(actx, "at-1", req); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateRefreshTokenSession(actx, "rt-1", "at-1", req); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateAccessTokenSession(actx, "at-1", req); err == nil {
		t.Errorf("duplicate signature accepted")
	}
	// A peek at a live refresh token reads it and records nothing.
	peeked := oauth.NewSession()
	if got, err := s.PeekRefreshTokenSession(actx, "rt-1", peeked); err != nil || got.GetID() != "family-1" || peeked.SessionID != "sid-1" {
		t.Errorf("peek refresh: %v %+v", err, peeked)
	}
	if _, err := s.PeekRefreshTokenSession(bctx, "rt-1", oauth.NewSession()); !errors.Is(err, fosite.ErrNotFound) {
		t.Errorf("refresh token visible from another tenant: %v", err)
	}
	sess := oauth.NewSession()
	if _, err := s.GetAccessTokenSession(actx, "at-1", sess); err != nil || sess.SessionID != "sid-1" {
		t.Errorf("get access: %v %+v", err, sess)
	}
	if _, err := s.GetAccessTokenSession(bctx, "at-1", oauth.NewSession()); !errors.Is(err, fosite.ErrNotFound) {
		t.Errorf("access token visible from another tenant: %v", err)
	}
	jti := oauth.JTIFromSignature("at-1")
	if ok, err := s.AccessTokenByJTI(actx, "alpha", jti); err != nil || !ok {
		t.Errorf("jti lookup: %v %v", ok, err)
	}
	if ok, _ := s.AccessTokenByJTI(actx, "beta", jti); ok {
		t.Errorf("jti visible from another tenant")
	}
	if err := s.RevokeAccessToken(actx, "family-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetAccessTokenSession(actx, "at-1", oauth.NewSession()); !errors.Is(err, fosite.ErrInactiveToken) {
		t.Errorf("revoked access token: %v", err)
	}
	if ok, _ := s.AccessTokenByJTI(actx, "alpha", jti); ok {
		t.Errorf("jti of a revoked token still active")
	}
	if err := s.RevokeRefreshToken(actx, "family-1"); err != nil {
		t.Fatal(err)
	}
	before, _ := s.ListEvents(actx, "alpha", nil, 100)
	if _, err := s.PeekRefreshTokenSession(actx, "rt-1", oauth.NewSession()); !errors.Is(err, fosite.ErrInactiveToken) {
		t.Errorf("peek a revoked refresh token: %v", err)
	}
	if after, _ := s.ListEvents(actx, "alpha", nil, 100); len(after) != len(before) {
		t.Errorf("a peek recorded an event: %d events, %d before", len(after), len(before))
	}
	if _, err := s.GetRefreshTokenSession(actx, "rt-1", oauth.NewSession()); !errors.Is(err, fosite.ErrInactiveToken) {
		t.Errorf("revoked refresh token: %v", err)
	}

	// Session and subject revocation.
	req2 := tokenRequest(c, "alpha", "43", "sid-2", "family-2", exp)
	_ = s.CreateAccessTokenSession(actx, "at-2", req2)
	_ = s.CreateRefreshTokenSession(actx, "rt-2", "at-2", req2)
	if err := s.RevokeSession(actx, "alpha", "sid-2"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetAccessTokenSession(actx, "at-2", oauth.NewSession()); !errors.Is(err, fosite.ErrInactiveToken) {
		t.Errorf("session revocation missed the access token: %v", err)
	}
	req3 := tokenRequest(c, "alpha", "44", "sid-3", "family-3", exp)
	_ = s.CreateAccessTokenSession(actx, "at-3", req3)
	_ = s.CreateAuthorizeCodeSession(actx, "code-44", tokenRequest(c, "alpha", "44", "sid-3", "family-5", exp))
	_ = s.CreateAuthorizeCodeSession(actx, "code-46", tokenRequest(c, "alpha", "46", "sid-6", "family-6", exp))
	if err := s.RevokeSubject(actx, "alpha", "44"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetAccessTokenSession(actx, "at-3", oauth.NewSession()); !errors.Is(err, fosite.ErrInactiveToken) {
		t.Errorf("subject revocation missed the access token: %v", err)
	}
	// A code of the subject not yet exchanged is gone (not a reuse); others stay.
	if got, err := s.GetAuthorizeCodeSession(actx, "code-44", oauth.NewSession()); !errors.Is(err, fosite.ErrNotFound) || got != nil {
		t.Errorf("subject revocation missed the code: %v %v", got, err)
	}
	if _, err := s.GetAuthorizeCodeSession(actx, "code-46", oauth.NewSession()); err != nil {
		t.Errorf("subject revocation reached another subject's code: %v", err)
	}

	// PKCE and OpenID Connect state.
	if err := s.CreatePKCERequestSession(actx, "code-2", req); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetPKCERequestSession(actx, "code-2", oauth.NewSession()); err != nil {
		t.Errorf("pkce: %v", err)
	}
	_ = s.DeletePKCERequestSession(actx, "code-2")
	if _, err := s.GetPKCERequestSession(actx, "code-2", oauth.NewSession()); !errors.Is(err, fosite.ErrNotFound) {
		t.Errorf("deleted pkce: %v", err)
	}
	if err := s.CreateOpenIDConnectSession(actx, "code-3", req); err != nil {
		t.Fatal(err)
	}
	r := fosite.NewRequest()
	r.Session = oauth.NewSession()
	if got, err := s.GetOpenIDConnectSession(actx, "code-3", r); err != nil || got.GetSession().GetSubject() != "42" {
		t.Errorf("oidc: %v", err)
	}
	_ = s.DeleteOpenIDConnectSession(actx, "code-3")

	// Expired rows are collected.
	old := tokenRequest(c, "alpha", "45", "sid-4", "family-4", time.Now().Add(-48*time.Hour))
	_ = s.CreateAccessTokenSession(actx, "at-old", old)
	n, err := s.DeleteExpiredTokens(actx, time.Now().Add(-24*time.Hour))
	if err != nil || n != 1 {
		t.Errorf("expired tokens deleted: %d %v", n, err)
	}
}

// testRefreshRotationRace rotates one refresh token from 16 goroutines: one rotation
// and 15 grace forks, no other outcome, on both dialects.
func testRefreshRotationRace(t *testing.T, s *storage.Store) {
	actx, _, c := tokenFixture(t, s)
	req := tokenRequest(c, "alpha", "42", "sid-1", "family-1", time.Now().Add(time.Hour))
	_ = s.CreateAccessTokenSession(actx, "at-1", req)
	if err := s.CreateRefreshTokenSession(actx, "rt-1", "at-1", req); err != nil {
		t.Fatal(err)
	}
	wins, other := race(16, func() error {
		return s.InTx(actx, func(ctx context.Context) error { return s.RotateRefreshToken(ctx, "family-1", "rt-1") })
	}, fosite.ErrInactiveToken)
	if wins != 16 || other != 0 {
		t.Fatalf("rotations: %d ok, %d inactive (want 16 ok within the grace window)", wins, other)
	}
	// The default bound is 20 forks: the race took 15, five more are allowed, then none.
	for i := range 5 {
		if err := s.RotateRefreshToken(actx, "family-1", "rt-1"); err != nil {
			t.Fatalf("fork %d: %v", 16+i, err)
		}
	}
	if err := s.RotateRefreshToken(actx, "family-1", "rt-1"); !errors.Is(err, fosite.ErrInactiveToken) {
		t.Errorf("fork beyond the bound: %v", err)
	}
	if _, err := s.GetRefreshTokenSession(actx, "rt-1", oauth.NewSession()); !errors.Is(err, fosite.ErrInactiveToken) {
		t.Errorf("exhausted token still served: %v", err)
	}
	// The access token minted with the rotated refresh token was revoked by the rotation.
	if _, err := s.GetAccessTokenSession(actx, "at-1", oauth.NewSession()); !errors.Is(err, fosite.ErrInactiveToken) {
		t.Errorf("access token of a rotated refresh token: %v", err)
	}
	// The replay was recorded.
	evs, _ := s.ListEvents(ctx, "alpha", nil, 10)
	if len(evs) == 0 || evs[0].Kind != identity.EventRefreshReuse {
		t.Errorf("no reuse event: %v", evs)
	}
}
