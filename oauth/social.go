package oauth

// Social login: upstream OpenID Connect providers ("connectors") per tenant. The login
// page lists them (or idp_hint skips it); Custodian sends the shopper upstream with
// state, nonce and PKCE, verifies the ID token on the way back, lets the Authenticator
// link or provision the customer, and finishes the authorization request it was
// resuming. The upstream tokens wait, sealed, for the storefront's code exchange.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/ory/fosite"
	"golang.org/x/oauth2"

	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/identity/mailaddr"
)

// Connector is an upstream OpenID Connect provider of a tenant.
type Connector struct {
	Tenant       string
	ID           string
	Name         string
	Issuer       string
	ClientID     string
	ClientSecret string // plaintext in memory only
	SealedSecret []byte // what the store keeps
	Scopes       []string
	CreatedAt    time.Time
}

// DisplayName is what the login page shows.
func (c *Connector) DisplayName() string {
	if c.Name != "" {
		return c.Name
	}
	return c.ID
}

// UpstreamLogin is a sign-in in flight at an upstream provider.
type UpstreamLogin struct {
	StateHash      string
	Tenant         string
	ConnectorID    string
	Nonce          string
	Verifier       string // plaintext in memory only
	SealedVerifier []byte
	ResumeURL      string // the authorization request to finish afterwards
	ExpiresAt      time.Time
	CreatedAt      time.Time
}

// ConnectorStore persists connectors, upstream sign-ins in flight and the upstream
// tokens waiting for the code exchange.
type ConnectorStore interface {
	CreateConnector(ctx context.Context, c *Connector) error
	GetConnector(ctx context.Context, tenant, id string) (*Connector, error)
	ListConnectors(ctx context.Context, tenant string) ([]*Connector, error)
	DeleteConnector(ctx context.Context, tenant, id string) error
	CreateUpstreamLogin(ctx context.Context, l *UpstreamLogin) error
	// UseUpstreamLogin marks an unused, unexpired sign-in used and returns it;
	// ErrNotFound otherwise.
	UseUpstreamLogin(ctx context.Context, tenant, stateHash string, now time.Time) (*UpstreamLogin, error)
	PutSocialHandoff(ctx context.Context, tenant, requestID string, sealed []byte, expires time.Time) error
	// TakeSocialHandoff returns and deletes an unexpired handoff; ErrNotFound otherwise.
	TakeSocialHandoff(ctx context.Context, tenant, requestID string, now time.Time) ([]byte, error)
}

// SocialTokens are the upstream's tokens, handed to the storefront once.
type SocialTokens struct {
	AccessToken string `json:"access_token"`
	IDToken     string `json:"id_token"`
}

var connectorID = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

const (
	upstreamTTL    = 10 * time.Minute
	upstreamCookie = "custodian_upstream"
	handoffPurpose = "custodian/social-handoff/v1"
)

// upstreams caches discovery documents of upstream providers.
type upstreams struct {
	mu     sync.Mutex
	byIss  map[string]cachedUpstream
	client *http.Client
}

type cachedUpstream struct {
	p       *oidc.Provider
	fetched time.Time
}

func (u *upstreams) provider(ctx context.Context, issuer string) (*oidc.Provider, error) {
	u.mu.Lock()
	c, ok := u.byIss[issuer]
	u.mu.Unlock()
	if ok && time.Since(c.fetched) < time.Hour {
		return c.p, nil
	}
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, u.client), issuer)
	if err != nil {
		return nil, fmt.Errorf("discover %s: %w", issuer, err)
	}
	u.mu.Lock()
	u.byIss[issuer] = cachedUpstream{p: p, fetched: time.Now()}
	u.mu.Unlock()
	return p, nil
}

// CreateConnector validates and stores a connector; the client secret is sealed.
func (p *Provider) CreateConnector(ctx context.Context, c *Connector) error {
	var errs []error
	if !connectorID.MatchString(c.ID) {
		errs = append(errs, fmt.Errorf("id %q must be 1-64 of a-z, 0-9, _ and -", c.ID))
	}
	u, err := url.Parse(c.Issuer)
	if err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && identity.IsLoopbackHost(u.Hostname()))) {
		errs = append(errs, fmt.Errorf("issuer %q must be an https URL (http only for loopback)", c.Issuer))
	} else if err := p.egress.CheckURL(ctx, c.Issuer); err != nil {
		errs = append(errs, fmt.Errorf("issuer: %w", err))
	}
	if c.ClientID == "" {
		errs = append(errs, errors.New("a client id is required"))
	}
	if c.ClientSecret == "" {
		errs = append(errs, errors.New("a client secret is required"))
	}
	if len(c.Name) > 100 {
		errs = append(errs, errors.New("the name has at most 100 characters"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", identity.ErrInvalid, err)
	}
	sealed, err := p.socialSealer.Seal([]byte(c.ClientSecret), []byte("connector|"+c.Tenant+"|"+c.ID))
	if err != nil {
		return err
	}
	c.SealedSecret = sealed
	c.CreatedAt = p.now().UTC()
	return p.store.CreateConnector(ctx, c)
}

// Connectors lists a tenant's connectors (secrets stay sealed).
func (p *Provider) Connectors(ctx context.Context, tenant string) ([]*Connector, error) {
	return p.store.ListConnectors(ctx, tenant)
}

// DeleteConnector removes a connector; linked identities stay (they name the issuer).
func (p *Provider) DeleteConnector(ctx context.Context, tenant, id string) error {
	return p.store.DeleteConnector(ctx, tenant, id)
}

func (p *Provider) connector(ctx context.Context, tenant, id string) (*Connector, error) {
	c, err := p.store.GetConnector(ctx, tenant, id)
	if err != nil {
		return nil, err
	}
	secret, err := p.socialSealer.Open(c.SealedSecret, []byte("connector|"+c.Tenant+"|"+c.ID))
	if err != nil {
		return nil, fmt.Errorf("open connector secret: %w", err)
	}
	c.ClientSecret = string(secret)
	return c, nil
}

func (p *Provider) callbackURL(tenant, id string) string {
	return p.Issuer(tenant) + "/connectors/" + id + "/callback"
}

func (p *Provider) oauth2Config(ctx context.Context, c *Connector) (*oauth2.Config, *oidc.Provider, error) {
	op, err := p.upstream.provider(ctx, c.Issuer)
	if err != nil {
		return nil, nil, err
	}
	scopes := []string{oidc.ScopeOpenID, "email", "profile"}
	for _, s := range c.Scopes {
		if !slices.Contains(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	return &oauth2.Config{ClientID: c.ClientID, ClientSecret: c.ClientSecret, Endpoint: op.Endpoint(),
		RedirectURL: p.callbackURL(c.Tenant, c.ID), Scopes: scopes}, op, nil
}

// startUpstream sends the browser to a connector, remembering the authorization
// request to finish afterwards. The state is also set as a cookie, so the callback only
// works in the browser that started the sign-in.
func (p *Provider) startUpstream(w http.ResponseWriter, r *http.Request, t *identity.Tenant, id string) {
	ctx := r.Context()
	c, err := p.connector(ctx, t.Name, id)
	if errors.Is(err, identity.ErrNotFound) {
		p.renderError(w, r, http.StatusBadRequest, page{Error: "This sign-in option does not exist."})
		return
	}
	if err != nil {
		p.upstreamFailed(w, r, err)
		return
	}
	conf, _, err := p.oauth2Config(ctx, c)
	if err != nil {
		p.upstreamFailed(w, r, err)
		return
	}
	state, err := p.randomToken(32)
	if err != nil {
		p.upstreamFailed(w, r, err)
		return
	}
	nonce, err := p.randomToken(32)
	if err != nil {
		p.upstreamFailed(w, r, err)
		return
	}
	verifier := oauth2.GenerateVerifier()
	resume := *r.URL
	q := resume.Query()
	q.Del("idp_hint")
	resume.RawQuery = q.Encode()
	now := p.now().UTC()
	// The sign-in in flight lives in the browser, sealed, not in a row: a request costs
	// the database nothing however often it is repeated (upstreamstate.go).
	value, err := p.sealUpstream(t.Name, state, &UpstreamLogin{ConnectorID: c.ID, Nonce: nonce, Verifier: verifier,
		ResumeURL: resume.RequestURI(), ExpiresAt: now.Add(upstreamTTL)})
	if err != nil {
		p.upstreamFailed(w, r, err)
		return
	}
	if len(value) > maxUpstreamCookie {
		p.renderError(w, r, http.StatusBadRequest, page{Code: "invalid_request", Error: "This sign-in request is too long."})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: upstreamCookie, Value: value, Path: "/oauth2/" + t.Name + "/",
		HttpOnly: true, Secure: p.secure, SameSite: http.SameSiteLaxMode, MaxAge: int(upstreamTTL / time.Second)})
	http.Redirect(w, r, conf.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), http.StatusFound)
}

func (p *Provider) upstreamFailed(w http.ResponseWriter, r *http.Request, err error) {
	p.log.ErrorContext(r.Context(), "upstream sign-in", "err", err)
	p.renderError(w, r, http.StatusBadGateway, page{Code: "temporarily_unavailable",
		Error: "Signing in with this provider failed. Please try again or use another way to sign in."})
}

// upstreamClaims are the ID-token claims Custodian reads.
type upstreamClaims struct {
	Email         string          `json:"email"`
	EmailVerified json.RawMessage `json:"email_verified"`
	GivenName     string          `json:"given_name"`
	FamilyName    string          `json:"family_name"`
	AMR           []string        `json:"amr"`
	Nonce         string          `json:"nonce"`
}

// verified reads email_verified, which some providers send as a string.
func (c upstreamClaims) verified() bool {
	s := strings.Trim(string(c.EmailVerified), `"`)
	return s == "true"
}

// upstreamAnswer is an upstream provider's answer at the callback, verified.
type upstreamAnswer struct {
	login     *UpstreamLogin
	connector *Connector
	token     *oauth2.Token
	rawID     string
	idToken   *oidc.IDToken
	claims    upstreamClaims
}

// verifyUpstream checks the answer at the connector callback: the sign-in started in
// this browser and was not used, the code exchanges for tokens, and the ID token
// verifies with the sign-in's nonce. done reports that it answered the request itself
// (an error page).
func (p *Provider) verifyUpstream(w http.ResponseWriter, r *http.Request, t *identity.Tenant) (ans *upstreamAnswer, done bool) {
	ctx := r.Context()
	fail := func(status int, msg string, args ...any) {
		p.renderError(w, r, status, page{Error: msg, ErrorArgs: args})
	}
	q := r.URL.Query()
	cookie, cerr := r.Cookie(upstreamCookie)
	state := q.Get("state")
	if state == "" || cerr != nil {
		fail(http.StatusBadRequest, "This sign-in did not start in this browser, or it has expired. Please start again.")
		return nil, true
	}
	http.SetCookie(w, &http.Cookie{Name: upstreamCookie, Value: "", Path: "/oauth2/" + t.Name + "/", HttpOnly: true,
		Secure: p.secure, SameSite: http.SameSiteLaxMode, MaxAge: -1})
	login, err := p.openUpstream(t.Name, state, cookie.Value)
	if err != nil || login.ConnectorID != pathVar(r, "id") {
		fail(http.StatusBadRequest, "This sign-in has expired or was already used. Please start again.")
		return nil, true
	}
	if e := q.Get("error"); e != "" {
		fail(http.StatusUnauthorized, "The provider did not sign you in (%s).", e)
		return nil, true
	}
	c, err := p.connector(ctx, t.Name, login.ConnectorID)
	if err != nil {
		p.upstreamFailed(w, r, err)
		return nil, true
	}
	conf, op, err := p.oauth2Config(ctx, c)
	if err != nil {
		p.upstreamFailed(w, r, err)
		return nil, true
	}
	verifier := login.Verifier
	hctx := oidc.ClientContext(ctx, p.upstream.client)
	tok, err := conf.Exchange(hctx, q.Get("code"), oauth2.VerifierOption(string(verifier)))
	if err != nil {
		p.log.WarnContext(ctx, "upstream code exchange", "connector", c.ID, "err", err)
		fail(http.StatusBadGateway, "The provider did not confirm the sign-in. Please try again.")
		return nil, true
	}
	rawID, _ := tok.Extra("id_token").(string)
	idt, err := op.Verifier(&oidc.Config{ClientID: c.ClientID, Now: p.now}).Verify(hctx, rawID)
	var claims upstreamClaims
	if err == nil {
		err = idt.Claims(&claims)
	}
	if err == nil && (claims.Nonce == "" || claims.Nonce != login.Nonce) {
		err = errors.New("nonce mismatch")
	}
	if err != nil {
		p.log.WarnContext(ctx, "upstream ID token refused", "connector", c.ID, "err", err)
		fail(http.StatusBadGateway, "The provider's answer could not be verified. Please try again.")
		return nil, true
	}
	return &upstreamAnswer{login: login, connector: c, token: tok, rawID: rawID, idToken: idt, claims: claims}, false
}

// connectorCallback is where the upstream sends the shopper back:
// GET /oauth2/{tenant}/connectors/{id}/callback.
func (p *Provider) connectorCallback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	t := identity.TenantFromContext(ctx)
	ans, done := p.verifyUpstream(w, r, t)
	if done {
		return
	}
	login, c, tok, rawID, idt, claims := ans.login, ans.connector, ans.token, ans.rawID, ans.idToken, ans.claims
	resume, err := url.Parse(login.ResumeURL)
	if err != nil {
		p.upstreamFailed(w, r, err)
		return
	}
	r2 := r.Clone(ctx)
	r2.Method, r2.URL, r2.Form, r2.PostForm, r2.RequestURI = http.MethodGet, resume, nil, nil, login.ResumeURL
	az, err := p.newAuthorization(ctx, r2)
	if err != nil {
		p.writeAuthorizeError(w, r2, az.ar, err)
		return
	}
	ar := az.ar
	social := &SocialTokens{AccessToken: tok.AccessToken, IDToken: rawID}
	handoff, err := p.sealPending(t.Name, social)
	if err != nil {
		p.upstreamFailed(w, r, err)
		return
	}
	id := customer.SocialIdentity{ConnectorID: c.ID, Issuer: idt.Issuer, Subject: idt.Subject, Email: claims.Email,
		EmailVerified: claims.verified(), GivenName: claims.GivenName, FamilyName: claims.FamilyName, AMR: claims.AMR,
		ClientID: ar.GetClient().GetID(), Fingerprint: p.deviceID(w, r, t.Name), Handoff: handoff}
	pr, err := p.auth.SocialSignIn(ctx, t.Name, id)
	view := page{Title: "Sign in", Tenant: t.Name, ClientName: clientName(ar.GetClient().(*Client)), Action: login.ResumeURL}
	if err != nil {
		status, msg, args := socialPageError(err)
		view.ErrorArgs = args
		if status == http.StatusInternalServerError {
			p.log.ErrorContext(ctx, "social sign-in", "err", err)
		}
		view.Email = claims.Email
		if errors.Is(err, customer.ErrSocialLinkNeedsPassword) {
			// The password form carries the identity, sealed: signing in links it.
			if view.LinkToken, err = p.sealLink(t.Name, id); err != nil {
				p.upstreamFailed(w, r, err)
				return
			}
		}
		p.renderLogin(w, r, status, view, msg)
		return
	}
	if pr.Challenge != nil {
		// The second factor is asked on the page of the resumed request; the challenge
		// keeps the sealed upstream tokens and gives them back when it is answered.
		view.ChallengeID, view.Methods = pr.Challenge.ID, pr.Challenge.Methods
		p.renderSecondFactor(w, r, http.StatusOK, view, "", "")
		return
	}
	bs, err := p.startBrowserSession(w, r, t, pr)
	if err != nil {
		p.writeAuthorizeError(w, r2, ar, fosite.ErrServerError.WithWrap(err))
		return
	}
	client := ar.GetClient().(*Client)
	if !client.FirstParty {
		// Consent first: the authorization endpoint asks and finishes.
		http.Redirect(w, r, login.ResumeURL, http.StatusFound)
		return
	}
	p.finishAuthorize(w, r2, az, bs, social)
}

func socialPageError(err error) (int, string, []any) {
	switch {
	case errors.Is(err, customer.ErrSocialNoAccount):
		return http.StatusForbidden, "There is no account for this sign-in yet. Please sign up first.", nil
	case errors.Is(err, customer.ErrSocialUnverifiedEmail):
		return http.StatusForbidden, "An account with this e-mail address exists, but the provider has not verified the address. Please sign in with your password.", nil
	case errors.Is(err, customer.ErrSocialLinkNeedsPassword):
		return http.StatusConflict, "An account with this e-mail address exists. Please sign in with your password once to connect it.", nil
	}
	return loginPageError(err)
}

// sealHandoff seals upstream tokens for the code exchange.
func (p *Provider) sealHandoff(tenant, requestID string, s *SocialTokens) ([]byte, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	return p.handoffSealer.Seal(b, []byte(tenant+"|"+requestID))
}

// ErrForeignSession: a sign-in was asked to join a shopper session the caller does not
// own (only the caller's own anonymous session of the same client can be joined).
var ErrForeignSession = errors.New("the shopper session is not the caller's anonymous session of this client")

// ExchangeCode is the authorization_code grant for the customer login API's
// socialLogin: fosite checks the code, the redirect URI and PKCE exactly as at the token
// endpoint (a replayed code fails and revokes what the first exchange minted).
// cart, when set, is the caller's validated anonymous token: the tokens join its
// shopper session (the storefront's cart session). It must be an anonymous token of the
// same tenant and client, or the exchange fails with ErrForeignSession before the code
// is spent: no caller can put a session id it does not own into its tokens. The
// upstream tokens come back once, when the sign-in was social.
func (p *Provider) ExchangeCode(ctx context.Context, client *Client, code, redirectURI, verifier string, cart *AccessInfo) (*customer.TokenSet, *SocialTokens, error) {
	t := identity.TenantFromContext(ctx)
	if t == nil {
		return nil, nil, errors.New("exchange code: no tenant in context")
	}
	sessionID := ""
	if cart != nil {
		if !cart.Anonymous || cart.Tenant != t.Name || cart.ClientID != client.ID || cart.SessionID == "" {
			return nil, nil, ErrForeignSession
		}
		sessionID = cart.SessionID
	}
	ar := fosite.NewAccessRequest(NewSession())
	ar.Client = client
	ar.GrantTypes = fosite.Arguments{identity.GrantAuthorizationCode}
	ar.Form.Set("grant_type", identity.GrantAuthorizationCode)
	ar.Form.Set("code", code)
	ar.Form.Set("redirect_uri", redirectURI)
	ar.Form.Set("code_verifier", verifier)
	ctx, err := p.handleTokenRequest(ctx, ar)
	if err != nil {
		return nil, nil, err
	}
	if sess, ok := ar.GetSession().(*Session); ok && sessionID != "" {
		sess.SessionID, sess.sessionOverride = sessionID, sessionID
	}
	resp, err := p.fosite.NewAccessResponse(ctx, ar)
	if err != nil {
		return nil, nil, err
	}
	ts := tokenSet(ar, resp)
	var social *SocialTokens
	sealed, err := p.store.TakeSocialHandoff(ctx, t.Name, ar.GetID(), p.now().UTC())
	if err == nil {
		b, err := p.handoffSealer.Open(sealed, []byte(t.Name+"|"+ar.GetID()))
		if err != nil {
			return nil, nil, fmt.Errorf("open social handoff: %w", err)
		}
		social = &SocialTokens{}
		if err := json.Unmarshal(b, social); err != nil {
			return nil, nil, fmt.Errorf("decode social handoff: %w", err)
		}
	} else if !errors.Is(err, identity.ErrNotFound) {
		return nil, nil, err
	}
	return ts, social, nil
}

// pendingLink is an upstream identity waiting for the customer's password.
type pendingLink struct {
	Identity  customer.SocialIdentity `json:"identity"`
	ExpiresAt time.Time               `json:"exp"`
}

// sealLink seals an identity for the login form that links it.
func (p *Provider) sealLink(tenant string, id customer.SocialIdentity) (string, error) {
	b, err := json.Marshal(pendingLink{Identity: id, ExpiresAt: p.now().Add(upstreamTTL)})
	if err != nil {
		return "", err
	}
	sealed, err := p.socialSealer.Seal(b, []byte("link|"+tenant))
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(sealed), nil
}

// linkAfterPassword links the identity a login form carried to the customer who just
// signed in with the password, when the addresses match.
func (p *Provider) linkAfterPassword(ctx context.Context, t *identity.Tenant, token string, pr *customer.Principal) error {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return fmt.Errorf("%w: link token", identity.ErrInvalid)
	}
	b, err := p.socialSealer.Open(raw, []byte("link|"+t.Name))
	if err != nil {
		return err
	}
	var l pendingLink
	if err := json.Unmarshal(b, &l); err != nil {
		return err
	}
	if !p.now().Before(l.ExpiresAt) || mailaddr.Key(l.Identity.Email) != mailaddr.Key(pr.Email) {
		return fmt.Errorf("%w: the link expired or names another account", identity.ErrInvalid)
	}
	return p.auth.LinkSocialIdentity(ctx, t.Name, pr.CustomerID, l.Identity)
}

// sealPending seals upstream tokens to travel with a second-factor challenge.
func (p *Provider) sealPending(tenant string, s *SocialTokens) (string, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return "", err
	}
	sealed, err := p.handoffSealer.Seal(b, []byte("pending|"+tenant))
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(sealed), nil
}

// openPending opens what sealPending sealed; nil when there is nothing to open.
func (p *Provider) openPending(tenant, token string) *SocialTokens {
	if token == "" {
		return nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return nil
	}
	b, err := p.handoffSealer.Open(raw, []byte("pending|"+tenant))
	if err != nil {
		return nil
	}
	var s SocialTokens
	if json.Unmarshal(b, &s) != nil {
		return nil
	}
	return &s
}
