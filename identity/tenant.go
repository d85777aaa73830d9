package identity

import (
	"bytes"
	"context"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"
)

// TenantPattern is the one pattern of a tenant's name (CONTRACT.md `{tenant}`): the
// route variable of every dialect and ValidTenantName use it.
const TenantPattern = `[a-z][a-z0-9-]{1,31}`

var tenantName = regexp.MustCompile(`^` + TenantPattern + `$`)

// ValidTenantName reports whether name can be a tenant's name.
func ValidTenantName(name string) bool { return tenantName.MatchString(name) }

// Tenant is an issuer: its own keys, clients, customers and settings.
type Tenant struct {
	Name      string
	Settings  Settings
	CreatedAt time.Time
	UpdatedAt time.Time
}

// TenantStore persists tenants.
type TenantStore interface {
	CreateTenant(ctx context.Context, t *Tenant) error
	GetTenant(ctx context.Context, name string) (*Tenant, error)
	ListTenants(ctx context.Context) ([]*Tenant, error)
	// UpdateTenantSettings replaces the settings of a tenant.
	UpdateTenantSettings(ctx context.Context, name string, s Settings) error
}

type tenantKey struct{}

// WithTenant returns a context carrying the tenant every store and fosite call of a
// request is scoped to.
func WithTenant(ctx context.Context, t *Tenant) context.Context {
	return context.WithValue(ctx, tenantKey{}, t)
}

// TenantFromContext returns the tenant of the request, or nil.
func TenantFromContext(ctx context.Context) *Tenant {
	t, _ := ctx.Value(tenantKey{}).(*Tenant)
	return t
}

// IsLoopbackHost reports whether a URL's host names this machine: the only hosts a
// plain-http redirect URI or settings URL may name.
func IsLoopbackHost(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1" || strings.HasPrefix(host, "127.")
}

// Clone returns a deep copy of the tenant: a cache hands each caller its own, so no
// request can change what another one reads.
func (t *Tenant) Clone() *Tenant {
	if t == nil {
		return nil
	}
	out := *t
	out.Settings = t.Settings.Clone()
	return &out
}

// Clone returns a deep copy of the settings (TestSettingsCloneShares finds a
// reference field this misses).
func (s Settings) Clone() Settings {
	out := s
	out.GrantTypes = slices.Clone(s.GrantTypes)
	out.TwoFactorTriggers = slices.Clone(s.TwoFactorTriggers)
	out.WebhookSecret.Sealed = bytes.Clone(s.WebhookSecret.Sealed)
	out.FirebaseSignerKey.Sealed = bytes.Clone(s.FirebaseSignerKey.Sealed)
	out.Branding.Texts = maps.Clone(s.Branding.Texts)
	return out
}
