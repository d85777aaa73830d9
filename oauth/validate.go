package oauth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite"
)

// ErrInvalidToken is returned for an access token that is unknown, expired, revoked or
// of another tenant.
var ErrInvalidToken = errors.New("invalid access token")

// AccessInfo is what an access token says about its bearer.
type AccessInfo struct {
	Tenant    string
	Subject   string
	ClientID  string
	Scopes    []string
	SessionID string
	Anonymous bool
	AccountID string
	AMR       []string
	// ThirdParty: a client that is not first-party got the token through the consent
	// page (Session.ThirdParty).
	ThirdParty bool
	DeviceID   string // the device of the sign-in; known for opaque tokens only
	ExpiresAt  time.Time
	RequestID  string // token family; empty for JWT access tokens
}

// ValidateAccessToken accepts either form Custodian issues: the opaque access token
// (looked up by its HMAC signature) or the RFC 9068 JWT access token (signature
// verified against the tenant's keys, then its jti checked against the store so
// revocation reaches it too). The ctx must carry the tenant.
func (p *Provider) ValidateAccessToken(ctx context.Context, token string) (*AccessInfo, error) {
	t := TenantFromContext(ctx)
	if t == nil {
		return nil, errors.New("validate access token: no tenant in context")
	}
	if strings.Count(token, ".") == 2 {
		return p.validateJWT(ctx, t.Name, token)
	}
	sess := NewSession()
	_, ar, err := p.fosite.IntrospectToken(ctx, token, fosite.AccessToken, sess)
	if err != nil {
		if errors.Is(err, fosite.ErrServerError) {
			return nil, fmt.Errorf("validate access token: %w", err)
		}
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	return accessInfoOf(t.Name, ar, fosite.AccessToken)
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
		ThirdParty: s.ThirdParty,
		DeviceID:   s.DeviceID,
		ExpiresAt:  s.GetExpiresAt(kind),
		RequestID:  ar.GetID(),
	}, nil
}

func (p *Provider) validateJWT(ctx context.Context, tenant, token string) (*AccessInfo, error) {
	var c accessClaims
	hdr, err := p.keys.Verify(ctx, tenant, token, &c)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
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
	active, err := p.store.AccessTokenByJTI(ctx, tenant, c.JTI)
	if err != nil {
		return nil, fmt.Errorf("validate access token: %w", err)
	}
	if !active {
		return nil, fmt.Errorf("%w: revoked", ErrInvalidToken)
	}
	var scopes []string
	if c.Scope != "" {
		scopes = strings.Fields(c.Scope)
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
		ThirdParty: c.ThirdParty,
		ExpiresAt:  exp,
	}, nil
}

// RevokeToken revokes the whole family of a token: an opaque access or refresh token
// (found by its signature) or a JWT access token (found by its jti). It answers
// ErrInvalidToken when the token is not one of the tenant's.
func (p *Provider) RevokeToken(ctx context.Context, token string) error {
	t := TenantFromContext(ctx)
	if t == nil {
		return errors.New("revoke token: no tenant in context")
	}
	family := ""
	switch {
	case strings.Count(token, ".") == 2:
		var c accessClaims
		if _, err := p.keys.Verify(ctx, t.Name, token, &c); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidToken, err)
		}
		f, err := p.store.FamilyByJTI(ctx, t.Name, c.JTI)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidToken, err)
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
	t := TenantFromContext(ctx)
	if t == nil {
		return nil, errors.New("refresh token info: no tenant in context")
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
