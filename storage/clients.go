package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ory/fosite"

	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/oauth"
)

var _ oauth.ClientStore = (*Store)(nil)

// jsonList stores a []string as a JSON array in a TEXT column.
type jsonList []string

func (l jsonList) text() string {
	if l == nil {
		return "[]"
	}
	b, _ := json.Marshal([]string(l))
	return string(b)
}

func parseList(s string) ([]string, error) {
	var out []string
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil, err
	}
	return out, nil
}

type clientRow struct {
	Tenant                 string    `db:"tenant"`
	ID                     string    `db:"id"`
	Name                   string    `db:"name"`
	SecretHash             []byte    `db:"secret_hash"`
	Public                 bool      `db:"public"`
	FirstParty             bool      `db:"first_party"`
	RedirectURIs           string    `db:"redirect_uris"`
	PostLogoutRedirectURIs string    `db:"post_logout_redirect_uris"`
	GrantTypes             string    `db:"grant_types"`
	ResponseTypes          string    `db:"response_types"`
	Scopes                 string    `db:"scopes"`
	Audience               string    `db:"audience"`
	Behaviors              string    `db:"behaviors"`
	CreatedAt              time.Time `db:"created_at"`
	UpdatedAt              time.Time `db:"updated_at"`
}

const clientColumns = `tenant, id, name, secret_hash, public, first_party, redirect_uris, post_logout_redirect_uris,
	grant_types, response_types, scopes, audience, behaviors, created_at, updated_at`

func (r clientRow) client() (*oauth.Client, error) {
	c := &oauth.Client{Tenant: r.Tenant, ID: r.ID, Name: r.Name, SecretHash: r.SecretHash, Public: r.Public,
		FirstParty: r.FirstParty, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
	for _, f := range []struct {
		dst *[]string
		src string
	}{
		{&c.RedirectURIs, r.RedirectURIs}, {&c.PostLogoutRedirectURIs, r.PostLogoutRedirectURIs},
		{&c.GrantTypes, r.GrantTypes}, {&c.ResponseTypes, r.ResponseTypes}, {&c.Scopes, r.Scopes},
		{&c.Audience, r.Audience}, {&c.Behaviors, r.Behaviors},
	} {
		l, err := parseList(f.src)
		if err != nil {
			return nil, fmt.Errorf("decode client %q: %w", r.ID, err)
		}
		*f.dst = l
	}
	if len(c.SecretHash) == 0 {
		c.SecretHash = nil
	}
	return c, nil
}

// CreateClient stores a new client.
func (s *Store) CreateClient(ctx context.Context, c *oauth.Client) error {
	now := s.clock()
	_, err := s.exec(ctx, `INSERT INTO clients (`+clientColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.Tenant, c.ID, c.Name, c.SecretHash, c.Public, c.FirstParty, jsonList(c.RedirectURIs).text(),
		jsonList(c.PostLogoutRedirectURIs).text(), jsonList(c.GrantTypes).text(), jsonList(c.ResponseTypes).text(),
		jsonList(c.Scopes).text(), jsonList(c.Audience).text(), jsonList(c.Behaviors).text(), now, now)
	switch {
	case errors.Is(err, errUnique):
		return fmt.Errorf("client %q: %w", c.ID, identity.ErrConflict)
	case errors.Is(err, errForeign):
		return fmt.Errorf("tenant %q: %w", c.Tenant, identity.ErrNotFound)
	case err != nil:
		return fmt.Errorf("create client %q: %w", c.ID, err)
	}
	s.invalidate(ctx, invalidation{Table: "clients", Tenant: c.Tenant, ID: c.ID})
	c.CreatedAt, c.UpdatedAt = now, now
	return nil
}

// GetTenantClient returns a client of a tenant: from the node's cache outside a
// transaction. Its secret is checked against the returned hash on every use, so a
// rotation takes effect as soon as the cache hears of it.
func (s *Store) GetTenantClient(ctx context.Context, tenant, id string) (*oauth.Client, error) {
	if !s.cached(ctx) {
		return s.loadClient(ctx, tenant, id)
	}
	c, err := s.caches.clients.get(ctx, clientKey(tenant, id), func(ctx context.Context) (*oauth.Client, error) {
		return s.loadClient(ctx, tenant, id)
	})
	if err != nil {
		return nil, err
	}
	return c.Clone(), nil
}

func (s *Store) loadClient(ctx context.Context, tenant, id string) (*oauth.Client, error) {
	var r clientRow
	err := s.get(ctx, &r, `SELECT `+clientColumns+` FROM clients WHERE tenant = ? AND id = ?`, tenant, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("client %q: %w", id, identity.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get client %q: %w", id, err)
	}
	return r.client()
}

// ListClients returns a tenant's clients by id.
func (s *Store) ListClients(ctx context.Context, tenant string) ([]*oauth.Client, error) {
	var rows []clientRow
	if err := s.sel(ctx, &rows, `SELECT `+clientColumns+` FROM clients WHERE tenant = ? ORDER BY id`, tenant); err != nil {
		return nil, fmt.Errorf("list clients: %w", err)
	}
	out := make([]*oauth.Client, 0, len(rows))
	for _, r := range rows {
		c, err := r.client()
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// UpdateClient replaces a client's fields (not its id or tenant).
func (s *Store) UpdateClient(ctx context.Context, c *oauth.Client) error {
	now := s.clock()
	n, err := s.exec(ctx, `UPDATE clients SET name = ?, secret_hash = ?, public = ?, first_party = ?, redirect_uris = ?,
		post_logout_redirect_uris = ?, grant_types = ?, response_types = ?, scopes = ?, audience = ?, behaviors = ?, updated_at = ?
		WHERE tenant = ? AND id = ?`,
		c.Name, c.SecretHash, c.Public, c.FirstParty, jsonList(c.RedirectURIs).text(), jsonList(c.PostLogoutRedirectURIs).text(),
		jsonList(c.GrantTypes).text(), jsonList(c.ResponseTypes).text(), jsonList(c.Scopes).text(), jsonList(c.Audience).text(),
		jsonList(c.Behaviors).text(), now, c.Tenant, c.ID)
	if err != nil {
		return fmt.Errorf("update client %q: %w", c.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("client %q: %w", c.ID, identity.ErrNotFound)
	}
	s.invalidate(ctx, invalidation{Table: "clients", Tenant: c.Tenant, ID: c.ID})
	c.UpdatedAt = now
	return nil
}

// SetClientSecretHash replaces a confidential client's secret hash in one conditional
// UPDATE; a public client keeps having none.
func (s *Store) SetClientSecretHash(ctx context.Context, tenant, id string, hash []byte) error {
	n, err := s.exec(ctx, `UPDATE clients SET secret_hash = ?, updated_at = ? WHERE tenant = ? AND id = ? AND public = ?`,
		hash, s.clock(), tenant, id, false)
	if err != nil {
		return fmt.Errorf("set client secret %q: %w", id, err)
	}
	if n == 1 {
		s.invalidate(ctx, invalidation{Table: "clients", Tenant: tenant, ID: id})
		return nil
	}
	if _, err := s.loadClient(ctx, tenant, id); err != nil {
		return err
	}
	return fmt.Errorf("%w: client %q is public and has no secret", identity.ErrInvalid, id)
}

// DeleteClient removes a client; its tokens stop working because every token lookup
// loads its client.
func (s *Store) DeleteClient(ctx context.Context, tenant, id string) error {
	n, err := s.exec(ctx, `DELETE FROM clients WHERE tenant = ? AND id = ?`, tenant, id)
	if err != nil {
		return fmt.Errorf("delete client %q: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("client %q: %w", id, identity.ErrNotFound)
	}
	s.invalidate(ctx, invalidation{Table: "clients", Tenant: tenant, ID: id})
	return nil
}

// GetClient implements fosite's ClientManager for the tenant of the request.
func (s *Store) GetClient(ctx context.Context, id string) (fosite.Client, error) {
	t := identity.TenantFromContext(ctx)
	if t == nil {
		return nil, fmt.Errorf("client %q without a tenant: %w", id, fosite.ErrNotFound)
	}
	c, err := s.GetTenantClient(ctx, t.Name, id)
	if errors.Is(err, identity.ErrNotFound) {
		return nil, fmt.Errorf("client %q: %w", id, fosite.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

// errAssertions explains why the client-assertion JTI methods refuse: Custodian does
// not offer private_key_jwt client authentication (discovery does not list it), so no
// assertion may ever be accepted as fresh.
var errAssertions = fosite.ErrInvalidClient.WithHint("Client assertions (private_key_jwt) are not supported.")

// ClientAssertionJWTValid implements fosite.ClientManager.
func (s *Store) ClientAssertionJWTValid(context.Context, string) error { return errAssertions }

// SetClientAssertionJWT implements fosite.ClientManager.
func (s *Store) SetClientAssertionJWT(context.Context, string, time.Time) error { return errAssertions }
