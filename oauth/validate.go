package oauth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite"

	"github.com/custodian-id/custodian/identity"
)

// ErrInvalidToken is returned for a token that is unknown, expired, revoked or of
// another tenant.
var ErrInvalidToken = errors.New("invalid access token")

// Token uses (RFC 7662 token_type_hint values).
const (
	UseAccessToken  = "access_token"
	UseRefreshToken = "refresh_token"
)

// AccessInfo is what one of Custodian's tokens says about its bearer.
type AccessInfo struct {
	Tenant    string
	Subject   string
	ClientID  string
	Scopes    []string
	SessionID string
	Anonymous bool
	AccountID string
	AMR       []string
	// Audience is the granted audience; empty when none was requested (the JWT
	// access token then names the tenant's issuer).
	Audience []string
	// ThirdParty: a client that is not first-party got the token through the consent
	// page (Session.ThirdParty).
	ThirdParty bool
	DeviceID   string // the device of the sign-in; known for opaque tokens only
	IssuedAt   time.Time
	ExpiresAt  time.Time
	RequestID  string // token family; empty for JWT access tokens
	Use        string // UseAccessToken or UseRefreshToken
}

// ValidateAccessToken accepts either form of access token Custodian issues: the opaque
// access token (looked up by its HMAC signature) or the RFC 9068 JWT access token
// (signature verified against the tenant's keys, then its jti checked against the
// store so revocation reaches it too). The ctx must carry the tenant. A token that is
// not a live access token of the tenant is ErrInvalidToken; any other error is a
// storage failure.
func (p *Provider) ValidateAccessToken(ctx context.Context, token string) (*AccessInfo, error) {
	t := identity.TenantFromContext(ctx)
	if t == nil {
		return nil, errors.New("validate access token: no tenant in context")
	}
	if IsAnonymousToken(token) {
		c, err := p.openAnonymous(t.Name, token, anonAccess)
		if err != nil {
			return nil, err
		}
		return anonymousInfo(c, UseAccessToken), nil
	}
	if strings.Count(token, ".") == 2 {
		return p.validateJWT(ctx, t.Name, token)
	}
	return p.opaqueAccessToken(ctx, t.Name, token)
}

// InspectToken finds a live token of the tenant in every form Custodian issues: the
// opaque access token, the refresh token and the JWT access token (the login API's
// saas_token is a signed statement, not a credential any endpoint accepts, so it is
// not one). hint (UseAccessToken or UseRefreshToken) only orders the lookups. A token
// that is not live is ErrInvalidToken; any other error is a storage failure.
func (p *Provider) InspectToken(ctx context.Context, token, hint string) (*AccessInfo, error) {
	t := identity.TenantFromContext(ctx)
	if t == nil {
		return nil, errors.New("inspect token: no tenant in context")
	}
	if IsAnonymousToken(token) {
		for _, use := range []string{anonAccess, anonRefresh} {
			if c, err := p.openAnonymous(t.Name, token, use); err == nil {
				return anonymousInfo(c, map[string]string{anonAccess: UseAccessToken, anonRefresh: UseRefreshToken}[use]), nil
			}
		}
		return nil, fmt.Errorf("%w: unknown token", ErrInvalidToken)
	}
	if strings.Count(token, ".") == 2 {
		return p.validateJWT(ctx, t.Name, token)
	}
	lookups := []func(context.Context, string, string) (*AccessInfo, error){p.opaqueAccessToken, p.opaqueRefreshToken}
	if hint == UseRefreshToken {
		lookups[0], lookups[1] = lookups[1], lookups[0]
	}
	for _, lookup := range lookups {
		info, err := lookup(ctx, t.Name, token)
		if !errors.Is(err, ErrInvalidToken) {
			return info, err
		}
	}
	return nil, fmt.Errorf("%w: unknown token", ErrInvalidToken)
}

// opaqueRefreshToken looks up an opaque refresh token by its HMAC signature and
// checks it as fosite's validator does (signature, expiry), and its expiry against the
// server's clock as well, as for the JWT form.
func (p *Provider) opaqueRefreshToken(ctx context.Context, tenant, token string) (*AccessInfo, error) {
	sess := NewSession()
	ar, err := p.store.GetRefreshTokenSession(ctx, p.hmac.RefreshTokenSignature(ctx, token), sess)
	if err != nil {
		return nil, lookupError(UseRefreshToken, err)
	}
	if err := p.hmac.ValidateRefreshToken(ctx, ar, token); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if err := p.checkExpiry(sess.GetExpiresAt(fosite.RefreshToken)); err != nil {
		return nil, err
	}
	info, err := accessInfoOf(tenant, ar, fosite.RefreshToken)
	if err != nil {
		return nil, err
	}
	info.Use = UseRefreshToken
	return info, nil
}

// opaqueAccessToken looks up an opaque access token, the path of every validation,
// introspection, /me and userinfo: the store answers what the token says from its
// columns (AccessTokenInfo) without decoding the stored request, then the token is
// checked as fosite's validator checks it (its HMAC, which the lookup by signature does
// not prove, and its expiry) and against the server's clock as well.
func (p *Provider) opaqueAccessToken(ctx context.Context, tenant, token string) (*AccessInfo, error) {
	info, err := p.store.AccessTokenInfo(ctx, p.hmac.AccessTokenSignature(ctx, token))
	if err != nil {
		return nil, lookupError(UseAccessToken, err)
	}
	stored := &fosite.Request{RequestedAt: info.IssuedAt,
		Session: &fosite.DefaultSession{ExpiresAt: map[fosite.TokenType]time.Time{fosite.AccessToken: info.ExpiresAt}}}
	if err := p.hmac.ValidateAccessToken(ctx, stored, token); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if err := p.checkExpiry(info.ExpiresAt); err != nil {
		return nil, err
	}
	info.Tenant, info.Use = tenant, UseAccessToken
	return info, nil
}

// lookupError is the error of a failed lookup of an opaque token: ErrInvalidToken when
// the store has no live token of that signature, else the storage failure.
func lookupError(use string, err error) error {
	if errors.Is(err, fosite.ErrNotFound) || errors.Is(err, fosite.ErrInactiveToken) {
		return fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	return fmt.Errorf("look up %s: %w", use, err)
}

// checkExpiry is ErrInvalidToken when a stored token's expiry (zero: none) has passed
// on the server's clock.
func (p *Provider) checkExpiry(exp time.Time) error {
	if !exp.IsZero() && !p.now().Before(exp) {
		return fmt.Errorf("%w: expired", ErrInvalidToken)
	}
	return nil
}

// accessInfoOf describes a stored token request; kind picks the expiry.
func accessInfoOf(tenant string, ar fosite.Requester, kind fosite.TokenType) (*AccessInfo, error) {
	s, ok := ar.GetSession().(*Session)
	if !ok {
		return nil, fmt.Errorf("token: unexpected session %T", ar.GetSession())
	}
	return &AccessInfo{
		Tenant:     tenant,
		Subject:    s.Subject,
		ClientID:   ar.GetClient().GetID(),
		Scopes:     ar.GetGrantedScopes(),
		SessionID:  s.SessionID,
		Anonymous:  s.Anonymous,
		AccountID:  s.AccountID,
		AMR:        s.AMR,
		Audience:   ar.GetGrantedAudience(),
		ThirdParty: s.ThirdParty,
		DeviceID:   s.DeviceID,
		IssuedAt:   ar.GetRequestedAt(),
		ExpiresAt:  s.GetExpiresAt(kind),
		RequestID:  ar.GetID(),
	}, nil
}

func (p *Provider) validateJWT(ctx context.Context, tenant, token string) (*AccessInfo, error) {
	var c accessClaims
	hdr, err := p.keys.Verify(ctx, tenant, token, &c)
	if errors.Is(err, identity.ErrInvalid) {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if err != nil {
		return nil, fmt.Errorf("validate access token: %w", err)
	}
	if typ, _ := hdr.ExtraHeaders[jose.HeaderType].(string); !strings.EqualFold(typ, "at+jwt") {
		return nil, fmt.Errorf("%w: not an access token (typ %q)", ErrInvalidToken, typ)
	}
	now := p.now()
	if c.Issuer != p.Issuer(tenant) || c.Tenant != tenant {
		return nil, fmt.Errorf("%w: issued by %q", ErrInvalidToken, c.Issuer)
	}
	exp := time.Unix(c.ExpiresAt, 0)
	if !now.Before(exp) {
		return nil, fmt.Errorf("%w: expired", ErrInvalidToken)
	}
	// An anonymous shopper's JWT is as stateless as its opaque form (anonymous.go):
	// there is no stored family to ask.
	if !c.Anonymous {
		active, err := p.store.AccessTokenByJTI(ctx, tenant, c.JTI)
		if err != nil {
			return nil, fmt.Errorf("validate access token: %w", err)
		}
		if !active {
			return nil, fmt.Errorf("%w: revoked", ErrInvalidToken)
		}
	}
	var scopes []string
	if c.Scope != "" {
		scopes = strings.Fields(c.Scope)
	}
	// The claim names the issuer when no audience was granted; AccessInfo keeps the
	// granted audience only, as for the opaque form.
	aud := c.Audience
	if len(aud) == 1 && aud[0] == c.Issuer {
		aud = nil
	}
	// A client's own token (client_credentials) names the client as its subject (RFC
	// 9068 §2.2) and has no shopper session; every customer's token has one. The
	// subject is then the client's, not a customer's: answer it as the opaque form
	// does, empty, so a client whose id looks like a customer number is no customer.
	subject := c.Subject
	if c.SessionID == "" && subject == c.ClientID {
		subject = ""
	}
	return &AccessInfo{
		Tenant:     tenant,
		Subject:    subject,
		ClientID:   c.ClientID,
		Scopes:     scopes,
		SessionID:  c.SessionID,
		Anonymous:  c.Anonymous,
		AccountID:  c.AccountID,
		AMR:        c.AMR,
		Audience:   aud,
		ThirdParty: c.ThirdParty,
		IssuedAt:   time.Unix(c.IssuedAt, 0),
		ExpiresAt:  exp,
		Use:        UseAccessToken,
	}, nil
}

// RevokeToken revokes the whole family of a token: an opaque access or refresh token
// (found by its signature) or a JWT access token (found by its jti). It answers
// ErrInvalidToken when the token is not one of the tenant's.
func (p *Provider) RevokeToken(ctx context.Context, token string) error {
	t := identity.TenantFromContext(ctx)
	if t == nil {
		return errors.New("revoke token: no tenant in context")
	}
	family := ""
	switch {
	case IsAnonymousToken(token):
		// Stateless: nothing to revoke; it expires by itself (at most anonymousAccessTTL).
		for _, use := range []string{anonAccess, anonRefresh} {
			if _, err := p.openAnonymous(t.Name, token, use); err == nil {
				return nil
			}
		}
		return fmt.Errorf("%w: unknown token", ErrInvalidToken)
	case strings.Count(token, ".") == 2:
		var c accessClaims
		if _, err := p.keys.Verify(ctx, t.Name, token, &c); errors.Is(err, identity.ErrInvalid) {
			return fmt.Errorf("%w: %w", ErrInvalidToken, err)
		} else if err != nil {
			return fmt.Errorf("revoke token: %w", err)
		}
		if c.Anonymous {
			return nil // stateless, like the opaque form
		}
		f, err := p.store.FamilyByJTI(ctx, t.Name, c.JTI)
		if errors.Is(err, fosite.ErrNotFound) {
			return fmt.Errorf("%w: %w", ErrInvalidToken, err)
		} else if err != nil {
			return fmt.Errorf("revoke token: %w", err)
		}
		family = f
	default:
		if ar, err := p.store.GetAccessTokenSession(ctx, p.hmac.AccessTokenSignature(ctx, token), NewSession()); err == nil {
			family = ar.GetID()
		} else if ar, err := p.store.GetRefreshTokenSession(ctx, p.hmac.RefreshTokenSignature(ctx, token), NewSession()); ar != nil && (err == nil || errors.Is(err, fosite.ErrInactiveToken)) {
			family = ar.GetID()
		} else {
			return fmt.Errorf("%w: unknown token", ErrInvalidToken)
		}
	}
	if err := p.store.RevokeAccessToken(ctx, family); err != nil {
		return err
	}
	return p.store.RevokeRefreshToken(ctx, family)
}

// IsAnonymousRefreshToken reports whether a live refresh token belongs to an anonymous
// shopper, without rotating it. Unknown or used tokens answer an error.
func (p *Provider) IsAnonymousRefreshToken(ctx context.Context, token string) (bool, error) {
	info, err := p.RefreshTokenInfo(ctx, token)
	if err != nil {
		return false, err
	}
	return info.Anonymous, nil
}

// RefreshTokenInfo describes a refresh token that a refresh would accept (live, or
// rotated moments ago within the grace window), without rotating it and without any
// other effect: a replayed token is left for the refresh itself to detect. Unknown,
// used and revoked tokens answer ErrInvalidToken. The ctx must carry the tenant.
func (p *Provider) RefreshTokenInfo(ctx context.Context, token string) (*AccessInfo, error) {
	t := identity.TenantFromContext(ctx)
	if t == nil {
		return nil, errors.New("refresh token info: no tenant in context")
	}
	if IsAnonymousToken(token) {
		c, err := p.openAnonymous(t.Name, token, anonRefresh)
		if err != nil {
			return nil, err
		}
		return anonymousInfo(c, UseRefreshToken), nil
	}
	ar, err := p.store.PeekRefreshTokenSession(ctx, p.hmac.RefreshTokenSignature(ctx, token), NewSession())
	switch {
	case errors.Is(err, fosite.ErrNotFound), errors.Is(err, fosite.ErrInactiveToken):
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	case err != nil:
		return nil, fmt.Errorf("refresh token info: %w", err)
	}
	return accessInfoOf(t.Name, ar, fosite.RefreshToken)
}
