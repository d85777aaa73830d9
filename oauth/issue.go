package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/ory/fosite"
	fositestorage "github.com/ory/fosite/storage"
	"github.com/ory/fosite/token/jwt"

	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/identity"
)

// IssueRequest describes tokens the customer APIs mint for a shopper.
type IssueRequest struct {
	Client    *Client
	Subject   string
	Scopes    []string
	SessionID string // empty: a fresh session id
	Anonymous bool
	AMR       []string
	AccountID string
	DeviceID  string    // the device the sign-in came from, if known
	Lifespans Lifespans // zero: the tenant's defaults
	Grant     string    // what the issuance is called in metrics and logs
	// ThirdParty carries Session.ThirdParty over when tokens of a third-party
	// family are re-issued (a re-scope); the customer APIs' own sign-ins leave it unset.
	ThirdParty bool
}

// IssueTokens mints an access token, a JWT access token and, when the client holds the
// refresh_token grant, a refresh token, as one fosite token family in one transaction.
// The ctx must carry the tenant.
func (p *Provider) IssueTokens(ctx context.Context, in IssueRequest) (*customer.TokenSet, error) {
	t := identity.TenantFromContext(ctx)
	if t == nil {
		return nil, errors.New("issue tokens: no tenant in context")
	}
	if in.Lifespans != (Lifespans{}) {
		ctx = WithLifespans(ctx, in.Lifespans)
	}
	sess := NewSession()
	sess.Tenant = t.Name
	sess.Subject = in.Subject
	sess.SessionID = in.SessionID
	if sess.SessionID == "" {
		sess.SessionID = uuid.NewString()
	}
	sess.Anonymous = in.Anonymous
	sess.AMR = in.AMR
	sess.AccountID = in.AccountID
	sess.DeviceID = in.DeviceID
	sess.ThirdParty = in.ThirdParty
	ar := fosite.NewAccessRequest(sess)
	ar.Client = in.Client
	ar.GrantTypes = fosite.Arguments{in.Grant}
	ar.SetRequestedScopes(in.Scopes)
	for _, s := range in.Scopes {
		ar.GrantScope(s)
	}
	resp := fosite.NewAccessResponse()
	if err := p.issue(ctx, ar, resp); err != nil {
		return nil, err
	}
	if err := p.addExtras(ctx, ar, resp); err != nil {
		return nil, err
	}
	return tokenSet(ar, resp), nil
}

// Refresh exchanges a refresh token through fosite's refresh handler, so the customer
// APIs get exactly the token endpoint's rotation, grace window and reuse detection.
// The client has been authenticated by the caller.
func (p *Provider) Refresh(ctx context.Context, client *Client, refreshToken string, l Lifespans) (*customer.TokenSet, error) {
	if l != (Lifespans{}) {
		ctx = WithLifespans(ctx, l)
	}
	if t := identity.TenantFromContext(ctx); t != nil {
		// Signing after the rotation committed must not read the store (see Preload).
		var err error
		if ctx, err = p.keys.Preload(ctx, t.Name); err != nil {
			return nil, fmt.Errorf("signing key: %w", err)
		}
	}
	ar := fosite.NewAccessRequest(NewSession())
	ar.Client = client
	ar.GrantTypes = fosite.Arguments{identity.GrantRefreshToken}
	ar.Form.Set("grant_type", identity.GrantRefreshToken)
	ar.Form.Set("refresh_token", refreshToken)
	ctx, err := p.handleTokenRequest(ctx, ar)
	if err != nil {
		return nil, err
	}
	resp, err := p.fosite.NewAccessResponse(ctx, ar)
	if err != nil {
		return nil, err
	}
	return tokenSet(ar, resp), nil
}

// handleTokenRequest runs an access request the server built itself (not parsed from
// HTTP) through the token endpoint's handlers, as fosite's NewAccessRequest would: the
// same checks, rotation and reuse detection as at /token. The client has been
// authenticated by the caller. It returns the context the handlers expect.
func (p *Provider) handleTokenRequest(ctx context.Context, ar *fosite.AccessRequest) (context.Context, error) {
	ctx = context.WithValue(ctx, fosite.AccessRequestContextKey, ar)
	handled := false
	for _, h := range p.fconf.GetTokenEndpointHandlers(ctx) {
		if !h.CanHandleTokenEndpointRequest(ctx, ar) {
			continue
		}
		err := h.HandleTokenEndpointRequest(ctx, ar)
		if errors.Is(err, fosite.ErrUnknownRequest) {
			continue
		}
		if err != nil {
			return ctx, err
		}
		handled = true
	}
	if !handled {
		return ctx, fosite.ErrUnsupportedGrantType
	}
	return ctx, nil
}

func tokenSet(ar fosite.AccessRequester, resp fosite.AccessResponder) *customer.TokenSet {
	sess, _ := ar.GetSession().(*Session)
	ts := &customer.TokenSet{
		AccessToken:     resp.GetAccessToken(),
		TokenType:       "Bearer",
		Scopes:          ar.GetGrantedScopes(),
		Subject:         ar.GetSession().GetSubject(),
		RequestID:       ar.GetID(),
		AccessExpiresAt: ar.GetSession().GetExpiresAt(fosite.AccessToken),
	}
	if sess != nil {
		ts.SessionID = sess.SessionID
	}
	if rt, ok := resp.GetExtra("refresh_token").(string); ok {
		ts.RefreshToken = rt
		ts.RefreshExpiresAt = ar.GetSession().GetExpiresAt(fosite.RefreshToken)
	}
	if jat, ok := resp.GetExtra("jwt_access_token").(string); ok {
		ts.JWTAccessToken = jat
	}
	return ts
}

// issue stores an access token and, when the client may refresh, a refresh token for
// an access request whose scopes are granted and session filled in.
// An anonymous shopper's tokens are stateless instead (anonymous.go).
func (p *Provider) issue(ctx context.Context, ar fosite.AccessRequester, resp fosite.AccessResponder) (err error) {
	if s, ok := ar.GetSession().(*Session); ok && s.Anonymous {
		return p.issueAnonymous(ctx, ar, resp)
	}
	now := p.now().UTC()
	atl := p.fconf.GetAccessTokenLifespan(ctx)
	sess := ar.GetSession()
	sess.SetExpiresAt(fosite.AccessToken, now.Add(atl).Round(time.Second))
	canRefresh := ar.GetClient().GetGrantTypes().Has(identity.GrantRefreshToken)
	if canRefresh {
		sess.SetExpiresAt(fosite.RefreshToken, now.Add(p.fconf.GetRefreshTokenLifespan(ctx)).Round(time.Second))
	}
	access, accessSig, err := p.hmac.GenerateAccessToken(ctx, ar)
	if err != nil {
		return fosite.ErrServerError.WithWrap(err)
	}
	var refresh, refreshSig string
	if canRefresh {
		if refresh, refreshSig, err = p.hmac.GenerateRefreshToken(ctx, ar); err != nil {
			return fosite.ErrServerError.WithWrap(err)
		}
	}
	ctx, err = fositestorage.MaybeBeginTx(ctx, p.store)
	if err != nil {
		return fosite.ErrServerError.WithWrap(err)
	}
	defer func() {
		if err != nil {
			_ = fositestorage.MaybeRollbackTx(ctx, p.store)
		}
	}()
	stored := ar.Sanitize(nil)
	if err = p.store.CreateAccessTokenSession(ctx, accessSig, stored); err != nil {
		return fosite.ErrServerError.WithWrap(err)
	}
	if canRefresh {
		if err = p.store.CreateRefreshTokenSession(ctx, refreshSig, accessSig, stored); err != nil {
			return fosite.ErrServerError.WithWrap(err)
		}
	}
	if err = fositestorage.MaybeCommitTx(ctx, p.store); err != nil {
		return fosite.ErrServerError.WithWrap(err)
	}
	resp.SetAccessToken(access)
	resp.SetTokenType("bearer")
	resp.SetExpiresIn(atl)
	resp.SetScopes(ar.GetGrantedScopes())
	if canRefresh {
		resp.SetExtra("refresh_token", refresh)
	}
	return nil
}

// directGrant implements Custodian's grants that issue tokens without a redirect: the
// anonymous shopper grant and the resource-owner password grant of first-party clients.
type directGrant struct {
	p *Provider
}

func (g *directGrant) CanHandleTokenEndpointRequest(_ context.Context, ar fosite.AccessRequester) bool {
	return ar.GetGrantTypes().ExactOne(identity.GrantAnonymous) || ar.GetGrantTypes().ExactOne(identity.GrantPassword) ||
		ar.GetGrantTypes().ExactOne(identity.GrantTokenExchange)
}

func (g *directGrant) CanSkipClientAuth(context.Context, fosite.AccessRequester) bool { return false }

func (g *directGrant) HandleTokenEndpointRequest(ctx context.Context, ar fosite.AccessRequester) error {
	if !g.CanHandleTokenEndpointRequest(ctx, ar) {
		return fosite.ErrUnknownRequest
	}
	t := identity.TenantFromContext(ctx)
	if t == nil {
		return fosite.ErrServerError.WithDebug("no tenant in context")
	}
	grant := ar.GetGrantTypes()[0]
	client, ok := ar.GetClient().(*Client)
	if !ok || !client.GetGrantTypes().Has(grant) {
		return fosite.ErrUnauthorizedClient.WithHintf("The client is not allowed to use the grant %q.", grant)
	}
	for _, s := range ar.GetRequestedScopes() {
		if !g.p.fconf.GetScopeStrategy(ctx)(client.GetScopes(), s) {
			return fosite.ErrInvalidScope.WithHintf("The client may not request scope %q.", s)
		}
		ar.GrantScope(s)
	}
	sess, ok := ar.GetSession().(*Session)
	if !ok {
		return fosite.ErrServerError.WithDebug("unexpected session type")
	}
	sess.Tenant = t.Name
	sess.SessionID = uuid.NewString()
	switch grant {
	case identity.GrantAnonymous:
		if g.p.auth != nil {
			if err := g.p.auth.AllowAnonymous(ctx, t, client.ID); err != nil {
				if errors.Is(err, identity.ErrRateLimited) {
					return errTooManyAttempts.WithWrap(err)
				}
				return err
			}
		}
		sess.Subject = uuid.NewString()
		sess.Anonymous = true
	case identity.GrantPassword:
		if !client.FirstParty {
			return fosite.ErrUnauthorizedClient.WithHint("Only first-party clients may use the password grant.")
		}
		form := ar.GetRequestForm()
		if g.p.auth == nil {
			return fosite.ErrServerError.WithDebug("no authenticator configured")
		}
		pr, err := g.p.auth.AuthenticatePassword(ctx, t.Name, customer.LoginAttempt{Email: form.Get("username"),
			Password: form.Get("password"), ClientID: client.ID, NoChallenge: true})
		if err != nil {
			return loginGrantError(err)
		}
		sess.Subject = fmt.Sprint(pr.CustomerID)
		sess.AMR = pr.AMR
		sess.DeviceID = pr.DeviceID
		// What an ID token of this family says, when a refresh issues one (openid).
		now := g.p.now().UTC().Truncate(time.Second)
		sess.Claims = &jwt.IDTokenClaims{Subject: sess.Subject, AuthTime: now, RequestedAt: now,
			AuthenticationMethodsReferences: pr.AMR, AuthenticationContextClassReference: acrFor(pr.AMR)}
	case identity.GrantTokenExchange:
		form := ar.GetRequestForm()
		if tt := form.Get("subject_token_type"); tt != TokenTypeIDToken && tt != TokenTypeJWT {
			return fosite.ErrInvalidRequest.WithHintf("subject_token_type must be %s or %s.", TokenTypeIDToken, TokenTypeJWT)
		}
		if form.Get("requested_token_type") != "" && form.Get("requested_token_type") != TokenTypeAccessToken {
			return fosite.ErrInvalidRequest.WithHintf("Only requested_token_type=%s is issued.", TokenTypeAccessToken)
		}
		pr, err := g.p.ExchangeSubjectToken(ctx, client, form.Get("subject_token"))
		if err != nil {
			return exchangeGrantError(err)
		}
		sess.Subject = fmt.Sprint(pr.CustomerID)
		sess.AMR = pr.AMR
		for _, s := range CustomerScopes {
			if !slices.Contains(ar.GetGrantedScopes(), s) {
				ar.GrantScope(s)
			}
		}
	}
	return nil
}

// errTooManyAttempts is a rate limit of the door at the token endpoint: 429 with
// Retry-After (writeAccessError reads it from the wrapped identity.RateLimitError).
// RFC 6749 registers no code for it; slow_down is the token endpoint's registered code
// for "the client polls too fast" (RFC 8628 §3.5), which says what the client must do.
var errTooManyAttempts = &fosite.RFC6749Error{ErrorField: "slow_down", CodeField: http.StatusTooManyRequests,
	DescriptionField: "Too many attempts; retry after the number of seconds in Retry-After."}

// loginGrantError maps an Authenticator failure onto an RFC 6749 error without
// telling an unknown account from a wrong password.
func loginGrantError(err error) error {
	switch {
	case errors.Is(err, identity.ErrInvalidCredentials):
		return fosite.ErrInvalidGrant.WithHint("The username or password is wrong.")
	case errors.Is(err, identity.ErrAccountLocked):
		return fosite.ErrInvalidGrant.WithHint("The account is locked; try again later.")
	case errors.Is(err, identity.ErrAccountInactive):
		return fosite.ErrInvalidGrant.WithHint("The account is not active.")
	case errors.Is(err, identity.ErrRateLimited):
		return errTooManyAttempts.WithWrap(err)
	case errors.Is(err, identity.ErrPasswordResetRequired):
		return fosite.ErrInvalidGrant.WithHint("The password must be reset: a reset link was sent to the account's e-mail address.")
	case errors.Is(err, identity.ErrSecondFactorRequired):
		return fosite.ErrInvalidGrant.WithHint("This sign-in needs a second factor: use the login pages or the customer APIs.")
	}
	return fosite.ErrServerError.WithWrap(err)
}

func (g *directGrant) PopulateTokenEndpointResponse(ctx context.Context, ar fosite.AccessRequester, resp fosite.AccessResponder) error {
	if !g.CanHandleTokenEndpointRequest(ctx, ar) {
		return fosite.ErrUnknownRequest
	}
	if err := g.p.issue(ctx, ar, resp); err != nil {
		return err
	}
	if ar.GetGrantTypes().ExactOne(identity.GrantTokenExchange) {
		resp.SetExtra("issued_token_type", TokenTypeAccessToken) // RFC 8693 §2.2.1
	}
	return nil
}

// responseExtras runs after every grant handler and adds to the token response the
// RFC 9068 JWT access token (jwt_access_token) and the shopper session (session_id).
type responseExtras struct{ p *Provider }

// It never claims a request, so it cannot make an unknown grant look handled.
func (e *responseExtras) CanHandleTokenEndpointRequest(context.Context, fosite.AccessRequester) bool {
	return false
}
func (e *responseExtras) CanSkipClientAuth(context.Context, fosite.AccessRequester) bool {
	return false
}
func (e *responseExtras) HandleTokenEndpointRequest(context.Context, fosite.AccessRequester) error {
	return fosite.ErrUnknownRequest
}

func (e *responseExtras) PopulateTokenEndpointResponse(ctx context.Context, ar fosite.AccessRequester, resp fosite.AccessResponder) error {
	if resp.GetAccessToken() == "" {
		return fosite.ErrUnknownRequest
	}
	return e.p.addExtras(ctx, ar, resp)
}

// accessClaims is the RFC 9068 profile of Custodian's JWT access tokens.
type accessClaims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  []string `json:"aud"`
	ClientID  string   `json:"client_id"`
	Scope     string   `json:"scope,omitempty"`
	JTI       string   `json:"jti"`
	IssuedAt  int64    `json:"iat"`
	ExpiresAt int64    `json:"exp"`
	AuthTime  int64    `json:"auth_time,omitempty"`
	AMR       []string `json:"amr,omitempty"`
	ACR       string   `json:"acr,omitempty"`
	SessionID string   `json:"sid,omitempty"`
	Tenant    string   `json:"tenant"`
	Anonymous bool     `json:"anonymous,omitempty"`
	AccountID string   `json:"account_id,omitempty"`
	// ThirdParty: issued to a client that is not first-party through the consent page.
	ThirdParty bool `json:"third_party,omitempty"`
}

func (p *Provider) addExtras(ctx context.Context, ar fosite.AccessRequester, resp fosite.AccessResponder) error {
	t := identity.TenantFromContext(ctx)
	if t == nil {
		return fosite.ErrServerError.WithDebug("no tenant in context")
	}
	now := p.now().UTC()
	exp := ar.GetSession().GetExpiresAt(fosite.AccessToken)
	if exp.IsZero() {
		exp = now.Add(p.fconf.GetAccessTokenLifespan(ctx))
	}
	sig := p.hmac.AccessTokenSignature(ctx, resp.GetAccessToken())
	c := accessClaims{
		Issuer:    p.Issuer(t.Name),
		Subject:   ar.GetSession().GetSubject(),
		Audience:  ar.GetGrantedAudience(),
		ClientID:  ar.GetClient().GetID(),
		Scope:     strings.Join(ar.GetGrantedScopes(), " "),
		JTI:       JTIFromSignature(sig),
		IssuedAt:  now.Unix(),
		ExpiresAt: exp.Unix(),
		Tenant:    t.Name,
	}
	if c.Subject == "" { // client_credentials: the client is the subject (RFC 9068 §2.2)
		c.Subject = c.ClientID
	}
	if len(c.Audience) == 0 {
		c.Audience = []string{p.Issuer(t.Name)}
	}
	if sess, ok := ar.GetSession().(*Session); ok {
		c.SessionID = sess.SessionID
		c.Anonymous = sess.Anonymous
		c.AccountID = sess.AccountID
		c.ThirdParty = sess.ThirdParty
		c.AMR = sess.AMR
		c.ACR = acrFor(sess.AMR)
		if sess.Claims != nil && !sess.Claims.AuthTime.IsZero() {
			c.AuthTime = sess.Claims.AuthTime.Unix()
		}
		if sess.SessionID != "" {
			resp.SetExtra("session_id", sess.SessionID)
		}
	}
	signed, err := p.keys.Sign(ctx, t.Name, c, "at+jwt")
	if err != nil {
		return fosite.ErrServerError.WithWrap(err).WithDebug("sign JWT access token")
	}
	resp.SetExtra("jwt_access_token", signed)
	if gt := ar.GetGrantTypes(); len(gt) > 0 {
		p.onIssued(gt[0])
	}
	return nil
}

// acrFor names the assurance level of a sign-in: "1" for one factor, "2" when a
// second factor was used (the values Custodian documents in discovery).
func acrFor(amr []string) string {
	switch {
	case len(amr) == 0:
		return ""
	case slices.Contains(amr, "otp") || slices.Contains(amr, "mfa"):
		return "2"
	default:
		return "1"
	}
}
