package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/custodian-id/custodian/notify"
)

var _ notify.Store = (*Store)(nil)

type outboxRow struct {
	ID            int64        `db:"id"`
	Tenant        string       `db:"tenant"`
	Kind          string       `db:"kind"`
	Recipient     string       `db:"recipient"`
	Subject       string       `db:"subject"`
	Body          string       `db:"body"`
	Data          string       `db:"data"`
	Webhook       string       `db:"webhook"`
	WebhookSecret []byte       `db:"webhook_secret_sealed"`
	Attempts      int          `db:"attempts"`
	NextAttemptAt sql.NullTime `db:"next_attempt_at"`
	DeliveredAt   sql.NullTime `db:"delivered_at"`
	LastError     string       `db:"last_error"`
	CreatedAt     time.Time    `db:"created_at"`
}

// EnqueueMessage writes a message to the outbox in the transaction ctx carries.
func (s *Store) EnqueueMessage(ctx context.Context, m *notify.Message) error {
	data, err := json.Marshal(m.Data)
	if err != nil {
		return fmt.Errorf("encode message data: %w", err)
	}
	if m.Data == nil {
		data = []byte("{}")
	}
	err = s.get(ctx, &m.ID, `INSERT INTO outbox (tenant, kind, recipient, subject, body, data, webhook, webhook_secret_sealed,
		attempts, next_attempt_at, last_error, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, '', ?) RETURNING id`,
		m.Tenant, m.Kind, m.To, m.Subject, m.Body, string(data), m.Webhook, m.WebhookSecret,
		ts(m.NextAttemptAt), ts(m.CreatedAt))
	if err != nil {
		return fmt.Errorf("insert outbox message: %w", err)
	}
	return nil
}

// ClaimMessages leases due messages with one conditional update each: a row whose
// next attempt another node moved in the meantime is skipped.
func (s *Store) ClaimMessages(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]*notify.Message, error) {
	now = ts(now)
	var rows []outboxRow
	if err := s.sel(ctx, &rows, `SELECT id, tenant, kind, recipient, subject, body, data, webhook, webhook_secret_sealed,
		attempts, next_attempt_at, delivered_at, last_error, created_at
		FROM outbox WHERE delivered_at IS NULL AND next_attempt_at IS NOT NULL AND next_attempt_at <= ?
		ORDER BY next_attempt_at LIMIT ?`, now, limit); err != nil {
		return nil, fmt.Errorf("select due messages: %w", err)
	}
	until := now.Add(lease)
	var out []*notify.Message
	for _, r := range rows {
		n, err := s.exec(ctx, `UPDATE outbox SET next_attempt_at = ?, attempts = attempts + 1
			WHERE id = ? AND next_attempt_at = ? AND delivered_at IS NULL`, until, r.ID, r.NextAttemptAt.Time)
		if err != nil {
			return out, fmt.Errorf("lease message %d: %w", r.ID, err)
		}
		if n == 0 {
			continue // another node took it
		}
		m := &notify.Message{ID: r.ID, Tenant: r.Tenant, Kind: r.Kind, To: r.Recipient, Subject: r.Subject,
			Body: r.Body, Webhook: r.Webhook, WebhookSecret: r.WebhookSecret, Attempts: r.Attempts + 1,
			NextAttemptAt: until, LastError: r.LastError, CreatedAt: r.CreatedAt}
		if err := json.Unmarshal([]byte(r.Data), &m.Data); err != nil {
			return out, fmt.Errorf("decode message %d data: %w", r.ID, err)
		}
		out = append(out, m)
	}
	return out, nil
}

// ReleaseMessage makes a message this node leased and did not try due again at now,
// taking back the attempt the claim counted; a message another node has moved since
// (its next attempt is no longer the lease's end) is left alone.
func (s *Store) ReleaseMessage(ctx context.Context, id int64, leasedUntil, now time.Time) error {
	if _, err := s.exec(ctx, `UPDATE outbox SET next_attempt_at = ?, attempts = attempts - 1
		WHERE id = ? AND next_attempt_at = ? AND delivered_at IS NULL AND attempts > 0`, ts(now), id, ts(leasedUntil)); err != nil {
		return fmt.Errorf("release message %d: %w", id, err)
	}
	return nil
}

// scrubbed is what a delivered or dead message keeps: its tenant, kind, recipient,
// webhook URL, attempts and times. Every field that can carry a secret goes: the
// subject ("Your sign-in code: 887454"), the body and data (codes, reset and e-mail
// change tokens, opt-in and "this was not me" links) and the webhook secret.
const scrubbed = `subject = '', body = '', data = '{}', webhook_secret = '', webhook_secret_sealed = NULL`

// MarkDelivered records a delivery and scrubs the message: single-use codes and links
// must not outlive their delivery in the database.
func (s *Store) MarkDelivered(ctx context.Context, id int64, at time.Time) error {
	if _, err := s.exec(ctx, `UPDATE outbox SET delivered_at = ?, next_attempt_at = NULL, `+scrubbed+`,
		last_error = '' WHERE id = ?`, ts(at), id); err != nil {
		return fmt.Errorf("mark message %d delivered: %w", id, err)
	}
	return nil
}

// MarkFailed records a failed attempt; with no next attempt the message is dead and
// scrubbed like a delivered one.
func (s *Store) MarkFailed(ctx context.Context, id int64, next *time.Time, lastErr string) error {
	var err error
	if next == nil {
		_, err = s.exec(ctx, `UPDATE outbox SET next_attempt_at = NULL, last_error = ?, `+scrubbed+` WHERE id = ?`, lastErr, id)
	} else {
		_, err = s.exec(ctx, `UPDATE outbox SET next_attempt_at = ?, last_error = ? WHERE id = ?`, ts(*next), lastErr, id)
	}
	if err != nil {
		return fmt.Errorf("mark message %d failed: %w", id, err)
	}
	return nil
}

// SealOutboxSecrets seals the plaintext webhook secrets of messages that a release
// before sealing queued, and blanks the plaintext. It runs at every start and changes
// nothing once every queued secret is sealed.
func (s *Store) SealOutboxSecrets(ctx context.Context, seal func(tenant, plain string) ([]byte, error)) (int, error) {
	var rows []struct {
		ID     int64  `db:"id"`
		Tenant string `db:"tenant"`
		Secret string `db:"webhook_secret"`
	}
	if err := s.sel(ctx, &rows, `SELECT id, tenant, webhook_secret FROM outbox WHERE webhook_secret <> ''`); err != nil {
		return 0, fmt.Errorf("select plaintext webhook secrets: %w", err)
	}
	for i, r := range rows {
		sealed, err := seal(r.Tenant, r.Secret)
		if err != nil {
			return i, err
		}
		if _, err := s.exec(ctx, `UPDATE outbox SET webhook_secret_sealed = ?, webhook_secret = '' WHERE id = ? AND webhook_secret = ?`,
			sealed, r.ID, r.Secret); err != nil {
			return i, fmt.Errorf("seal webhook secret of message %d: %w", r.ID, err)
		}
	}
	return len(rows), nil
}
