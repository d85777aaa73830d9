// Package oauth is Custodian's OAuth 2.0 / OpenID Connect provider: fosite composed per
// tenant, its endpoints, the login pages and the token issuance the customer APIs use.
package oauth

import (
	"context"
	"crypto/rand"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/handler/pkce"
	fositestorage "github.com/ory/fosite/storage"
	"github.com/ory/fosite/token/jwt"

	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/egress"
	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/twofactor"
)

// Store is everything the provider needs of the database. The same object is handed
// to fosite, so it must implement fosite's Transactional itself.
type Store interface {
	fosite.Storage
	oauth2.CoreStorage
	oauth2.TokenRevocationStorage
	openid.OpenIDConnectRequestStorage
	pkce.PKCERequestStorage
	fositestorage.Transactional
	identity.TenantStore
	ClientStore
	KeyStore
	ConnectorStore
	SessionStore
	identity.EventStore
	TokenStore
	Ping(ctx context.Context) error
}

// Authenticator checks customers' credentials for the login pages and the password
// grant; the customer package implements it (lockout, rate limits, second factors,
// audit).
type Authenticator interface {
	AuthenticatePassword(ctx context.Context, tenant string, in customer.LoginAttempt) (*customer.Principal, error)
	VerifySecondFactor(ctx context.Context, tenant string, in customer.SecondFactor) (*customer.Principal, error)
	ResendSecondFactor(ctx context.Context, tenant, challengeID, clientID string) (*twofactor.Info, error)
	// SocialSignIn signs in the customer an upstream identity is linked to, links it to
	// the customer with its verified e-mail, or creates one, per the tenant's settings.
	SocialSignIn(ctx context.Context, tenant string, in customer.SocialIdentity) (*customer.Principal, error)
	// LinkSocialIdentity links an upstream identity to a customer who has just proven
	// the password (the tenant does not link by e-mail alone).
	LinkSocialIdentity(ctx context.Context, tenant string, customerID int64, in customer.SocialIdentity) error

	// What the hosted sign-up and password-reset pages (pages.go) and the consent
	// page's "Signed in as" need: the same rules as the customer login API.
	Signup(ctx context.Context, t *identity.Tenant, in customer.SignupRequest) (*customer.Account, error)
	ResendOptInFrom(ctx context.Context, t *identity.Tenant, email string, page *customer.HostedPage) error
	ConfirmOptIn(ctx context.Context, t *identity.Tenant, token string) (*customer.Account, error)
	RequestPasswordResetFrom(ctx context.Context, t *identity.Tenant, email, site string, page *customer.HostedPage) error
	ResetPassword(ctx context.Context, t *identity.Tenant, token, password string) error
	Get(ctx context.Context, tenant string, id int64) (*customer.Account, error)
	// AllowAnonymous counts a new anonymous token of a client against the tenant's
	// ratelimit.anonymous_per_client (an identity.RateLimitError past it).
	AllowAnonymous(ctx context.Context, t *identity.Tenant, clientID string) error
}

// ClaimsSource supplies the OpenID Connect claims of a customer for ID tokens and the
// UserInfo endpoint.
type ClaimsSource interface {
	Claims(ctx context.Context, tenant string, customerID int64, scopes []string) (map[string]any, error)
}

// Config configures a Provider.
type Config struct {
	PublicURL     string // base URL; issuers are PublicURL/oauth2/{tenant}
	Secret        []byte // server secret; every key is derived from it
	Store         Store
	Authenticator Authenticator
	Claims        ClaimsSource
	Templates     *template.Template
	Logger        *slog.Logger
	Now           func() time.Time
	Rand          io.Reader
	SecureCookies bool
	OnTokenIssued func(grant string) // metrics hook
	// Egress says where calls to upstream providers and webhooks may go: connector
	// issuers and webhook URLs are checked against it when configured.
	Egress egress.Policy
	// HTTPClient talks to upstream (social) providers; default: Egress.Client with a
	// 10 s timeout, which checks every connection's address.
	HTTPClient *http.Client
	// MaxBodyBytes limits request bodies of the OAuth routes (0: no limit); a larger
	// one is answered 413 in the OAuth error shape.
	MaxBodyBytes int64
	// WebhookSecrets seals tenants' webhook secrets (default: derived from Secret).
	WebhookSecrets *identity.WebhookSecrets
}

// Provider is the OAuth 2.0 / OpenID Connect provider of every tenant.
type Provider struct {
	publicURL  string
	store      Store
	auth       Authenticator
	claims     ClaimsSource
	keys       *Keyring
	hmac       *oauth2.HMACSHAStrategy
	fosite     fosite.OAuth2Provider
	fconf      *tenantConfig
	tmpl       *template.Template
	log        *slog.Logger
	now        func() time.Time
	rand       io.Reader
	secure     bool
	csrfKey    []byte
	anonKey    []byte // signs stateless anonymous tokens (anonymous.go)
	onIssued   func(grant string)
	secretHash SecretHasher

	webhookSecrets *identity.WebhookSecrets
	settingSecrets *identity.SettingSecrets // the other secret settings (import.firebase.signer_key)
	egress         egress.Policy
	socialSealer   *identity.Sealer // connector secrets, upstream PKCE verifiers
	handoffSealer  *identity.Sealer // upstream tokens waiting for the code exchange
	upstream       *upstreams
	maxBody        int64 // request body limit of the OAuth routes
}

// NewProvider composes fosite and the handlers.
func NewProvider(cfg Config) (*Provider, error) {
	if len(cfg.Secret) < 32 {
		return nil, fmt.Errorf("%w: server secret must be at least 32 bytes", identity.ErrInvalid)
	}
	p := &Provider{
		publicURL:  strings.TrimRight(cfg.PublicURL, "/"),
		store:      cfg.Store,
		auth:       cfg.Authenticator,
		claims:     cfg.Claims,
		tmpl:       cfg.Templates,
		log:        cfg.Logger,
		now:        cfg.Now,
		rand:       cfg.Rand,
		maxBody:    cfg.MaxBodyBytes,
		secure:     cfg.SecureCookies || strings.HasPrefix(cfg.PublicURL, "https://"),
		csrfKey:    identity.DeriveKey(cfg.Secret, "custodian/csrf/v1"),
		anonKey:    identity.DeriveKey(cfg.Secret, "custodian/anonymous-token/v1"),
		onIssued:   cfg.OnTokenIssued,
		secretHash: SecretHasher{Key: identity.DeriveKey(cfg.Secret, "custodian/client-secret/v1")},
		egress:     cfg.Egress,
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.rand == nil {
		p.rand = rand.Reader
	}
	if p.onIssued == nil {
		p.onIssued = func(string) {}
	}
	var err error
	if p.settingSecrets, err = identity.NewSettingSecrets(cfg.Secret); err != nil {
		return nil, err
	}
	if p.webhookSecrets = cfg.WebhookSecrets; p.webhookSecrets == nil {
		if p.webhookSecrets, err = identity.NewWebhookSecrets(cfg.Secret); err != nil {
			return nil, err
		}
	}
	if p.socialSealer, err = identity.NewSealerFor(cfg.Secret, "custodian/social/v1"); err != nil {
		return nil, err
	}
	if p.handoffSealer, err = identity.NewSealerFor(cfg.Secret, handoffPurpose); err != nil {
		return nil, err
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = cfg.Egress.Client(10 * time.Second)
	}
	p.upstream = &upstreams{byIss: map[string]cachedUpstream{}, client: hc}
	sealer, err := identity.NewSealer(cfg.Secret)
	if err != nil {
		return nil, err
	}
	p.keys = NewKeyring(cfg.Store, sealer, p.now, p.rand)

	p.composeFosite(cfg.Secret)
	return p, nil
}

// composeFosite builds fosite's configuration and composes the handlers Custodian
// uses (explicitly, not ComposeAllEnabled), with Custodian's own grants after them.
func (p *Provider) composeFosite(secret []byte) {
	p.fconf = &tenantConfig{
		Config: &fosite.Config{
			GlobalSecret:                   identity.DeriveKey(secret, "custodian/token-hmac/v1"),
			ClientSecretsHasher:            p.secretHash,
			EnforcePKCEForPublicClients:    true,
			EnablePKCEPlainChallengeMethod: false,
			// Refresh tokens go to every client that holds the refresh_token grant;
			// storefronts should not need offline_access to stay signed in.
			RefreshTokenScopes:         []string{},
			ScopeStrategy:              fosite.ExactScopeStrategy,
			AudienceMatchingStrategy:   fosite.DefaultAudienceMatchingStrategy,
			TokenEntropy:               32,
			MinParameterEntropy:        8,
			SendDebugMessagesToClients: false,
			RedirectSecureChecker:      secureRedirect,
			AllowedPromptValues:        []string{"login", "none", "consent"},
			JWTScopeClaimKey:           jwt.JWTScopeFieldString,
		},
		publicURL: p.publicURL,
	}
	p.hmac = compose.NewOAuth2HMACStrategy(p.fconf)
	keyGetter := func(ctx context.Context) (any, error) {
		t := identity.TenantFromContext(ctx)
		if t == nil {
			return nil, fmt.Errorf("signing key: no tenant in context")
		}
		return p.keys.SigningKey(ctx, t.Name)
	}
	strategy := &compose.CommonStrategy{
		CoreStrategy:               p.hmac,
		OpenIDConnectTokenStrategy: compose.NewOpenIDConnectStrategy(keyGetter, p.fconf),
		Signer:                     &jwt.DefaultSigner{GetPrivateKey: keyGetter},
	}
	p.fosite = p.compose(strategy,
		compose.OAuth2AuthorizeExplicitFactory,
		compose.OAuth2ClientCredentialsGrantFactory,
		compose.OAuth2RefreshTokenGrantFactory,
		compose.OpenIDConnectExplicitFactory,
		compose.OpenIDConnectRefreshFactory,
		compose.OAuth2TokenRevocationFactory,
		compose.OAuth2PKCEFactory,
	)
	// Custodian's own grants, then the handler that adds jwt_access_token and
	// session_id to every token response (it must run last).
	// (fosite's handler lists drop a second handler of the same type, so one
	// directGrant serves both grants.)
	p.fconf.TokenEndpointHandlers.Append(&anonymousRefresh{p: p})
	p.fconf.TokenEndpointHandlers.Append(&directGrant{p: p})
	p.fconf.TokenEndpointHandlers.Append(&responseExtras{p: p})
	// The revocation endpoint also takes the JWT form of an access token.
	p.fconf.RevocationHandlers.Append(&jwtRevocation{p: p})
}

// compose builds the fosite provider with exactly the given factories. fosite's
// compose.Compose wants a concrete *fosite.Config; Custodian's configurator answers
// per tenant, so the same loop is written here over it.
func (p *Provider) compose(strategy any, factories ...compose.Factory) fosite.OAuth2Provider {
	f := fosite.NewOAuth2Provider(p.store, p.fconf)
	p.fconf.ClientAuthenticationStrategy = p.clientAuthentication(f)
	for _, factory := range factories {
		h := factory(p.fconf, p.store, strategy)
		if ah, ok := h.(fosite.AuthorizeEndpointHandler); ok {
			p.fconf.AuthorizeEndpointHandlers.Append(ah)
		}
		if th, ok := h.(fosite.TokenEndpointHandler); ok {
			// Not Append: it keeps one handler per type, and every wrapper has one.
			p.fconf.TokenEndpointHandlers = append(p.fconf.TokenEndpointHandlers, skipAnonymousRefresh{th})
		}
		if ti, ok := h.(fosite.TokenIntrospector); ok {
			p.fconf.TokenIntrospectionHandlers.Append(ti)
		}
		if rh, ok := h.(fosite.RevocationHandler); ok {
			p.fconf.RevocationHandlers.Append(rh)
		}
	}
	return f
}

// clientAuthentication is how fosite's endpoints (token, revocation) authenticate
// clients: fosite's own parsing and secret check, then Custodian's rule
// (Client.checkSecret) that a public client presents no secret.
func (p *Provider) clientAuthentication(f *fosite.Fosite) fosite.ClientAuthenticationStrategy {
	return func(ctx context.Context, r *http.Request, form url.Values) (fosite.Client, error) {
		fc, err := f.DefaultClientAuthenticationStrategy(ctx, r, form)
		if err != nil {
			return nil, err
		}
		c, ok := fc.(*Client)
		if !ok {
			return nil, fosite.ErrServerError.WithDebugf("unexpected client type %T", fc)
		}
		if c.Public {
			if err := c.checkSecret(ctx, p.secretHash, presentedSecret(r, form)); err != nil {
				return nil, fosite.ErrInvalidClient.WithHint("A public client authenticates with its client_id alone and must not send a client secret.").WithWrap(err)
			}
		}
		return c, nil
	}
}

// presentedSecret is the client secret a request carries, in the HTTP Basic
// credentials (client_secret_basic) or the form (client_secret_post).
func presentedSecret(r *http.Request, form url.Values) string {
	if _, secret, ok := r.BasicAuth(); ok && secret != "" {
		return secret
	}
	return form.Get("client_secret")
}

// secureRedirect allows https redirect URIs, loopback http ones (native apps and
// local development) and private-use schemes of mobile apps (com.example.app:/cb).
func secureRedirect(_ context.Context, u *url.URL) bool {
	switch u.Scheme {
	case "https":
		return true
	case "http":
		return identity.IsLoopbackHost(u.Hostname())
	default:
		return strings.Contains(u.Scheme, ".")
	}
}

// tenantConfig answers fosite's configuration questions for the tenant of the request.
type tenantConfig struct {
	*fosite.Config
	publicURL string
}

type lifespanKey struct{}

// Lifespans overrides the token lifetimes of one issuance (the ticket API lets
// privileged clients ask for other lifetimes within the tenant's caps).
type Lifespans struct {
	Access  time.Duration
	Refresh time.Duration
}

// WithLifespans returns a context that makes tokens issued under it use l.
func WithLifespans(ctx context.Context, l Lifespans) context.Context {
	return context.WithValue(ctx, lifespanKey{}, l)
}

func (c *tenantConfig) settings(ctx context.Context) identity.Settings {
	if t := identity.TenantFromContext(ctx); t != nil {
		return t.Settings
	}
	return identity.DefaultSettings()
}

func (c *tenantConfig) GetAccessTokenLifespan(ctx context.Context) time.Duration {
	if l, ok := ctx.Value(lifespanKey{}).(Lifespans); ok && l.Access > 0 {
		return l.Access
	}
	return time.Duration(c.settings(ctx).AccessTTL)
}

func (c *tenantConfig) GetRefreshTokenLifespan(ctx context.Context) time.Duration {
	if l, ok := ctx.Value(lifespanKey{}).(Lifespans); ok && l.Refresh > 0 {
		return l.Refresh
	}
	return time.Duration(c.settings(ctx).RefreshTTL)
}

func (c *tenantConfig) GetIDTokenLifespan(ctx context.Context) time.Duration {
	return time.Duration(c.settings(ctx).IDTokenTTL)
}

func (c *tenantConfig) GetAuthorizeCodeLifespan(ctx context.Context) time.Duration {
	return time.Duration(c.settings(ctx).CodeTTL)
}

// CustomerScopes are the permissions of a shopper's own tokens in the customer APIs: the
// seed's customer role, so storefront code written for it sees the same scope list.
// Custodian grants them itself; they are not requested by clients.
var CustomerScopes = []string{
	"approval.approval_manage_own", "approval.approval_read_own", "coupon.coupon_redeem",
	"customer.consent_manage", "customer.consent_view", "customer.customer_manage_own",
	"customer.customer_read_own", "customer.customerprofile_edit", "customer.customerprofile_view",
	"customermanagement.legalentity_read_own", "customersegment.segment_read_own",
	"iam.assignment_create_own", "iam.assignment_delete_own", "iam.group_read_own", "iam.scope_read_own",
	"iam.user_read_own", "order.history_view", "order.order_readascustomer", "order.order_updateascustomer",
	"quote.quote_manage_own", "quote.quote_read_own", "returns.returns_manage_own", "returns.returns_read_own",
}

// GetScopeStrategy matches scopes exactly; a refresh also keeps the customer scopes
// Custodian granted itself, so a token of the customer APIs refreshes at every endpoint
// whatever scopes its client is registered for. fosite puts the access request in ctx.
func (c *tenantConfig) GetScopeStrategy(ctx context.Context) fosite.ScopeStrategy {
	if ar, ok := ctx.Value(fosite.AccessRequestContextKey).(fosite.AccessRequester); ok && ar.GetGrantTypes().ExactOne(identity.GrantRefreshToken) {
		return refreshScopeStrategy
	}
	return fosite.ExactScopeStrategy
}

func refreshScopeStrategy(haystack []string, needle string) bool {
	return fosite.ExactScopeStrategy(haystack, needle) || slices.Contains(CustomerScopes, needle)
}

func (c *tenantConfig) issuer(ctx context.Context) string {
	if t := identity.TenantFromContext(ctx); t != nil {
		return c.publicURL + "/oauth2/" + t.Name
	}
	return c.publicURL
}

func (c *tenantConfig) GetIDTokenIssuer(ctx context.Context) string     { return c.issuer(ctx) }
func (c *tenantConfig) GetAccessTokenIssuer(ctx context.Context) string { return c.issuer(ctx) }
func (c *tenantConfig) GetTokenURLs(ctx context.Context) []string {
	return []string{c.issuer(ctx) + "/token"}
}

// Issuer returns the issuer URL of a tenant.
func (p *Provider) Issuer(tenant string) string { return p.publicURL + "/oauth2/" + tenant }

// Keys exposes the keyring (JWKS, signing and verification of Custodian's JWTs).
func (p *Provider) Keys() *Keyring { return p.keys }
