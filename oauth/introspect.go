package oauth

// Token introspection (RFC 7662) and the revocation of JWT access tokens (RFC 7009).
//
// Introspection answers only an authenticated confidential client, and only about
// tokens it may see (RFC 7662 §4): tokens issued to it, tokens whose audience names
// it, or, for a client holding BehaviorIntrospectAny (a resource server of the
// tenant), every token of the tenant. Every other token is {"active": false}, exactly
// as an unknown one. Public clients cannot authenticate, so they cannot introspect.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/ory/fosite"

	"github.com/custodian-id/custodian/api"
	"github.com/custodian-id/custodian/identity"
)

// introspectionRealm is the WWW-Authenticate challenge of the introspection endpoint.
const introspectionRealm = `Basic realm="custodian", charset="UTF-8"`

// MayIntrospect is the one rule of who may learn about a token at the introspection
// endpoint: the client it was issued to, a client its granted audience names, or a
// client holding BehaviorIntrospectAny.
func MayIntrospect(caller *Client, tok *AccessInfo) bool {
	return caller.HasBehavior(BehaviorIntrospectAny) || tok.ClientID == caller.ID || slices.Contains(tok.Audience, caller.ID)
}

// introspect is POST /oauth2/{tenant}/introspect.
func (p *Provider) introspect(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	t := identity.TenantFromContext(ctx)
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "the body must be a form (application/x-www-form-urlencoded)")
		return
	}
	caller, err := p.introspectionCaller(ctx, r, t.Name)
	if err != nil {
		var rfc *fosite.RFC6749Error
		if errors.As(err, &rfc) && rfc.CodeField == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", introspectionRealm)
			writeOAuthError(w, http.StatusUnauthorized, rfc.ErrorField, rfc.GetDescription())
			return
		}
		p.log.ErrorContext(ctx, "introspection: authenticate client", "err", err)
		writeUnavailable(w, "the client could not be checked; try again")
		return
	}
	token := r.PostForm.Get("token")
	if token == "" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "the token parameter is required")
		return
	}
	tok, err := p.InspectToken(ctx, token, r.PostForm.Get("token_type_hint"))
	if err != nil && !errors.Is(err, ErrInvalidToken) {
		p.log.ErrorContext(ctx, "introspection: look up token", "err", err)
		writeUnavailable(w, "the token could not be looked up; try again")
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	if err != nil || !MayIntrospect(caller, tok) || !coversScopes(tok.Scopes, strings.Fields(r.PostForm.Get("scope"))) {
		api.WriteJSON(w, http.StatusOK, map[string]bool{"active": false})
		return
	}
	api.WriteJSON(w, http.StatusOK, p.introspection(t, tok))
}

// introspectionCaller authenticates the caller with HTTP Basic client credentials
// (client_secret_basic, the method discovery names). It answers an RFC 6749 error
// with status 401 for missing or wrong credentials and for public clients; any other
// error is a storage failure.
func (p *Provider) introspectionCaller(ctx context.Context, r *http.Request, tenant string) (*Client, error) {
	rawID, rawSecret, ok := r.BasicAuth()
	if !ok {
		return nil, fosite.ErrInvalidClient.WithHint("Authenticate with the client's credentials (HTTP Basic).")
	}
	// RFC 6749 §2.3.1: both are form-encoded before they are put in the header.
	id, err1 := url.QueryUnescape(rawID)
	secret, err2 := url.QueryUnescape(rawSecret)
	if err1 != nil || err2 != nil {
		return nil, fosite.ErrInvalidClient.WithHint("The client credentials are not form-encoded.")
	}
	c, err := p.AuthenticateClient(ctx, tenant, id, secret)
	switch {
	case errors.Is(err, identity.ErrNotFound), errors.Is(err, identity.ErrInvalidCredentials):
		return nil, fosite.ErrInvalidClient.WithHint("Client authentication failed.")
	case err != nil:
		return nil, fmt.Errorf("authenticate client %q: %w", id, err)
	case c.Public:
		return nil, fosite.ErrInvalidClient.WithHint("A public client cannot authenticate, so it cannot introspect tokens.")
	}
	return c, nil
}

// introspection is the RFC 7662 §2.2 answer for an active token. Both forms of an
// access token (opaque and JWT) answer the same.
func (p *Provider) introspection(t *identity.Tenant, tok *AccessInfo) map[string]any {
	out := map[string]any{
		"active":    true,
		"iss":       p.Issuer(t.Name),
		"client_id": tok.ClientID,
		"token_use": tok.Use,
	}
	if tok.Use == UseAccessToken {
		out["token_type"] = "Bearer"
	}
	// client_credentials tokens have no customer: the client is the subject, as in
	// the JWT form (RFC 9068 §2.2).
	if sub := tok.Subject; sub != "" {
		out["sub"] = sub
	} else {
		out["sub"] = tok.ClientID
	}
	if len(tok.Scopes) > 0 {
		out["scope"] = strings.Join(tok.Scopes, " ")
	}
	if len(tok.Audience) > 0 {
		out["aud"] = tok.Audience
	} else {
		out["aud"] = []string{p.Issuer(t.Name)}
	}
	if !tok.ExpiresAt.IsZero() {
		out["exp"] = tok.ExpiresAt.Unix()
	}
	if !tok.IssuedAt.IsZero() {
		out["iat"] = tok.IssuedAt.Unix()
	}
	if tok.SessionID != "" {
		out["sid"] = tok.SessionID
	}
	if tok.Anonymous {
		out["anonymous"] = true
	}
	if tok.AccountID != "" {
		out["account_id"] = tok.AccountID
	}
	return out
}

// jwtRevocation lets the revocation endpoint revoke a JWT access token: its family
// (found by the jti the opaque twin is stored with) ends, as when the opaque token is
// revoked. fosite's own handler answers the opaque forms.
type jwtRevocation struct{ p *Provider }

func (h *jwtRevocation) RevokeToken(ctx context.Context, token string, _ fosite.TokenType, client fosite.Client) error {
	t := identity.TenantFromContext(ctx)
	if t == nil || strings.Count(token, ".") != 2 {
		return fosite.ErrUnknownRequest
	}
	tok, err := h.p.validateJWT(ctx, t.Name, token)
	if errors.Is(err, ErrInvalidToken) {
		return nil // RFC 7009 §2.2: an invalid token is not an error
	}
	if err != nil {
		return fosite.ErrTemporarilyUnavailable.WithWrap(err)
	}
	if tok.ClientID != client.GetID() {
		return fosite.ErrUnauthorizedClient
	}
	if err := h.p.RevokeToken(ctx, token); err != nil && !errors.Is(err, ErrInvalidToken) {
		return fosite.ErrTemporarilyUnavailable.WithWrap(err)
	}
	return nil
}
