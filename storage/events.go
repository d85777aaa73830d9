package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/custodian-id/custodian/identity"
)

var _ identity.EventStore = (*Store)(nil)

// RecordEvent appends a security event to the audit trail.
func (s *Store) RecordEvent(ctx context.Context, e *identity.SecurityEvent) error {
	detail := []byte("{}")
	if len(e.Detail) > 0 {
		b, err := json.Marshal(e.Detail)
		if err != nil {
			return fmt.Errorf("encode event detail: %w", err)
		}
		detail = b
	}
	if e.CreatedAt.IsZero() {
		e.CreatedAt = s.clock()
	}
	var cust sql.NullInt64
	if e.CustomerID != nil {
		cust = sql.NullInt64{Int64: *e.CustomerID, Valid: true}
	}
	err := s.get(ctx, &e.ID, `INSERT INTO security_events (tenant, kind, customer_id, client_id, subject, ip, user_agent, detail, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		e.Tenant, e.Kind, cust, e.ClientID, e.Subject, e.IP, truncate(e.UserAgent, 512), string(detail), ts(e.CreatedAt))
	if err != nil {
		return fmt.Errorf("record event %s: %w", e.Kind, err)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// ListEvents returns a tenant's events, newest first, optionally of one customer.
func (s *Store) ListEvents(ctx context.Context, tenant string, customerID *int64, limit int) ([]*identity.SecurityEvent, error) {
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	var rows []struct {
		ID         int64         `db:"id"`
		Tenant     string        `db:"tenant"`
		Kind       string        `db:"kind"`
		CustomerID sql.NullInt64 `db:"customer_id"`
		ClientID   string        `db:"client_id"`
		Subject    string        `db:"subject"`
		IP         string        `db:"ip"`
		UserAgent  string        `db:"user_agent"`
		Detail     string        `db:"detail"`
		CreatedAt  time.Time     `db:"created_at"`
	}
	q := `SELECT id, tenant, kind, customer_id, client_id, subject, ip, user_agent, detail, created_at
		FROM security_events WHERE tenant = ?`
	args := []any{tenant}
	if customerID != nil {
		q += ` AND customer_id = ?`
		args = append(args, *customerID)
	}
	q += ` ORDER BY created_at DESC, id DESC LIMIT ?`
	args = append(args, limit)
	if err := s.sel(ctx, &rows, q, args...); err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	out := make([]*identity.SecurityEvent, 0, len(rows))
	for _, r := range rows {
		e := &identity.SecurityEvent{ID: r.ID, Tenant: r.Tenant, Kind: r.Kind, ClientID: r.ClientID, Subject: r.Subject,
			IP: r.IP, UserAgent: r.UserAgent, CreatedAt: r.CreatedAt.UTC()}
		if r.CustomerID.Valid {
			id := r.CustomerID.Int64
			e.CustomerID = &id
		}
		if err := json.Unmarshal([]byte(r.Detail), &e.Detail); err != nil {
			return nil, fmt.Errorf("decode event %d: %w", r.ID, err)
		}
		out = append(out, e)
	}
	return out, nil
}
