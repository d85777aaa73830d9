package oauth

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/custodian-id/custodian/identity"
)

// Behaviors are named permissions a client can hold beyond OAuth scopes.
const (
	// BehaviorConfigureTokenDurations lets a client ask the ticket API for token
	// lifetimes other than the tenant's defaults (never above the tenant's caps).
	BehaviorConfigureTokenDurations = "customer-auth:configure-token-durations"
	// BehaviorIntrospectAny lets a confidential client (a resource server of the
	// tenant) introspect every token of the tenant, not only its own and those whose
	// audience names it.
	BehaviorIntrospectAny = "oauth:introspect-any"
	// BehaviorForwardShopperIP lets a confidential client (a storefront's backend that
	// calls the ticket or login API server to server) name the shopper's address in
	// X-Shopper-IP; rate limits, lockout, devices and the audit trail then see it. The
	// header of every other caller is ignored.
	BehaviorForwardShopperIP = "customer-auth:forward-shopper-ip"
)

// ForwardsShopperIP reports whether the client's X-Shopper-IP is believed: a
// confidential client holding BehaviorForwardShopperIP.
func (c *Client) ForwardsShopperIP() bool {
	return c != nil && !c.Public && c.HasBehavior(BehaviorForwardShopperIP)
}

// MinSecretLength is the shortest client secret accepted: secrets are verified with a
// fast keyed hash, which is only safe for high-entropy secrets.
const MinSecretLength = 32

// Client is an OAuth 2.0 client (a storefront application) of one tenant.
type Client struct {
	Tenant                 string
	ID                     string
	Name                   string
	SecretHash             []byte // nil for public clients
	Public                 bool
	FirstParty             bool // skips the consent page; may use the password grant
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	GrantTypes             []string
	ResponseTypes          []string
	Scopes                 []string
	Audience               []string
	Behaviors              []string
	CreatedAt              time.Time
	UpdatedAt              time.Time
}

var _ fosite.Client = (*Client)(nil)

func (c *Client) GetID() string                   { return c.ID }
func (c *Client) GetHashedSecret() []byte         { return c.SecretHash }
func (c *Client) GetRedirectURIs() []string       { return c.RedirectURIs }
func (c *Client) GetGrantTypes() fosite.Arguments { return c.GrantTypes }
func (c *Client) GetScopes() fosite.Arguments     { return c.Scopes }
func (c *Client) IsPublic() bool                  { return c.Public }
func (c *Client) GetAudience() fosite.Arguments   { return c.Audience }

// GetResponseTypes returns the response types; only the code flow is offered.
func (c *Client) GetResponseTypes() fosite.Arguments {
	if len(c.ResponseTypes) == 0 {
		return fosite.Arguments{"code"}
	}
	return c.ResponseTypes
}

// GetResponseModes lists how an authorization response may reach the client: in the
// redirect's query (the default) or as an HTML form posted to the redirect URI (OAuth 2.0
// Form Post Response Mode). Discovery advertises the same two.
func (c *Client) GetResponseModes() []fosite.ResponseModeType {
	return []fosite.ResponseModeType{fosite.ResponseModeDefault, fosite.ResponseModeQuery, fosite.ResponseModeFormPost}
}

var _ fosite.ResponseModeClient = (*Client)(nil)

// ErrPublicClientSecret: a public client presented a client secret. Public clients have
// none, so a secret means a confused or impersonating caller; it is refused, never
// ignored.
var ErrPublicClientSecret = errors.New("a public client must not present a client secret")

// checkSecret is the one rule of client authentication, wherever a client
// authenticates (the token, revocation and introspection endpoints through fosite, the
// customer APIs through Provider.AuthenticateClient): a public client authenticates by
// its id alone and presents no secret; a confidential client presents its secret.
func (c *Client) checkSecret(ctx context.Context, h SecretHasher, presented string) error {
	if c.Public {
		if presented != "" {
			return ErrPublicClientSecret
		}
		return nil
	}
	if err := h.Compare(ctx, c.SecretHash, []byte(presented)); err != nil {
		return fmt.Errorf("%w: client secret", identity.ErrInvalidCredentials)
	}
	return nil
}

// HasBehavior reports whether the client holds a named permission.
func (c *Client) HasBehavior(b string) bool { return slices.Contains(c.Behaviors, b) }

// Validate checks a client before it is stored.
func (c *Client) Validate() error {
	var errs []error
	if c.ID == "" || len(c.ID) > 128 || strings.ContainsAny(c.ID, " \t\r\n:") {
		errs = append(errs, errors.New("client id must be 1 to 128 characters without spaces or colons"))
	}
	if c.Public && len(c.SecretHash) > 0 {
		errs = append(errs, errors.New("a public client has no secret"))
	}
	if !c.Public && len(c.SecretHash) == 0 {
		errs = append(errs, errors.New("a confidential client needs a secret"))
	}
	for _, g := range c.GrantTypes {
		switch g {
		case identity.GrantAuthorizationCode, identity.GrantRefreshToken, identity.GrantAnonymous, identity.GrantTokenExchange:
		case identity.GrantClientCredentials:
			if c.Public {
				errs = append(errs, errors.New("a public client cannot use client_credentials"))
			}
		case identity.GrantPassword:
			if !c.FirstParty {
				errs = append(errs, errors.New("only first-party clients may use the password grant"))
			}
		default:
			errs = append(errs, fmt.Errorf("unknown grant type %q", g))
		}
	}
	if slices.Contains(c.GrantTypes, identity.GrantAuthorizationCode) && len(c.RedirectURIs) == 0 {
		errs = append(errs, errors.New("the authorization_code grant needs at least one redirect URI"))
	}
	for _, u := range append(slices.Clone(c.RedirectURIs), c.PostLogoutRedirectURIs...) {
		if err := validateRedirectURI(u); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", identity.ErrInvalid, errors.Join(errs...))
	}
	return nil
}

func validateRedirectURI(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return fmt.Errorf("redirect URI %q is not an absolute URI", raw)
	}
	if u.Fragment != "" {
		return fmt.Errorf("redirect URI %q must not have a fragment", raw)
	}
	if u.Scheme == "http" && !identity.IsLoopbackHost(u.Hostname()) {
		return fmt.Errorf("redirect URI %q: plain http is only allowed for loopback hosts", raw)
	}
	return nil
}

// ClientStore persists clients.
type ClientStore interface {
	CreateClient(ctx context.Context, c *Client) error
	// GetTenantClient returns a client of the given tenant.
	GetTenantClient(ctx context.Context, tenant, id string) (*Client, error)
	ListClients(ctx context.Context, tenant string) ([]*Client, error)
	UpdateClient(ctx context.Context, c *Client) error
	// SetClientSecretHash replaces the secret hash of a confidential client: ErrNotFound
	// for no such client, ErrInvalid for a public one.
	SetClientSecretHash(ctx context.Context, tenant, id string, hash []byte) error
	DeleteClient(ctx context.Context, tenant, id string) error
}

// SecretHasher hashes client secrets with HMAC-SHA256 under a key derived from the
// server secret. Client secrets are long random strings, so a fast keyed hash is as
// safe as bcrypt for them and keeps client authentication cheap (bcrypt at fosite's
// default cost caps a 2-core node at about 8 client-authenticated requests a second).
// Comparison is constant time.
type SecretHasher struct {
	Key []byte
}

var _ fosite.Hasher = SecretHasher{}

// Hash implements fosite.Hasher.
func (h SecretHasher) Hash(_ context.Context, data []byte) ([]byte, error) {
	if len(h.Key) < 32 {
		return nil, errors.New("secret hasher: key too short")
	}
	m := hmac.New(sha256.New, h.Key)
	m.Write(data)
	return m.Sum(nil), nil
}

// Compare implements fosite.Hasher.
func (h SecretHasher) Compare(ctx context.Context, hash, data []byte) error {
	want, err := h.Hash(ctx, data)
	if err != nil {
		return err
	}
	if !hmac.Equal(want, hash) {
		return errors.New("secret mismatch")
	}
	return nil
}

// Clone returns a deep copy of the client: a cache hands each caller its own.
func (c *Client) Clone() *Client {
	if c == nil {
		return nil
	}
	out := *c
	out.SecretHash = bytes.Clone(c.SecretHash)
	for _, l := range []*[]string{&out.RedirectURIs, &out.PostLogoutRedirectURIs, &out.GrantTypes, &out.ResponseTypes,
		&out.Scopes, &out.Audience, &out.Behaviors} {
		*l = slices.Clone(*l)
	}
	return &out
}
