package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/oauth"
)

var _ oauth.ConnectorStore = (*Store)(nil)

type connectorRow struct {
	Tenant       string    `db:"tenant"`
	ID           string    `db:"id"`
	Name         string    `db:"name"`
	Issuer       string    `db:"issuer"`
	ClientID     string    `db:"client_id"`
	ClientSecret []byte    `db:"client_secret"`
	Scopes       string    `db:"scopes"`
	CreatedAt    time.Time `db:"created_at"`
}

func (r connectorRow) connector() (*oauth.Connector, error) {
	scopes, err := parseList(r.Scopes)
	if err != nil {
		return nil, fmt.Errorf("decode connector scopes: %w", err)
	}
	return &oauth.Connector{Tenant: r.Tenant, ID: r.ID, Name: r.Name, Issuer: r.Issuer, ClientID: r.ClientID,
		SealedSecret: r.ClientSecret, Scopes: scopes, CreatedAt: r.CreatedAt.UTC()}, nil
}

// CreateConnector stores an upstream provider of a tenant.
func (s *Store) CreateConnector(ctx context.Context, c *oauth.Connector) error {
	_, err := s.exec(ctx, `INSERT INTO connectors (tenant, id, name, issuer, client_id, client_secret, scopes, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, c.Tenant, c.ID, c.Name, c.Issuer, c.ClientID, c.SealedSecret, jsonList(c.Scopes).text(), ts(c.CreatedAt))
	switch {
	case errors.Is(err, errUnique):
		return fmt.Errorf("connector %q: %w", c.ID, identity.ErrConflict)
	case errors.Is(err, errForeign):
		return fmt.Errorf("tenant %q: %w", c.Tenant, identity.ErrNotFound)
	case err != nil:
		return fmt.Errorf("create connector: %w", err)
	}
	return nil
}

// GetConnector loads a connector.
func (s *Store) GetConnector(ctx context.Context, tenant, id string) (*oauth.Connector, error) {
	var r connectorRow
	err := s.get(ctx, &r, `SELECT tenant, id, name, issuer, client_id, client_secret, scopes, created_at
		FROM connectors WHERE tenant = ? AND id = ?`, tenant, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("connector %q: %w", id, identity.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get connector: %w", err)
	}
	return r.connector()
}

// ListConnectors lists a tenant's connectors by id.
func (s *Store) ListConnectors(ctx context.Context, tenant string) ([]*oauth.Connector, error) {
	var rows []connectorRow
	if err := s.sel(ctx, &rows, `SELECT tenant, id, name, issuer, client_id, client_secret, scopes, created_at
		FROM connectors WHERE tenant = ? ORDER BY id`, tenant); err != nil {
		return nil, fmt.Errorf("list connectors: %w", err)
	}
	out := make([]*oauth.Connector, 0, len(rows))
	for _, r := range rows {
		c, err := r.connector()
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// DeleteConnector removes a connector.
func (s *Store) DeleteConnector(ctx context.Context, tenant, id string) error {
	n, err := s.exec(ctx, `DELETE FROM connectors WHERE tenant = ? AND id = ?`, tenant, id)
	if err != nil {
		return fmt.Errorf("delete connector: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("connector %q: %w", id, identity.ErrNotFound)
	}
	return nil
}

// CreateUpstreamLogin stores a sign-in in flight at an upstream.
func (s *Store) CreateUpstreamLogin(ctx context.Context, l *oauth.UpstreamLogin) error {
	if _, err := s.exec(ctx, `INSERT INTO upstream_logins (state_hash, tenant, connector_id, nonce, verifier, resume_url,
		expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, l.StateHash, l.Tenant, l.ConnectorID, l.Nonce, l.SealedVerifier,
		l.ResumeURL, ts(l.ExpiresAt), ts(l.CreatedAt)); err != nil {
		return fmt.Errorf("create upstream login: %w", err)
	}
	return nil
}

// UseUpstreamLogin marks an unused, unexpired upstream sign-in used, once.
func (s *Store) UseUpstreamLogin(ctx context.Context, tenant, stateHash string, now time.Time) (*oauth.UpstreamLogin, error) {
	var r struct {
		StateHash   string    `db:"state_hash"`
		Tenant      string    `db:"tenant"`
		ConnectorID string    `db:"connector_id"`
		Nonce       string    `db:"nonce"`
		Verifier    []byte    `db:"verifier"`
		ResumeURL   string    `db:"resume_url"`
		ExpiresAt   time.Time `db:"expires_at"`
		CreatedAt   time.Time `db:"created_at"`
	}
	err := s.get(ctx, &r, `UPDATE upstream_logins SET used_at = ?
		WHERE tenant = ? AND state_hash = ? AND used_at IS NULL AND expires_at > ?
		RETURNING state_hash, tenant, connector_id, nonce, verifier, resume_url, expires_at, created_at`,
		ts(now), tenant, stateHash, ts(now))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("upstream login: %w", identity.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("use upstream login: %w", err)
	}
	return &oauth.UpstreamLogin{StateHash: r.StateHash, Tenant: r.Tenant, ConnectorID: r.ConnectorID, Nonce: r.Nonce,
		SealedVerifier: r.Verifier, ResumeURL: r.ResumeURL, ExpiresAt: r.ExpiresAt.UTC(), CreatedAt: r.CreatedAt.UTC()}, nil
}

// PutSocialHandoff stores sealed upstream tokens for a code's exchange.
func (s *Store) PutSocialHandoff(ctx context.Context, tenant, requestID string, sealed []byte, expires time.Time) error {
	if _, err := s.exec(ctx, `INSERT INTO social_handoffs (tenant, request_id, sealed, expires_at) VALUES (?, ?, ?, ?)`,
		tenant, requestID, sealed, ts(expires)); err != nil {
		return fmt.Errorf("put social handoff: %w", err)
	}
	return nil
}

// TakeSocialHandoff returns and deletes a handoff in one statement.
func (s *Store) TakeSocialHandoff(ctx context.Context, tenant, requestID string, now time.Time) ([]byte, error) {
	var sealed []byte
	err := s.get(ctx, &sealed, `DELETE FROM social_handoffs WHERE tenant = ? AND request_id = ? AND expires_at > ? RETURNING sealed`,
		tenant, requestID, ts(now))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("social handoff: %w", identity.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("take social handoff: %w", err)
	}
	return sealed, nil
}

// DeleteStaleSocial removes upstream sign-ins and handoffs that ran out before a time.
func (s *Store) DeleteStaleSocial(ctx context.Context, before time.Time) error {
	for _, q := range []string{`DELETE FROM upstream_logins WHERE expires_at < ?`, `DELETE FROM social_handoffs WHERE expires_at < ?`} {
		if _, err := s.exec(ctx, q, ts(before)); err != nil {
			return fmt.Errorf("delete stale social rows: %w", err)
		}
	}
	return nil
}

type identityRow struct {
	Tenant      string    `db:"tenant"`
	Issuer      string    `db:"issuer"`
	Subject     string    `db:"subject"`
	ConnectorID string    `db:"connector_id"`
	CustomerID  int64     `db:"customer_id"`
	Email       string    `db:"email"`
	CreatedAt   time.Time `db:"created_at"`
}

func (r identityRow) identity() customer.Identity {
	return customer.Identity{Tenant: r.Tenant, Issuer: r.Issuer, Subject: r.Subject, ConnectorID: r.ConnectorID,
		CustomerID: r.CustomerID, Email: r.Email, CreatedAt: r.CreatedAt.UTC()}
}

// LinkIdentity links an upstream identity to a customer.
func (s *Store) LinkIdentity(ctx context.Context, id *customer.Identity) error {
	_, err := s.exec(ctx, `INSERT INTO identities (tenant, issuer, subject, connector_id, customer_id, email, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, id.Tenant, id.Issuer, id.Subject, id.ConnectorID, id.CustomerID, id.Email, ts(id.CreatedAt))
	switch {
	case errors.Is(err, errUnique):
		return fmt.Errorf("identity %s|%s: %w", id.Issuer, id.Subject, customer.ErrConflict)
	case errors.Is(err, errForeign):
		return fmt.Errorf("customer %d: %w", id.CustomerID, customer.ErrNotFound)
	case err != nil:
		return fmt.Errorf("link identity: %w", err)
	}
	return nil
}

// GetIdentity finds the customer an upstream identity is linked to.
func (s *Store) GetIdentity(ctx context.Context, tenant, issuer, subject string) (*customer.Identity, error) {
	var r identityRow
	err := s.get(ctx, &r, `SELECT tenant, issuer, subject, connector_id, customer_id, email, created_at FROM identities
		WHERE tenant = ? AND issuer = ? AND subject = ?`, tenant, issuer, subject)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("identity: %w", customer.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get identity: %w", err)
	}
	id := r.identity()
	return &id, nil
}

// qListIdentities is hot (prepared.go): /me reads it.
const qListIdentities = `SELECT tenant, issuer, subject, connector_id, customer_id, email, created_at FROM identities
		WHERE tenant = ? AND customer_id = ? ORDER BY created_at, connector_id`

// ListIdentities lists a customer's linked identities.
func (s *Store) ListIdentities(ctx context.Context, tenant string, customerID int64) ([]customer.Identity, error) {
	var rows []identityRow
	if err := s.sel(ctx, &rows, qListIdentities, tenant, customerID); err != nil {
		return nil, fmt.Errorf("list identities: %w", err)
	}
	out := make([]customer.Identity, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.identity())
	}
	return out, nil
}

// DeleteIdentities unlinks a customer's identities of one connector.
func (s *Store) DeleteIdentities(ctx context.Context, tenant string, customerID int64, connectorID string) error {
	n, err := s.exec(ctx, `DELETE FROM identities WHERE tenant = ? AND customer_id = ? AND connector_id = ?`, tenant, customerID, connectorID)
	if err != nil {
		return fmt.Errorf("unlink identity: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("identity of %q: %w", connectorID, customer.ErrNoLink)
	}
	return nil
}

// SetEmailVerified records whether the customer's e-mail address is proven.
func (s *Store) SetEmailVerified(ctx context.Context, tenant string, id int64, verified bool) error {
	n, err := s.exec(ctx, `UPDATE customers SET email_verified = ? WHERE tenant = ? AND id = ?`, verified, tenant, id)
	if err != nil {
		return fmt.Errorf("set email verified: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("customer %d: %w", id, customer.ErrNotFound)
	}
	return nil
}
