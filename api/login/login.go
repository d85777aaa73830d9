package login

// The customer login API (CONTRACT.md §3, modelled on the customer management tutorial
// seed): anonymous shopper tokens, signup with double opt-in, password login, refresh,
// validation, logout and the admin status switch. Paths and JSON field names are the
// seed's, including its mix of camelCase (sessionId, initialPassword, legalEntityId)
// and snake_case (session_id, refresh_token_expires_in).
//
// Decisions this file makes:
//
//   - Anonymous tokens go to public clients of the tenant that hold the anonymous grant
//     (the tenant must allow it too); confidential clients use the token endpoint.
//   - Signup, login and the opt-in confirmation are called with the storefront's
//     anonymous token. A customer's tokens are issued to that token's client and keep
//     its session id, so a cart tied to the session survives the sign-in.
//   - Customer tokens carry oauth.CustomerScopes, which a refresh keeps at any of the
//     three endpoints whatever scopes the client is registered for.
//   - refreshauthtoken finds the client by HTTP Basic credentials (any client), by
//     client_id or by a Bearer token of the client (public clients only).
//   - A refresh with another legalEntityId (of which the customer is a member) mints a
//     new token family bound to it and revokes the one just refreshed; a legalEntityId
//     the customer is not a member of is refused before the token rotates (refresh.go).
//   - The opt-in confirmation answers with the login response when it comes with the
//     storefront's anonymous token (or client_id); a bare link click only activates the
//     account and answers 204. An unknown, used or expired opt-in token is a 400.
//   - validateauthtoken accepts customer tokens only (an anonymous token is a 401), and
//     so does it for a customer that is no longer active.
//   - logout answers 204 for tokens it does not know, as RFC 7009 revocation does.
//   - When the tenant's second-factor policy asks for one, login answers 200 with
//     {requires2FA: true, twoFactorChallenge} and no tokens; login/2fa, called with the
//     same anonymous token (the challenge is bound to its client), answers the login
//     response. login/2fa/resend (not in the seed) sends a new e-mailed code.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/oauth"
	"github.com/custodian-id/custodian/twofactor"
)

// loginScopes are the permissions a customer's tokens carry in the customer login API
// (oauth.CustomerScopes); validateauthtoken answers them followed by "tenant={tenant}".
var loginScopes = oauth.CustomerScopes

// loginGrant names the customer login API's issuance in metrics and logs.
const loginGrant = "customer_login"

// anonymousTokenView is the seed's anonymous token.
type anonymousTokenView struct {
	AccessToken           string `json:"access_token"`
	TokenType             string `json:"token_type"`
	ExpiresIn             int64  `json:"expires_in"`
	RefreshToken          string `json:"refresh_token,omitempty"`
	RefreshTokenExpiresIn int64  `json:"refresh_token_expires_in,omitempty"`
	SessionID             string `json:"sessionId"`
	Scope                 string `json:"scope"`
}

// loginTokenView is the seed's login response.
type loginTokenView struct {
	AccessToken           string `json:"access_token"`
	SaaSToken             string `json:"saas_token"`
	ExpiresIn             int64  `json:"expires_in"`
	RefreshToken          string `json:"refresh_token,omitempty"`
	RefreshTokenExpiresIn int64  `json:"refresh_token_expires_in,omitempty"`
	TokenType             string `json:"token_type"`
	SessionID             string `json:"session_id"`
	InitialPassword       bool   `json:"initialPassword"`
}

// validateTokenView is the seed's validateauthtoken response.
type validateTokenView struct {
	TokenType     string `json:"token_type"`
	ExpiresIn     int64  `json:"expires_in"`
	Scope         string `json:"scope"`
	SessionID     string `json:"sessionId"`
	Email         string `json:"email"`
	LegalEntityID string `json:"legalEntityId,omitempty"`
}

// saasClaims are the claims of the saas_token, a JWT (typ "JWT") signed with the
// tenant's current key and verifiable against its JWKS. It lives as long as the access
// token it came with and is not checked against the token store: logout does not
// reach it.
type saasClaims struct {
	Issuer    string `json:"iss"`
	Subject   string `json:"sub"`
	Email     string `json:"email"`
	Tenant    string `json:"tenant"`
	SessionID string `json:"sid,omitempty"`
	AccountID string `json:"account_id,omitempty"`
	IssuedAt  int64  `json:"iat"`
	ExpiresAt int64  `json:"exp"`
}

// anonLogin issues an anonymous shopper token:
// GET /customerlogin/auth/anonymous/login?tenant=&client_id=.
func (a *API) anonLogin(w http.ResponseWriter, r *http.Request, c *call) error {
	q := r.URL.Query()
	client, err := a.storefrontClient(c.ctx, c.tenant.Name, q.Get("client_id"))
	if err != nil {
		return err
	}
	if !c.tenant.Settings.GrantAllowed(identity.GrantAnonymous) || !slices.Contains(client.GrantTypes, identity.GrantAnonymous) {
		return &loginError{status: http.StatusForbidden, typ: typeForbidden, message: "the client may not request anonymous tokens"}
	}
	if err := a.svc.AllowAnonymous(c.ctx, c.tenant, client.ID); err != nil {
		return err
	}
	ts, err := a.oauth.IssueTokens(c.ctx, oauth.IssueRequest{Client: client, Subject: uuid.NewString(), Anonymous: true,
		Grant: identity.GrantAnonymous})
	if err != nil {
		return fmt.Errorf("issue anonymous token: %w", err)
	}
	return reply(w, http.StatusOK, a.anonymousView(c.tenant, ts))
}

// anonRefresh refreshes an anonymous token; the session id stays:
// GET /customerlogin/auth/anonymous/refresh?tenant=&refresh_token=&client_id=.
func (a *API) anonRefresh(w http.ResponseWriter, r *http.Request, c *call) error {
	q := r.URL.Query()
	rt := q.Get("refresh_token")
	if rt == "" {
		return missingParam("refresh_token")
	}
	client, err := a.storefrontClient(c.ctx, c.tenant.Name, q.Get("client_id"))
	if err != nil {
		return err
	}
	// A customer's refresh token belongs to refreshauthtoken: refuse it before it is
	// rotated, so the misdirected call costs the shopper nothing.
	if anon, err := a.oauth.IsAnonymousRefreshToken(c.ctx, rt); err == nil && !anon {
		return fmt.Errorf("%w: not an anonymous refresh token", oauth.ErrInvalidToken)
	}
	ts, err := a.oauth.Refresh(c.ctx, client, rt, oauth.Lifespans{})
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, a.anonymousView(c.tenant, ts))
}

// signupBody is the seed's signup request.
type signupBody struct {
	Email           string             `json:"email"`
	Password        string             `json:"password"`
	CustomerDetails *signupDetailsBody `json:"customerDetails"`
	CustomerAddress *addressBody       `json:"customerAddress"`
}

type signupDetailsBody struct {
	Title             string         `json:"title"`
	FirstName         string         `json:"firstName"`
	MiddleName        string         `json:"middleName"`
	LastName          string         `json:"lastName"`
	ContactEmail      string         `json:"contactEmail"`
	ContactPhone      string         `json:"contactPhone"`
	Company           string         `json:"company"`
	PreferredLanguage string         `json:"preferredLanguage"`
	PreferredCurrency string         `json:"preferredCurrency"`
	PreferredSite     string         `json:"preferredSite"`
	B2B               *signupB2BBody `json:"b2b"`
}

type signupB2BBody struct {
	CompanyRegistrationID string              `json:"companyRegistrationId"`
	LegalEntities         []signupLegalEntity `json:"legalEntities"`
}

type signupLegalEntity struct {
	ID                  string `json:"id"`
	Name                string `json:"name"`
	ContactAssignmentID string `json:"contactAssignmentId"`
}

func (b *signupBody) request() customer.SignupRequest {
	in := customer.SignupRequest{Email: b.Email, Password: b.Password}
	if d := b.CustomerDetails; d != nil {
		in.Details = customer.SignupDetails{Title: d.Title, FirstName: d.FirstName, MiddleName: d.MiddleName, LastName: d.LastName,
			ContactEmail: d.ContactEmail, ContactPhone: d.ContactPhone, Company: d.Company,
			PreferredLanguage: d.PreferredLanguage, PreferredCurrency: d.PreferredCurrency, PreferredSite: d.PreferredSite}
		if d.B2B != nil {
			b2b := &customer.B2B{CompanyRegistrationID: d.B2B.CompanyRegistrationID}
			for _, le := range d.B2B.LegalEntities {
				b2b.LegalEntities = append(b2b.LegalEntities, customer.Membership{AccountID: le.ID, Name: le.Name,
					ContactAssignmentID: le.ContactAssignmentID})
			}
			in.Details.B2B = b2b
		}
	}
	if ad := b.CustomerAddress; ad != nil {
		in.Address = &customer.Address{}
		ad.apply(in.Address)
	}
	return in
}

// signup creates a customer: POST /customer/{tenant}/signup → 201 {id}. With the
// tenant's double opt-in the account starts inactive and an activation mail is sent.
func (a *API) signup(w http.ResponseWriter, r *http.Request, c *call) error {
	var in signupBody
	if err := decode(w, r, &in); err != nil {
		return err
	}
	acc, err := a.svc.Signup(c.ctx, c.tenant, in.request())
	if err != nil {
		return err
	}
	return reply(w, http.StatusCreated, map[string]string{"id": strconv.FormatInt(acc.ID, 10)})
}

// optinConfirm activates an account with the token of its activation mail:
// GET /customer/{tenant}/signup/optin/{token}.
func (a *API) optinConfirm(w http.ResponseWriter, r *http.Request, c *call) error {
	// Who gets the tokens is settled before the single-use token is spent.
	var client *oauth.Client
	sessionID := ""
	switch {
	case loginBearer(r) != "":
		anon, err := a.anonymousCaller(c.ctx, r)
		if err != nil {
			return err
		}
		if client, err = a.tokenClient(c.ctx, c.tenant.Name, anon.ClientID); err != nil {
			return err
		}
		sessionID = anon.SessionID
	case r.URL.Query().Get("client_id") != "":
		var err error
		if client, err = a.storefrontClient(c.ctx, c.tenant.Name, r.URL.Query().Get("client_id")); err != nil {
			return err
		}
	}
	acc, err := a.svc.ConfirmOptIn(c.ctx, c.tenant, pathVar(r, "token"))
	if err != nil {
		return err
	}
	if client == nil {
		return noContent(w)
	}
	if !acc.Active || acc.OnHold {
		return customer.ErrInactive
	}
	// The link proves the e-mail address, not the password: no "pwd" in the AMR.
	return a.writeCustomerTokens(w, c, client, &customer.SignedIn{Account: acc}, sessionID, "")
}

// optinResend queues a new activation mail: POST /customer/{tenant}/signup/optin/refresh_token
// {email} → 202, whether or not the address has an account waiting for activation.
func (a *API) optinResend(w http.ResponseWriter, r *http.Request, c *call) error {
	var in struct {
		Email string `json:"email"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if strings.TrimSpace(in.Email) == "" {
		return missingParam("email")
	}
	if err := a.svc.ResendOptIn(c.ctx, c.tenant, strings.TrimSpace(in.Email)); err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// passwordLoginBody is the seed's login request. fingerprint and region feed the
// second-factor triggers.
type passwordLoginBody struct {
	Email       string `json:"email"`
	Password    string `json:"password"`
	Fingerprint string `json:"fingerprint"`
	Region      string `json:"region"`
}

func (b *passwordLoginBody) check(v *identity.Validator) {
	v.Required("email", strings.TrimSpace(b.Email))
	v.Required("password", b.Password)
	v.MaxLen("fingerprint", b.Fingerprint, 512)
	v.MaxLen("region", b.Region, 64)
}

// login signs a customer in with the storefront's anonymous token:
// POST /customer/{tenant}/login[?legalEntityId=].
func (a *API) login(w http.ResponseWriter, r *http.Request, c *call) error {
	var in passwordLoginBody
	if err := decode(w, r, &in); err != nil {
		return err
	}
	client, err := a.tokenClient(c.ctx, c.tenant.Name, c.anon.ClientID)
	if err != nil {
		return err
	}
	legal := r.URL.Query().Get("legalEntityId")
	res, err := a.svc.SignIn(c.ctx, c.tenant, customer.SignIn{Email: strings.TrimSpace(in.Email), Password: in.Password, ClientID: client.ID,
		Fingerprint: in.Fingerprint, Region: in.Region, Payload: map[string]string{payloadLegalEntity: legal}, Member: legal})
	if err != nil {
		return err
	}
	if res.Challenge != nil {
		return reply(w, http.StatusOK, pendingView{Requires2FA: true, TwoFactorChallenge: res.Challenge})
	}
	return a.writeCustomerTokens(w, c, client, res, c.anon.SessionID, legal)
}

// pendingView is a login that awaits its second factor: no tokens yet.
type pendingView struct {
	Requires2FA        bool            `json:"requires2FA"`
	TwoFactorChallenge *twofactor.Info `json:"twoFactorChallenge"`
}

// payloadLegalEntity is the key of a login challenge's legal entity.
const payloadLegalEntity = "legalEntityId"

// refreshAuth refreshes a customer's tokens:
// GET /customer/{tenant}/refreshauthtoken?refreshToken=&legalEntityId=.
func (a *API) refreshAuth(w http.ResponseWriter, r *http.Request, c *call) error {
	q := r.URL.Query()
	rt := q.Get("refreshToken")
	if rt == "" {
		return missingParam("refreshToken")
	}
	client, err := a.refreshingClient(c.ctx, r, c.tenant.Name)
	if err != nil {
		return err
	}
	// The saas_token is signed after the rotation committed: with the key read now.
	ctx, err := a.oauth.PreloadSigningKey(c.ctx, c.tenant.Name)
	if err != nil {
		return err
	}
	res, err := a.svc.Refresh(ctx, c.tenant, a.oauth.ClientTokens(client), rt, q.Get("legalEntityId"), loginGrant)
	switch {
	case errors.Is(err, customer.ErrNotFound):
		err = tokenRequired("the customer no longer exists", nil)
	case errors.Is(err, customer.ErrNotCustomerToken):
		err = tokenRequired("not a customer's token", nil)
	}
	if err != nil {
		return err
	}
	if res.Account == nil {
		return reply(w, http.StatusOK, a.anonymousView(c.tenant, res.Tokens))
	}
	// No error here revokes anything: the family is the one of the token the caller
	// presented, which stays usable for a retry within the refresh grace window.
	view, err := a.loginView(ctx, c.tenant, res.Account, res.Tokens, res.Member)
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, view)
}

// validateAuth describes the customer token of the request:
// GET /customer/{tenant}/validateauthtoken with Authorization: Bearer.
func (a *API) validateAuth(w http.ResponseWriter, r *http.Request, c *call) error {
	info, err := a.bearerInfo(c.ctx, r)
	if err != nil {
		return err
	}
	id, perr := strconv.ParseInt(info.Subject, 10, 64)
	if info.Anonymous || perr != nil {
		return tokenRequired("not a customer's token", nil)
	}
	acc, err := a.svc.Get(c.ctx, c.tenant.Name, id)
	if errors.Is(err, customer.ErrNotFound) {
		return tokenRequired("the customer no longer exists", nil)
	}
	if err != nil {
		return err
	}
	if !acc.Active || acc.OnHold {
		return tokenRequired("the customer is not active", nil)
	}
	// A token scoped to no account names the customer's one legal entity, if one.
	legal := info.AccountID
	if legal == "" {
		ms, err := a.svc.Memberships(c.ctx, c.tenant.Name, id)
		if err != nil {
			return err
		}
		if len(ms) == 1 {
			legal = ms[0].AccountID
		}
	}
	return reply(w, http.StatusOK, validateTokenView{
		TokenType:     "Bearer",
		ExpiresIn:     secondsUntil(info.ExpiresAt, a.now()),
		Scope:         scopeString(info.Scopes, c.tenant.Name),
		SessionID:     info.SessionID,
		Email:         acc.Email,
		LegalEntityID: legal,
	})
}

// logout revokes a token and its whole family:
// GET /customer/{tenant}/logout?accessToken= (or the Bearer token) → 204.
func (a *API) logout(w http.ResponseWriter, r *http.Request, c *call) error {
	tok := r.URL.Query().Get("accessToken")
	if tok == "" {
		tok = loginBearer(r)
	}
	if tok == "" {
		return missingParam("accessToken")
	}
	// As RFC 7009 revocation: a token that is unknown, expired or already revoked is
	// not an error, so logging out twice is harmless.
	if err := a.oauth.RevokeToken(c.ctx, tok); err != nil && !errors.Is(err, oauth.ErrInvalidToken) {
		return fmt.Errorf("logout: %w", err)
	}
	return noContent(w)
}

// statusView is the answer of the admin status switch.
type statusView struct {
	ID             string `json:"id"`
	CustomerNumber string `json:"customerNumber"`
	Email          string `json:"email"`
	Active         bool   `json:"active"`
	OnHold         bool   `json:"onHold"`
}

// adminSetStatus activates / deactivates and holds / releases a customer:
// PATCH /customer/{tenant}/customers/{customerNumber} {active?, onHold?} (admin only;
// routes.go guards it).
func (a *API) adminSetStatus(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := strconv.ParseInt(pathVar(r, "customerNumber"), 10, 64)
	if err != nil || id <= 0 {
		return customer.ErrNotFound
	}
	var in struct {
		Active *bool `json:"active"`
		OnHold *bool `json:"onHold"`
	}
	if err := decode(w, r, &in, "application/json", "application/merge-patch+json"); err != nil {
		return err
	}
	if in.Active == nil && in.OnHold == nil {
		return badRequest("nothing to change: set active or onHold",
			identity.FieldError{Field: "active", Type: "missing", Message: "active or onHold is required"},
			identity.FieldError{Field: "onHold", Type: "missing", Message: "active or onHold is required"})
	}
	acc, err := a.svc.SetStatus(c.ctx, c.tenant.Name, id, in.Active, in.OnHold)
	if err != nil {
		return err
	}
	n := strconv.FormatInt(acc.ID, 10)
	return reply(w, http.StatusOK, statusView{ID: n, CustomerNumber: n, Email: acc.Email, Active: acc.Active, OnHold: acc.OnHold})
}

// writeCustomerTokens issues a customer's tokens to client and answers the login
// response. ctx carries the tenant.
func (a *API) writeCustomerTokens(w http.ResponseWriter, c *call, client *oauth.Client, res *customer.SignedIn,
	sessionID, legalEntity string) error {
	ctx, t, acc := c.ctx, c.tenant, res.Account
	ts, err := a.oauth.IssueTokens(ctx, oauth.IssueRequest{Client: client, Subject: strconv.FormatInt(acc.ID, 10),
		Scopes: slices.Clone(loginScopes), SessionID: sessionID, AMR: res.AMR, AccountID: legalEntity, DeviceID: res.DeviceID,
		Grant: loginGrant})
	if err != nil {
		return fmt.Errorf("issue customer tokens: %w", err)
	}
	view, err := a.loginView(ctx, t, acc, ts, legalEntity)
	if err != nil {
		a.revokeQuietly(ctx, ts.AccessToken)
		return err
	}
	return reply(w, http.StatusOK, view)
}

// loginView is the login response of an issuance, with its saas_token.
func (a *API) loginView(ctx context.Context, t *identity.Tenant, acc *customer.Account, ts *customer.TokenSet, legalEntity string) (loginTokenView, error) {
	now := a.now()
	saas, err := a.oauth.Keys().Sign(ctx, t.Name, saasClaims{
		Issuer:    a.oauth.Issuer(t.Name),
		Subject:   strconv.FormatInt(acc.ID, 10),
		Email:     acc.Email,
		Tenant:    t.Name,
		SessionID: ts.SessionID,
		AccountID: legalEntity,
		IssuedAt:  now.Unix(),
		ExpiresAt: ts.AccessExpiresAt.Unix(),
	}, "JWT")
	if err != nil {
		return loginTokenView{}, fmt.Errorf("sign saas token: %w", err)
	}
	return loginTokenView{
		AccessToken:           ts.AccessToken,
		SaaSToken:             saas,
		ExpiresIn:             secondsUntil(ts.AccessExpiresAt, now),
		RefreshToken:          ts.RefreshToken,
		RefreshTokenExpiresIn: secondsUntil(ts.RefreshExpiresAt, now),
		TokenType:             "Bearer",
		SessionID:             ts.SessionID,
		InitialPassword:       acc.InitialPassword,
	}, nil
}

func (a *API) anonymousView(t *identity.Tenant, ts *customer.TokenSet) anonymousTokenView {
	now := a.now()
	return anonymousTokenView{
		AccessToken:           ts.AccessToken,
		TokenType:             "Bearer",
		ExpiresIn:             secondsUntil(ts.AccessExpiresAt, now),
		RefreshToken:          ts.RefreshToken,
		RefreshTokenExpiresIn: secondsUntil(ts.RefreshExpiresAt, now),
		SessionID:             ts.SessionID,
		Scope:                 scopeString(ts.Scopes, t.Name),
	}
}

// revokeQuietly revokes a token family the caller will not get; a failure is logged.
func (a *API) revokeQuietly(ctx context.Context, token string) {
	if err := a.oauth.RevokeToken(ctx, token); err != nil {
		a.log.ErrorContext(ctx, "revoke unused token family", "err", err)
	}
}

func notMember() *loginError {
	return &loginError{status: http.StatusForbidden, typ: typeForbidden, message: "the customer is not a member of this legal entity"}
}

// secondsUntil is the whole seconds from now to t (0 when t is zero or past).
func secondsUntil(t, now time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return max(int64(t.Sub(now)/time.Second), 0)
}

// scopeString is the seed's scope: the granted scopes, then "tenant={tenant}".
func scopeString(scopes []string, tenant string) string {
	return strings.Join(append(slices.Clone(scopes), "tenant="+tenant), " ")
}
