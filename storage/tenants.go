package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/custodian-id/custodian/identity"
)

var _ identity.TenantStore = (*Store)(nil)

type tenantRow struct {
	Name      string    `db:"name"`
	Settings  string    `db:"settings"`
	CreatedAt time.Time `db:"created_at"`
	UpdatedAt time.Time `db:"updated_at"`
}

func (r tenantRow) tenant() (*identity.Tenant, error) {
	st, err := identity.DecodeSettings([]byte(r.Settings))
	if err != nil {
		return nil, fmt.Errorf("decode settings of tenant %q: %w", r.Name, err)
	}
	return &identity.Tenant{Name: r.Name, Settings: st, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}, nil
}

// CreateTenant stores a new tenant.
func (s *Store) CreateTenant(ctx context.Context, t *identity.Tenant) error {
	settings, err := json.Marshal(t.Settings)
	if err != nil {
		return fmt.Errorf("encode settings: %w", err)
	}
	now := s.clock()
	_, err = s.exec(ctx, `INSERT INTO tenants (name, settings, created_at, updated_at) VALUES (?, ?, ?, ?)`,
		t.Name, string(settings), now, now)
	if errors.Is(err, errUnique) {
		return fmt.Errorf("tenant %q: %w", t.Name, identity.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create tenant %q: %w", t.Name, err)
	}
	s.invalidate(ctx, invalidation{Table: "tenants", Tenant: t.Name})
	t.CreatedAt, t.UpdatedAt = now, now
	return nil
}

// GetTenant returns a tenant by name: from the node's cache outside a transaction.
func (s *Store) GetTenant(ctx context.Context, name string) (*identity.Tenant, error) {
	if !s.cached(ctx) {
		return s.loadTenant(ctx, name)
	}
	t, err := s.caches.tenants.get(ctx, name, func(ctx context.Context) (*identity.Tenant, error) { return s.loadTenant(ctx, name) })
	if err != nil {
		return nil, err
	}
	return t.Clone(), nil
}

func (s *Store) loadTenant(ctx context.Context, name string) (*identity.Tenant, error) {
	var r tenantRow
	err := s.get(ctx, &r, `SELECT name, settings, created_at, updated_at FROM tenants WHERE name = ?`, name)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("tenant %q: %w", name, identity.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get tenant %q: %w", name, err)
	}
	return r.tenant()
}

// ListTenants returns every tenant, by name.
func (s *Store) ListTenants(ctx context.Context) ([]*identity.Tenant, error) {
	var rows []tenantRow
	if err := s.sel(ctx, &rows, `SELECT name, settings, created_at, updated_at FROM tenants ORDER BY name`); err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	out := make([]*identity.Tenant, 0, len(rows))
	for _, r := range rows {
		t, err := r.tenant()
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// UpdateTenantSettings replaces a tenant's settings.
func (s *Store) UpdateTenantSettings(ctx context.Context, name string, st identity.Settings) error {
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode settings: %w", err)
	}
	n, err := s.exec(ctx, `UPDATE tenants SET settings = ?, updated_at = ? WHERE name = ?`, string(b), s.clock(), name)
	if err != nil {
		return fmt.Errorf("update tenant %q: %w", name, err)
	}
	if n == 0 {
		return fmt.Errorf("tenant %q: %w", name, identity.ErrNotFound)
	}
	s.invalidate(ctx, invalidation{Table: "tenants", Tenant: name})
	return nil
}
