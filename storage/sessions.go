package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/oauth"
)

var _ oauth.SessionStore = (*Store)(nil)

// CreateBrowserSession stores a sign-in session of the login pages.
func (s *Store) CreateBrowserSession(ctx context.Context, b *oauth.BrowserSession) error {
	_, err := s.exec(ctx, `INSERT INTO browser_sessions (id_hash, tenant, customer_id, session_id, device_id, amr, auth_time,
		expires_at, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, b.IDHash, b.Tenant, b.CustomerID, b.SessionID, b.DeviceID, jsonList(b.AMR).text(),
		ts(b.AuthTime), ts(b.ExpiresAt), ts(b.CreatedAt))
	if err != nil {
		return fmt.Errorf("create browser session: %w", err)
	}
	return nil
}

// GetBrowserSession returns an unexpired session by the hash of its cookie.
func (s *Store) GetBrowserSession(ctx context.Context, tenant, idHash string) (*oauth.BrowserSession, error) {
	var r struct {
		IDHash     string    `db:"id_hash"`
		Tenant     string    `db:"tenant"`
		CustomerID int64     `db:"customer_id"`
		SessionID  string    `db:"session_id"`
		DeviceID   string    `db:"device_id"`
		AMR        string    `db:"amr"`
		AuthTime   time.Time `db:"auth_time"`
		ExpiresAt  time.Time `db:"expires_at"`
		CreatedAt  time.Time `db:"created_at"`
	}
	err := s.get(ctx, &r, `SELECT id_hash, tenant, customer_id, session_id, device_id, amr, auth_time, expires_at, created_at
		FROM browser_sessions WHERE tenant = ? AND id_hash = ? AND expires_at > ?`, tenant, idHash, s.clock())
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("browser session: %w", identity.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get browser session: %w", err)
	}
	amr, err := parseList(r.AMR)
	if err != nil {
		return nil, fmt.Errorf("decode browser session: %w", err)
	}
	return &oauth.BrowserSession{IDHash: r.IDHash, Tenant: r.Tenant, CustomerID: r.CustomerID, SessionID: r.SessionID,
		DeviceID: r.DeviceID, AMR: amr, AuthTime: r.AuthTime.UTC(), ExpiresAt: r.ExpiresAt.UTC(), CreatedAt: r.CreatedAt.UTC()}, nil
}

// DeleteBrowserSession ends one session.
func (s *Store) DeleteBrowserSession(ctx context.Context, tenant, idHash string) error {
	if _, err := s.exec(ctx, `DELETE FROM browser_sessions WHERE tenant = ? AND id_hash = ?`, tenant, idHash); err != nil {
		return fmt.Errorf("delete browser session: %w", err)
	}
	return nil
}

// DeleteCustomerBrowserSessions ends every session of a customer.
func (s *Store) DeleteCustomerBrowserSessions(ctx context.Context, tenant string, customerID int64) error {
	if _, err := s.exec(ctx, `DELETE FROM browser_sessions WHERE tenant = ? AND customer_id = ?`, tenant, customerID); err != nil {
		return fmt.Errorf("delete browser sessions: %w", err)
	}
	return nil
}

// GetConsent returns a customer's remembered consent for a client.
func (s *Store) GetConsent(ctx context.Context, tenant string, customerID int64, clientID string) (*oauth.Consent, error) {
	var r struct {
		Scopes    string    `db:"scopes"`
		CreatedAt time.Time `db:"created_at"`
	}
	err := s.get(ctx, &r, `SELECT scopes, created_at FROM consents WHERE tenant = ? AND customer_id = ? AND client_id = ?`,
		tenant, customerID, clientID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("consent: %w", identity.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get consent: %w", err)
	}
	scopes, err := parseList(r.Scopes)
	if err != nil {
		return nil, fmt.Errorf("decode consent: %w", err)
	}
	return &oauth.Consent{Tenant: tenant, CustomerID: customerID, ClientID: clientID, Scopes: scopes, CreatedAt: r.CreatedAt.UTC()}, nil
}

// SaveConsent stores or replaces a consent.
func (s *Store) SaveConsent(ctx context.Context, c *oauth.Consent) error {
	scopes, err := json.Marshal(c.Scopes)
	if err != nil {
		return fmt.Errorf("encode consent: %w", err)
	}
	_, err = s.exec(ctx, `INSERT INTO consents (tenant, customer_id, client_id, scopes, created_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (tenant, customer_id, client_id) DO UPDATE SET scopes = excluded.scopes, created_at = excluded.created_at`,
		c.Tenant, c.CustomerID, c.ClientID, string(scopes), ts(c.CreatedAt))
	if err != nil {
		return fmt.Errorf("save consent: %w", err)
	}
	return nil
}
