package oauth

// Stateless anonymous shopper tokens. An anonymous token authorises nothing but the
// storefront's calls before a sign-in (signup, login, reset) and names the shopper
// session (cart) the sign-in carries over, so it needs no row: it is its own record,
// signed with a key derived from the server secret. Issuing, validating and refreshing
// one writes nothing, so bot traffic costs no database rows (docs/performance.md).
//
// Form: "cat_" + base64url(JSON claims) + "." + base64url(HMAC-SHA256). The access
// token lives at most anonymousAccessTTL (or the tenant's shorter access lifetime);
// the refresh token the tenant's refresh lifetime. A refresh answers a new pair with
// the same subject and session id. What a row gave and a stateless token cannot:
// revocation and refresh-token reuse detection. Neither protects anything for a token
// with no account behind it; a customer's tokens stay stored, rotating and revocable.

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/custodian-id/custodian/identity"
)

// anonymousPrefix starts every stateless anonymous token.
const anonymousPrefix = "cat_"

// anonymousAccessTTL bounds an anonymous access token's lifetime: short-lived, its
// refresh token keeps the shopper session going.
const anonymousAccessTTL = time.Hour

// Uses of an anonymous token.
const (
	anonAccess  = "a"
	anonRefresh = "r"
)

// anonymousClaims are what a stateless anonymous token says.
type anonymousClaims struct {
	Use       string   `json:"u"`
	Tenant    string   `json:"t"`
	ClientID  string   `json:"c"`
	Subject   string   `json:"s"`
	SessionID string   `json:"sid"`
	Scopes    []string `json:"sc,omitempty"`
	IssuedAt  int64    `json:"iat"`
	ExpiresAt int64    `json:"exp"`
	ID        string   `json:"jti"`
}

// IsAnonymousToken reports whether a token has the stateless anonymous form (not
// whether it is valid).
func IsAnonymousToken(token string) bool { return strings.HasPrefix(token, anonymousPrefix) }

func (p *Provider) anonymousMAC(payload string) []byte {
	m := hmac.New(sha256.New, p.anonKey)
	m.Write([]byte("custodian/anonymous-token|" + payload))
	return m.Sum(nil)
}

// signAnonymous writes a stateless anonymous token.
func (p *Provider) signAnonymous(c anonymousClaims) (string, error) {
	id := make([]byte, 12)
	if _, err := io.ReadFull(p.rand, id); err != nil {
		return "", fmt.Errorf("anonymous token: %w", err)
	}
	c.ID = base64.RawURLEncoding.EncodeToString(id)
	raw, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("anonymous token: %w", err)
	}
	payload := base64.RawURLEncoding.EncodeToString(raw)
	return anonymousPrefix + payload + "." + base64.RawURLEncoding.EncodeToString(p.anonymousMAC(payload)), nil
}

// openAnonymous checks a stateless anonymous token of a use for a tenant: the
// signature, the tenant and the expiry. Anything else is ErrInvalidToken.
func (p *Provider) openAnonymous(tenant, token, use string) (*anonymousClaims, error) {
	body, ok := strings.CutPrefix(token, anonymousPrefix)
	payload, mac, ok2 := strings.Cut(body, ".")
	if !ok || !ok2 {
		return nil, fmt.Errorf("%w: malformed anonymous token", ErrInvalidToken)
	}
	got, err := base64.RawURLEncoding.DecodeString(mac)
	if err != nil || !hmac.Equal(got, p.anonymousMAC(payload)) {
		return nil, fmt.Errorf("%w: bad anonymous token signature", ErrInvalidToken)
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return nil, fmt.Errorf("%w: malformed anonymous token", ErrInvalidToken)
	}
	var c anonymousClaims
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("%w: malformed anonymous token", ErrInvalidToken)
	}
	switch {
	case c.Use != use:
		return nil, fmt.Errorf("%w: not an anonymous %s token", ErrInvalidToken, use)
	case c.Tenant != tenant:
		return nil, fmt.Errorf("%w: another tenant's token", ErrInvalidToken)
	case !p.now().Before(time.Unix(c.ExpiresAt, 0)):
		return nil, fmt.Errorf("%w: expired", ErrInvalidToken)
	}
	return &c, nil
}

// anonymousInfo describes a valid stateless anonymous token.
func anonymousInfo(c *anonymousClaims, use string) *AccessInfo {
	return &AccessInfo{Tenant: c.Tenant, Subject: c.Subject, ClientID: c.ClientID, Scopes: c.Scopes, SessionID: c.SessionID,
		Anonymous: true, IssuedAt: time.Unix(c.IssuedAt, 0), ExpiresAt: time.Unix(c.ExpiresAt, 0), Use: use}
}

// issueAnonymous answers an anonymous access request with stateless tokens: the
// access token and, when the client may refresh, a refresh token. Nothing is stored.
func (p *Provider) issueAnonymous(ctx context.Context, ar fosite.AccessRequester, resp fosite.AccessResponder) error {
	t := identity.TenantFromContext(ctx)
	sess, ok := ar.GetSession().(*Session)
	if t == nil || !ok {
		return fosite.ErrServerError.WithDebug("anonymous token: no tenant or session")
	}
	now := p.now().UTC()
	atl := min(p.fconf.GetAccessTokenLifespan(ctx), anonymousAccessTTL)
	exp := now.Add(atl).Round(time.Second)
	sess.SetExpiresAt(fosite.AccessToken, exp)
	c := anonymousClaims{Use: anonAccess, Tenant: t.Name, ClientID: ar.GetClient().GetID(), Subject: sess.Subject,
		SessionID: sess.SessionID, Scopes: ar.GetGrantedScopes(), IssuedAt: now.Unix(), ExpiresAt: exp.Unix()}
	access, err := p.signAnonymous(c)
	if err != nil {
		return fosite.ErrServerError.WithWrap(err)
	}
	resp.SetAccessToken(access)
	resp.SetTokenType("bearer")
	resp.SetExpiresIn(exp.Sub(now))
	resp.SetScopes(ar.GetGrantedScopes())
	if ar.GetClient().GetGrantTypes().Has(identity.GrantRefreshToken) {
		rexp := now.Add(p.fconf.GetRefreshTokenLifespan(ctx)).Round(time.Second)
		sess.SetExpiresAt(fosite.RefreshToken, rexp)
		c.Use, c.ExpiresAt = anonRefresh, rexp.Unix()
		refresh, err := p.signAnonymous(c)
		if err != nil {
			return fosite.ErrServerError.WithWrap(err)
		}
		resp.SetExtra("refresh_token", refresh)
	}
	return nil
}

// anonymousRefresh is the refresh grant for stateless anonymous refresh tokens, at the
// token endpoint and for the customer APIs: a valid refresh token of the calling
// client gets a new pair with the same subject and session. fosite's own refresh
// handlers never see such a token (skipAnonymousRefresh).
type anonymousRefresh struct{ p *Provider }

func anonymousRefreshRequest(ar fosite.AccessRequester) bool {
	return ar.GetGrantTypes().ExactOne(identity.GrantRefreshToken) && IsAnonymousToken(ar.GetRequestForm().Get("refresh_token"))
}

func (h *anonymousRefresh) CanHandleTokenEndpointRequest(_ context.Context, ar fosite.AccessRequester) bool {
	return anonymousRefreshRequest(ar)
}

func (h *anonymousRefresh) CanSkipClientAuth(context.Context, fosite.AccessRequester) bool {
	return false
}

func (h *anonymousRefresh) HandleTokenEndpointRequest(ctx context.Context, ar fosite.AccessRequester) error {
	if !anonymousRefreshRequest(ar) {
		return fosite.ErrUnknownRequest
	}
	t := identity.TenantFromContext(ctx)
	if t == nil {
		return fosite.ErrServerError.WithDebug("no tenant in context")
	}
	if !ar.GetClient().GetGrantTypes().Has(identity.GrantRefreshToken) {
		return fosite.ErrUnauthorizedClient.WithHint("The client is not allowed to use the refresh_token grant.")
	}
	c, err := h.p.openAnonymous(t.Name, ar.GetRequestForm().Get("refresh_token"), anonRefresh)
	if err != nil {
		return fosite.ErrInvalidGrant.WithHint("The refresh token is malformed, expired or not valid.").WithWrap(err)
	}
	if c.ClientID != ar.GetClient().GetID() {
		return fosite.ErrInvalidGrant.WithHint("The refresh token was issued to another client.")
	}
	sess, ok := ar.GetSession().(*Session)
	if !ok {
		return fosite.ErrServerError.WithDebug("unexpected session type")
	}
	sess.Tenant, sess.Subject, sess.SessionID, sess.Anonymous = t.Name, c.Subject, c.SessionID, true
	for _, s := range c.Scopes {
		ar.GrantScope(s)
	}
	ar.SetRequestedScopes(c.Scopes)
	return nil
}

func (h *anonymousRefresh) PopulateTokenEndpointResponse(ctx context.Context, ar fosite.AccessRequester, resp fosite.AccessResponder) error {
	if !anonymousRefreshRequest(ar) {
		return fosite.ErrUnknownRequest
	}
	return h.p.issueAnonymous(ctx, ar, resp)
}

// skipAnonymousRefresh keeps a stateless anonymous refresh token away from fosite's
// stored refresh handlers (anonymousRefresh handles it).
type skipAnonymousRefresh struct{ fosite.TokenEndpointHandler }

func (h skipAnonymousRefresh) CanHandleTokenEndpointRequest(ctx context.Context, ar fosite.AccessRequester) bool {
	return !anonymousRefreshRequest(ar) && h.TokenEndpointHandler.CanHandleTokenEndpointRequest(ctx, ar)
}

func (h skipAnonymousRefresh) HandleTokenEndpointRequest(ctx context.Context, ar fosite.AccessRequester) error {
	if anonymousRefreshRequest(ar) {
		return fosite.ErrUnknownRequest
	}
	return h.TokenEndpointHandler.HandleTokenEndpointRequest(ctx, ar)
}

func (h skipAnonymousRefresh) PopulateTokenEndpointResponse(ctx context.Context, ar fosite.AccessRequester, resp fosite.AccessResponder) error {
	if anonymousRefreshRequest(ar) {
		return fosite.ErrUnknownRequest
	}
	return h.TokenEndpointHandler.PopulateTokenEndpointResponse(ctx, ar, resp)
}
