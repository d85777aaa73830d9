package oauth

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/ory/fosite"

	"github.com/custodian-id/custodian/api"
	"github.com/custodian-id/custodian/identity"
)

// writeUnavailable answers a storage failure in the OAuth error shape: 503
// temporarily_unavailable (RFC 6749 §4.1.2.1) with Retry-After.
func writeUnavailable(w http.ResponseWriter, desc string) {
	api.SetRetryAfter(w, api.UnavailableRetryAfter)
	writeOAuthError(w, http.StatusServiceUnavailable, "temporarily_unavailable", desc)
}

func writeOAuthError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Cache-Control", "no-store")
	api.WriteJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

// discovery serves OpenID Connect Discovery 1.0 / RFC 8414 metadata of the tenant.
func (p *Provider) discovery(w http.ResponseWriter, r *http.Request) {
	t := identity.TenantFromContext(r.Context())
	iss := p.Issuer(t.Name)
	grants := []string{}
	for _, g := range []string{identity.GrantAuthorizationCode, identity.GrantRefreshToken, identity.GrantClientCredentials, identity.GrantAnonymous, identity.GrantPassword, identity.GrantTokenExchange} {
		if t.Settings.GrantAllowed(g) {
			grants = append(grants, g)
		}
	}
	w.Header().Set("Cache-Control", "public, max-age=300")
	api.WriteJSON(w, http.StatusOK, map[string]any{
		"issuer":                                        iss,
		"authorization_endpoint":                        iss + "/auth",
		"token_endpoint":                                iss + "/token",
		"jwks_uri":                                      iss + "/jwks.json",
		"userinfo_endpoint":                             iss + "/userinfo",
		"introspection_endpoint":                        iss + "/introspect",
		"revocation_endpoint":                           iss + "/revoke",
		"end_session_endpoint":                          iss + "/logout",
		"response_types_supported":                      []string{"code"},
		"response_modes_supported":                      []string{"query", "form_post"},
		"grant_types_supported":                         grants,
		"subject_types_supported":                       []string{"public"},
		"id_token_signing_alg_values_supported":         []string{"ES256", "RS256"},
		"scopes_supported":                              []string{"openid", "profile", "email", "offline_access", ScopeProfileView, ScopeProfileEdit, ScopeAccountManage},
		"claims_supported":                              []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid", "email", "email_verified", "name", "given_name", "family_name", "updated_at"},
		"token_endpoint_auth_methods_supported":         []string{"client_secret_basic", "client_secret_post", "none"},
		"introspection_endpoint_auth_methods_supported": []string{"client_secret_basic"},
		"revocation_endpoint_auth_methods_supported":    []string{"client_secret_basic", "client_secret_post", "none"},
		"code_challenge_methods_supported":              []string{"S256"},
		"acr_values_supported":                          []string{"1", "2"},
		"prompt_values_supported":                       []string{"none", "login", "consent"},
		"claims_parameter_supported":                    false,
		"request_parameter_supported":                   false,
		"request_uri_parameter_supported":               false,
	})
}

func (p *Provider) jwks(w http.ResponseWriter, r *http.Request) {
	t := identity.TenantFromContext(r.Context())
	set, err := p.keys.PublicKeys(r.Context(), t.Name)
	if err != nil {
		p.log.ErrorContext(r.Context(), "jwks", "tenant", t.Name, "err", err)
		if api.Unavailable(err) {
			writeUnavailable(w, "the keys could not be loaded; try again")
			return
		}
		writeOAuthError(w, http.StatusInternalServerError, "server_error", "the keys could not be loaded")
		return
	}
	// The next key is published before it signs, so caches of a few minutes are safe.
	w.Header().Set("Cache-Control", "public, max-age=300")
	api.WriteJSON(w, http.StatusOK, set)
}

func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	t := identity.TenantFromContext(ctx)
	// The tenant's grant policy is checked before anything else runs, so a refused
	// grant has no side effect (no password is checked, no code consumed).
	if grant := r.PostFormValue("grant_type"); grant != "" && !t.Settings.GrantAllowed(grant) {
		p.fosite.WriteAccessError(ctx, w, fosite.NewAccessRequest(nil),
			fosite.ErrUnsupportedGrantType.WithHintf("The grant type %q is not enabled for this tenant.", grant))
		return
	}
	// The JWT access token is signed after the grant's writes committed (a refresh
	// token rotated, a code used): the key is read now, so that nothing after the
	// commit can fail on the store.
	ctx, err := p.keys.Preload(ctx, t.Name)
	if err != nil {
		p.writeAccessError(w, r, fosite.NewAccessRequest(nil), fmt.Errorf("signing key: %w", err))
		return
	}
	sess := NewSession()
	sess.Tenant = t.Name
	ar, err := p.fosite.NewAccessRequest(ctx, r, sess)
	if err != nil {
		p.writeAccessError(w, r, ar, err)
		return
	}
	if ar.GetGrantTypes().ExactOne(identity.GrantClientCredentials) {
		for _, s := range ar.GetRequestedScopes() {
			ar.GrantScope(s)
		}
		for _, a := range ar.GetRequestedAudience() {
			ar.GrantAudience(a)
		}
	}
	resp, err := p.fosite.NewAccessResponse(ctx, ar)
	if err != nil {
		p.writeAccessError(w, r, ar, err)
		return
	}
	p.fosite.WriteAccessResponse(ctx, w, ar, resp)
}

// writeAccessError is the one place token-endpoint failures are shaped: a code used
// twice concurrently surfaces from fosite as a server error, but it is the client's
// invalid_grant.
func (p *Provider) writeAccessError(w http.ResponseWriter, r *http.Request, ar fosite.AccessRequester, err error) {
	if errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) {
		err = fosite.ErrInvalidGrant.WithHint("The authorization code has already been used.")
	}
	// A storage failure is no verdict on the client, the code or the token (fosite
	// words a failed client lookup as invalid_client): the caller may try again.
	if api.Unavailable(err) {
		p.log.ErrorContext(r.Context(), "token endpoint: storage unavailable", "err", err)
		api.SetRetryAfter(w, api.UnavailableRetryAfter)
		p.fosite.WriteAccessError(r.Context(), w, ar, fosite.ErrTemporarilyUnavailable.WithHint("Try again in a moment.").WithWrap(err))
		return
	}
	var rl *identity.RateLimitError
	if errors.As(err, &rl) {
		api.SetRetryAfter(w, rl.RetryAfter)
	}
	var rfc *fosite.RFC6749Error
	if errors.As(err, &rfc) && rfc.CodeField >= 500 {
		p.log.ErrorContext(r.Context(), "token endpoint", "err", err, "debug", rfc.DebugField)
	}
	p.fosite.WriteAccessError(r.Context(), w, ar, err)
}

func (p *Provider) revoke(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	err := p.fosite.NewRevocationRequest(ctx, r)
	// fosite answers 200 to every error but invalid_request and invalid_client (RFC
	// 7009 §2.2 for an invalid token). A revocation that could not be done, because the
	// client or the token could not be read or the write failed, is a 503: never a
	// 200 for a token that is still live.
	var rfc *fosite.RFC6749Error
	if api.Unavailable(err) || errors.Is(err, fosite.ErrTemporarilyUnavailable) || (errors.As(err, &rfc) && rfc.CodeField >= 500) {
		p.log.ErrorContext(ctx, "revocation failed", "err", err)
		writeUnavailable(w, "the token could not be revoked; try again")
		return
	}
	p.fosite.WriteRevocationResponse(ctx, w, err)
}

// bearerToken reads an RFC 6750 bearer token from the Authorization header or, for
// form posts, the access_token field.
func bearerToken(r *http.Request) string {
	if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	if r.Method == http.MethodPost && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		return r.PostFormValue("access_token")
	}
	return ""
}

func writeBearerError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("WWW-Authenticate", `Bearer error="`+code+`", error_description="`+desc+`"`)
	writeOAuthError(w, status, code, desc)
}

// userinfo serves the OpenID Connect claims of the token's customer.
func (p *Provider) userinfo(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	tok := bearerToken(r)
	if tok == "" {
		writeBearerError(w, http.StatusUnauthorized, "invalid_token", "a bearer access token is required")
		return
	}
	info, err := p.ValidateAccessToken(ctx, tok)
	if err != nil && !errors.Is(err, ErrInvalidToken) {
		p.log.ErrorContext(ctx, "userinfo: validate token", "err", err)
		writeUnavailable(w, "the access token could not be checked; try again")
		return
	}
	if err != nil {
		writeBearerError(w, http.StatusUnauthorized, "invalid_token", "the access token is not valid")
		return
	}
	if !containsScope(info.Scopes, "openid") {
		writeBearerError(w, http.StatusForbidden, "insufficient_scope", "the token was not granted the openid scope")
		return
	}
	id, err := strconv.ParseInt(info.Subject, 10, 64)
	if info.Anonymous || err != nil || p.claims == nil {
		writeBearerError(w, http.StatusForbidden, "insufficient_scope", "the token does not belong to a customer")
		return
	}
	claims, err := p.claims.Claims(ctx, info.Tenant, id, info.Scopes)
	if err != nil {
		p.log.ErrorContext(ctx, "userinfo claims", "err", err)
		if api.Unavailable(err) {
			writeUnavailable(w, "the customer could not be read; try again")
			return
		}
		writeBearerError(w, http.StatusUnauthorized, "invalid_token", "the customer behind the token is gone")
		return
	}
	claims["sub"] = info.Subject
	w.Header().Set("Cache-Control", "no-store")
	api.WriteJSON(w, http.StatusOK, claims)
}

func containsScope(scopes []string, s string) bool {
	for _, v := range scopes {
		if v == s {
			return true
		}
	}
	return false
}
