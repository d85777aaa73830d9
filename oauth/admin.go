package oauth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/custodian-id/custodian/identity"
)

// Administration of tenants, clients and keys, shared by the custodian command and the
// /admin routes.

// CreateTenant creates a tenant with the default settings and its first signing keys
// (current and next).
func (p *Provider) CreateTenant(ctx context.Context, name string) (*identity.Tenant, error) {
	if !identity.ValidTenantName(name) {
		return nil, fmt.Errorf("%w: tenant name %q must match %s", identity.ErrInvalid, name, "^"+identity.TenantPattern+"$")
	}
	now := p.now().UTC()
	t := &identity.Tenant{Name: name, Settings: identity.DefaultSettings(), CreatedAt: now, UpdatedAt: now}
	if err := p.store.CreateTenant(ctx, t); err != nil {
		return nil, err
	}
	if err := p.keys.Ensure(ctx, name, t.Settings.SigningAlg); err != nil {
		return nil, fmt.Errorf("create keys of tenant %q: %w", name, err)
	}
	return t, nil
}

// CreateTenantWithSettings creates a tenant (CreateTenant) with settings changed by
// their stable keys. The settings are checked before anything is created, so a bad one
// creates nothing.
func (p *Provider) CreateTenantWithSettings(ctx context.Context, name string, set map[string]string) (*identity.Tenant, error) {
	scratch := identity.DefaultSettings()
	var bad []error
	for k, v := range set {
		if err := scratch.Set(k, v); err != nil {
			bad = append(bad, err)
		}
	}
	if len(bad) == 0 {
		if err := scratch.Validate(); err != nil {
			bad = append(bad, err)
		}
	}
	if len(bad) > 0 {
		return nil, errors.Join(bad...)
	}
	t, err := p.CreateTenant(ctx, name)
	if err == nil && len(set) > 0 {
		t, err = p.UpdateTenantSettings(ctx, name, set)
	}
	return t, err
}

// GetTenant returns a tenant.
func (p *Provider) GetTenant(ctx context.Context, name string) (*identity.Tenant, error) {
	return p.store.GetTenant(ctx, name)
}

// ListTenants returns every tenant.
func (p *Provider) ListTenants(ctx context.Context) ([]*identity.Tenant, error) {
	return p.store.ListTenants(ctx)
}

// UpdateTenantSettings applies KEY=VALUE changes by stable key; either all apply or
// none does. The settings it changes are read in the transaction that writes them,
// never from this node's cache: a cached copy may not yet hold a change made a moment
// ago on another node or by the command line, and writing it back would undo that
// change.
func (p *Provider) UpdateTenantSettings(ctx context.Context, name string, set map[string]string) (*identity.Tenant, error) {
	// The webhook address is checked (a DNS lookup) before the transaction opens.
	if u, ok := set["notify.webhook_url"]; ok && strings.TrimSpace(u) != "" {
		if err := p.egress.CheckURL(ctx, strings.TrimSpace(u)); err != nil {
			return nil, fmt.Errorf("%w: notify.webhook_url: %w", identity.ErrInvalid, err)
		}
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	err := p.store.InTx(ctx, func(ctx context.Context) error {
		t, err := p.store.GetTenant(ctx, name) // in a transaction: from the database
		if err != nil {
			return err
		}
		var errs []error
		for _, k := range keys {
			if err := t.Settings.Set(k, set[k]); err != nil {
				errs = append(errs, err)
			}
		}
		if len(errs) == 0 {
			if err := t.Settings.Validate(); err != nil {
				errs = append(errs, err)
			}
		}
		if len(errs) > 0 {
			return errors.Join(errs...)
		}
		if err := p.sealSettings(name, &t.Settings); err != nil {
			return err
		}
		return p.store.UpdateTenantSettings(ctx, name, t.Settings)
	})
	if err != nil {
		return nil, err
	}
	return p.store.GetTenant(ctx, name)
}

// SealSecrets seals the secret settings that a release before sealing stored as
// plaintext (notify.webhook_secret), tenant by tenant. It runs at every start and
// changes nothing once every secret is sealed.
func (p *Provider) SealSecrets(ctx context.Context) (int, error) {
	ts, err := p.store.ListTenants(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, t := range ts {
		if !unsealedSettings(&t.Settings) {
			continue
		}
		err := p.store.InTx(ctx, func(ctx context.Context) error {
			// Read again in the transaction: another node may be doing the same.
			cur, err := p.store.GetTenant(ctx, t.Name)
			if err != nil || !unsealedSettings(&cur.Settings) {
				return err
			}
			if err := p.sealSettings(t.Name, &cur.Settings); err != nil {
				return err
			}
			return p.store.UpdateTenantSettings(ctx, t.Name, cur.Settings)
		})
		if err != nil {
			return n, fmt.Errorf("seal the secret settings of tenant %q: %w", t.Name, err)
		}
		n++
	}
	return n, nil
}

// sealSettings seals every secret setting still in plaintext before it is stored.
func (p *Provider) sealSettings(tenant string, s *identity.Settings) error {
	if err := p.webhookSecrets.SealSetting(tenant, &s.WebhookSecret); err != nil {
		return err
	}
	for key, v := range s.SecretSettings() {
		if err := p.settingSecrets.SealSetting(tenant, key, v); err != nil {
			return err
		}
	}
	return nil
}

// unsealedSettings reports whether a secret setting is still in plaintext.
func unsealedSettings(s *identity.Settings) bool {
	if s.WebhookSecret.Unsealed() {
		return true
	}
	for _, v := range s.SecretSettings() {
		if v.Unsealed() {
			return true
		}
	}
	return false
}

// RotateKeys rotates a tenant's signing keys: next becomes current, current becomes
// previous, and a new next key of the tenant's algorithm is created.
func (p *Provider) RotateKeys(ctx context.Context, tenant string) error {
	t, err := p.store.GetTenant(ctx, tenant)
	if err != nil {
		return err
	}
	return p.keys.Rotate(ctx, tenant, t.Settings.SigningAlg)
}

// CreateClient stores a client. A confidential client gets the given secret (at least
// MinSecretLength characters) or a generated one; the secret is returned once and only
// its keyed hash is kept.
func (p *Provider) CreateClient(ctx context.Context, c *Client, secret string) (string, error) {
	if _, err := p.store.GetTenant(ctx, c.Tenant); err != nil {
		return "", err
	}
	if c.Public {
		if secret != "" {
			return "", fmt.Errorf("%w: a public client has no secret", identity.ErrInvalid)
		}
	} else {
		if secret == "" {
			s, err := p.randomToken(32)
			if err != nil {
				return "", err
			}
			secret = s
		}
		if len(secret) < MinSecretLength {
			return "", fmt.Errorf("%w: client secrets must be at least %d characters", identity.ErrInvalid, MinSecretLength)
		}
		h, err := p.secretHash.Hash(ctx, []byte(secret))
		if err != nil {
			return "", err
		}
		c.SecretHash = h
	}
	if len(c.GrantTypes) == 0 {
		// Browser clients get the code flow; a confidential client without redirect
		// URIs is a backend and gets client credentials.
		switch {
		case len(c.RedirectURIs) > 0:
			c.GrantTypes = []string{identity.GrantAuthorizationCode, identity.GrantRefreshToken}
			if !c.Public {
				c.GrantTypes = append(c.GrantTypes, identity.GrantClientCredentials)
			}
		case c.Public:
			c.GrantTypes = []string{identity.GrantAnonymous, identity.GrantRefreshToken}
		default:
			c.GrantTypes = []string{identity.GrantClientCredentials, identity.GrantRefreshToken}
		}
	}
	if len(c.Scopes) == 0 {
		c.Scopes = []string{"openid", "profile", "email", "offline_access"}
	}
	if err := c.Validate(); err != nil {
		return "", err
	}
	now := p.now().UTC()
	c.CreatedAt, c.UpdatedAt = now, now
	if err := p.store.CreateClient(ctx, c); err != nil {
		return "", err
	}
	if c.Public {
		return "", nil
	}
	return secret, nil
}

// GetClient returns a client of a tenant.
func (p *Provider) GetClient(ctx context.Context, tenant, id string) (*Client, error) {
	return p.store.GetTenantClient(ctx, tenant, id)
}

// ListClients lists a tenant's clients (none for a tenant that does not exist).
func (p *Provider) ListClients(ctx context.Context, tenant string) ([]*Client, error) {
	return p.store.ListClients(ctx, tenant)
}

// DeleteClient deletes a client; its tokens stop working with it.
func (p *Provider) DeleteClient(ctx context.Context, tenant, id string) error {
	return p.store.DeleteClient(ctx, tenant, id)
}

// RotateClientSecret gives a confidential client a new generated secret and returns it:
// shown this once, only its hash is kept, and the old secret stops working at once (on
// every node: clients are read from the database on each request). Tokens the client
// already holds keep working until they expire; deleting the client ends them too. A
// public client has no secret to rotate (ErrInvalid).
func (p *Provider) RotateClientSecret(ctx context.Context, tenant, id string) (string, error) {
	secret, err := p.randomToken(32)
	if err != nil {
		return "", err
	}
	h, err := p.secretHash.Hash(ctx, []byte(secret))
	if err != nil {
		return "", err
	}
	if err := p.store.SetClientSecretHash(ctx, tenant, id, h); err != nil {
		return "", err
	}
	return secret, nil
}

// AuthenticateClient checks a client's credentials the way the token endpoint does
// (Client.checkSecret): public clients by id alone and without a secret, confidential
// ones by their secret in constant time. A public client that presents a secret fails
// with ErrInvalidCredentials (wrapping ErrPublicClientSecret).
func (p *Provider) AuthenticateClient(ctx context.Context, tenant, id, secret string) (*Client, error) {
	c, err := p.store.GetTenantClient(ctx, tenant, id)
	if err != nil {
		return nil, err
	}
	if err := c.checkSecret(ctx, p.secretHash, secret); err != nil {
		if errors.Is(err, ErrPublicClientSecret) {
			err = fmt.Errorf("%w: %w", identity.ErrInvalidCredentials, err)
		}
		return nil, err
	}
	return c, nil
}

// Ping checks the database.
func (p *Provider) Ping(ctx context.Context) error { return p.store.Ping(ctx) }

// PreloadSigningKey returns a context in which the tenant's tokens are signed with its
// current key read now (Keyring.Preload): a dialect whose answer signs a token after a
// refresh rotated (the saas_token) calls it before the refresh.
func (p *Provider) PreloadSigningKey(ctx context.Context, tenant string) (context.Context, error) {
	return p.keys.Preload(ctx, tenant)
}
