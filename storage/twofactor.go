package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/custodian-id/custodian/twofactor"
)

var _ twofactor.Store = (*Store)(nil)

type challengeRow struct {
	IDHash          string       `db:"id_hash"`
	Tenant          string       `db:"tenant"`
	CustomerID      int64        `db:"customer_id"`
	ClientID        string       `db:"client_id"`
	FingerprintHash string       `db:"fingerprint_hash"`
	Region          string       `db:"region"`
	UserAgent       string       `db:"user_agent"`
	Methods         string       `db:"methods"`
	CodeHash        string       `db:"code_hash"`
	CodeExpiresAt   sql.NullTime `db:"code_expires_at"`
	CodeSentAt      sql.NullTime `db:"code_sent_at"`
	CodesSent       int          `db:"codes_sent"`
	AttemptsLeft    int          `db:"attempts_left"`
	ExpiresAt       time.Time    `db:"expires_at"`
	UsedAt          sql.NullTime `db:"used_at"`
	Payload         string       `db:"payload"`
	CreatedAt       time.Time    `db:"created_at"`
}

// CreateChallenge stores a new second-factor challenge.
func (s *Store) CreateChallenge(ctx context.Context, c *twofactor.Challenge) error {
	payload, err := json.Marshal(c.Payload)
	if err != nil {
		return fmt.Errorf("encode challenge payload: %w", err)
	}
	if c.Payload == nil {
		payload = []byte("{}")
	}
	_, err = s.exec(ctx, `INSERT INTO twofactor_challenges (id_hash, tenant, customer_id, client_id, fingerprint_hash, region,
		user_agent, methods, code_hash, code_expires_at, code_sent_at, codes_sent, attempts_left, expires_at, payload, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.IDHash, c.Tenant, c.CustomerID, c.ClientID, c.FingerprintHash, c.Region, c.UserAgent, strings.Join(c.Methods, ","),
		c.CodeHash, nullTime(c.CodeExpiresAt), nullTime(c.CodeSentAt), c.CodesSent, c.AttemptsLeft, ts(c.ExpiresAt),
		string(payload), ts(c.CreatedAt))
	if errors.Is(err, errForeign) {
		return fmt.Errorf("create challenge: %w", twofactor.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("create challenge: %w", err)
	}
	return nil
}

// GetChallenge loads a challenge of a tenant.
func (s *Store) GetChallenge(ctx context.Context, tenant, idHash string) (*twofactor.Challenge, error) {
	var r challengeRow
	err := s.get(ctx, &r, `SELECT id_hash, tenant, customer_id, client_id, fingerprint_hash, region, user_agent, methods,
		code_hash, code_expires_at, code_sent_at, codes_sent, attempts_left, expires_at, used_at, payload, created_at
		FROM twofactor_challenges WHERE tenant = ? AND id_hash = ?`, tenant, idHash)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, twofactor.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get challenge: %w", err)
	}
	c := &twofactor.Challenge{IDHash: r.IDHash, Tenant: r.Tenant, CustomerID: r.CustomerID, ClientID: r.ClientID,
		FingerprintHash: r.FingerprintHash, Region: r.Region, UserAgent: r.UserAgent, Methods: strings.Split(r.Methods, ","),
		CodeHash: r.CodeHash, CodeExpiresAt: timePtr(r.CodeExpiresAt), CodeSentAt: timePtr(r.CodeSentAt), CodesSent: r.CodesSent,
		AttemptsLeft: r.AttemptsLeft, ExpiresAt: r.ExpiresAt.UTC(), UsedAt: timePtr(r.UsedAt), CreatedAt: r.CreatedAt.UTC()}
	if err := json.Unmarshal([]byte(r.Payload), &c.Payload); err != nil {
		return nil, fmt.Errorf("decode challenge payload: %w", err)
	}
	return c, nil
}

// SpendAttempt takes one try with a conditional decrement.
func (s *Store) SpendAttempt(ctx context.Context, tenant, idHash string) (int, bool, error) {
	var left int
	err := s.get(ctx, &left, `UPDATE twofactor_challenges SET attempts_left = attempts_left - 1
		WHERE tenant = ? AND id_hash = ? AND attempts_left > 0 AND used_at IS NULL RETURNING attempts_left`, tenant, idHash)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("spend challenge attempt: %w", err)
	}
	return left, true, nil
}

// ConsumeChallenge marks an unused, unexpired challenge used.
func (s *Store) ConsumeChallenge(ctx context.Context, tenant, idHash string, now time.Time) error {
	n, err := s.exec(ctx, `UPDATE twofactor_challenges SET used_at = ?
		WHERE tenant = ? AND id_hash = ? AND used_at IS NULL AND expires_at > ?`, ts(now), tenant, idHash, ts(now))
	if err != nil {
		return fmt.Errorf("consume challenge: %w", err)
	}
	if n == 0 {
		return twofactor.ErrNotFound
	}
	return nil
}

// ReplaceCode gives a challenge a new code, respecting the cooldown and the code cap in
// the same statement.
func (s *Store) ReplaceCode(ctx context.Context, tenant, idHash, codeHash string, expires, now, sentBefore time.Time, tries, maxCodes int) (bool, error) {
	n, err := s.exec(ctx, `UPDATE twofactor_challenges
		SET code_hash = ?, code_expires_at = ?, code_sent_at = ?, codes_sent = codes_sent + 1, attempts_left = ?
		WHERE tenant = ? AND id_hash = ? AND used_at IS NULL AND expires_at > ? AND codes_sent < ?
		  AND (code_sent_at IS NULL OR code_sent_at <= ?)`,
		codeHash, ts(expires), ts(now), tries, tenant, idHash, ts(now), maxCodes, ts(sentBefore))
	if err != nil {
		return false, fmt.Errorf("replace challenge code: %w", err)
	}
	return n == 1, nil
}

// DeleteExpiredChallenges removes challenges that ran out before a time.
func (s *Store) DeleteExpiredChallenges(ctx context.Context, before time.Time) (int64, error) {
	n, err := s.exec(ctx, `DELETE FROM twofactor_challenges WHERE expires_at < ?`, ts(before))
	if err != nil {
		return 0, fmt.Errorf("delete expired challenges: %w", err)
	}
	return n, nil
}

type totpRow struct {
	Tenant      string       `db:"tenant"`
	CustomerID  int64        `db:"customer_id"`
	Secret      []byte       `db:"secret"`
	ConfirmedAt sql.NullTime `db:"confirmed_at"`
	LastStep    int64        `db:"last_step"`
	CreatedAt   time.Time    `db:"created_at"`
}

func (r totpRow) totp() *twofactor.TOTP {
	return &twofactor.TOTP{Tenant: r.Tenant, CustomerID: r.CustomerID, Secret: r.Secret, ConfirmedAt: timePtr(r.ConfirmedAt),
		LastStep: r.LastStep, CreatedAt: r.CreatedAt.UTC()}
}

// GetTOTP loads a customer's authenticator-app enrollment.
func (s *Store) GetTOTP(ctx context.Context, tenant string, customerID int64) (*twofactor.TOTP, error) {
	var r totpRow
	err := s.get(ctx, &r, `SELECT tenant, customer_id, secret, confirmed_at, last_step, created_at
		FROM twofactor_totp WHERE tenant = ? AND customer_id = ?`, tenant, customerID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, twofactor.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get totp: %w", err)
	}
	return r.totp(), nil
}

// NewestTOTP loads the enrollment of the highest customer id (the primary key's last).
func (s *Store) NewestTOTP(ctx context.Context) (*twofactor.TOTP, error) {
	var r totpRow
	err := s.get(ctx, &r, `SELECT tenant, customer_id, secret, confirmed_at, last_step, created_at
		FROM twofactor_totp ORDER BY customer_id DESC LIMIT 1`)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, twofactor.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("newest totp: %w", err)
	}
	return r.totp(), nil
}

// PutPendingTOTP stores an unconfirmed enrollment, replacing an unconfirmed one; a
// confirmed one is left alone (ErrConflict).
func (s *Store) PutPendingTOTP(ctx context.Context, t *twofactor.TOTP) error {
	n, err := s.exec(ctx, `INSERT INTO twofactor_totp (customer_id, tenant, secret, last_step, created_at)
		VALUES (?, ?, ?, 0, ?)
		ON CONFLICT (customer_id) DO UPDATE SET secret = excluded.secret, last_step = 0, created_at = excluded.created_at
		WHERE twofactor_totp.confirmed_at IS NULL`,
		t.CustomerID, t.Tenant, t.Secret, ts(t.CreatedAt))
	if errors.Is(err, errForeign) {
		return fmt.Errorf("put totp: customer %d: %w", t.CustomerID, twofactor.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("put totp: %w", err)
	}
	if n == 0 {
		return twofactor.ErrConflict
	}
	return nil
}

// ConfirmTOTP confirms a pending enrollment, recording the first code's step as used.
func (s *Store) ConfirmTOTP(ctx context.Context, tenant string, customerID, step int64, now time.Time) error {
	n, err := s.exec(ctx, `UPDATE twofactor_totp SET confirmed_at = ?, last_step = ?
		WHERE tenant = ? AND customer_id = ? AND confirmed_at IS NULL`, ts(now), step, tenant, customerID)
	if err != nil {
		return fmt.Errorf("confirm totp: %w", err)
	}
	if n == 0 {
		return twofactor.ErrNotFound
	}
	return nil
}

// UseTOTPStep moves the last used step forward; a step not later than it is a replay.
func (s *Store) UseTOTPStep(ctx context.Context, tenant string, customerID, step int64) (bool, error) {
	n, err := s.exec(ctx, `UPDATE twofactor_totp SET last_step = ?
		WHERE tenant = ? AND customer_id = ? AND confirmed_at IS NOT NULL AND last_step < ?`, step, tenant, customerID, step)
	if err != nil {
		return false, fmt.Errorf("use totp step: %w", err)
	}
	return n == 1, nil
}

// DeleteTOTP removes an enrollment.
func (s *Store) DeleteTOTP(ctx context.Context, tenant string, customerID int64) error {
	if _, err := s.exec(ctx, `DELETE FROM twofactor_totp WHERE tenant = ? AND customer_id = ?`, tenant, customerID); err != nil {
		return fmt.Errorf("delete totp: %w", err)
	}
	return nil
}

// ReplaceRecoveryCodes replaces a customer's recovery codes.
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, tenant string, customerID int64, hashes []string, now time.Time) error {
	return s.InTx(ctx, func(ctx context.Context) error {
		if _, err := s.exec(ctx, `DELETE FROM twofactor_recovery_codes WHERE tenant = ? AND customer_id = ?`, tenant, customerID); err != nil {
			return fmt.Errorf("delete recovery codes: %w", err)
		}
		for _, h := range hashes {
			if _, err := s.exec(ctx, `INSERT INTO twofactor_recovery_codes (customer_id, tenant, code_hash, created_at)
				VALUES (?, ?, ?, ?)`, customerID, tenant, h, ts(now)); err != nil {
				return fmt.Errorf("insert recovery code: %w", err)
			}
		}
		return nil
	})
}

// UseRecoveryCode marks an unused recovery code used.
func (s *Store) UseRecoveryCode(ctx context.Context, tenant string, customerID int64, hash string, now time.Time) (bool, error) {
	n, err := s.exec(ctx, `UPDATE twofactor_recovery_codes SET used_at = ?
		WHERE tenant = ? AND customer_id = ? AND code_hash = ? AND used_at IS NULL`, ts(now), tenant, customerID, hash)
	if err != nil {
		return false, fmt.Errorf("use recovery code: %w", err)
	}
	return n == 1, nil
}

// CountRecoveryCodes counts a customer's unused recovery codes.
func (s *Store) CountRecoveryCodes(ctx context.Context, tenant string, customerID int64) (int, error) {
	var n int
	if err := s.get(ctx, &n, `SELECT COUNT(*) FROM twofactor_recovery_codes
		WHERE tenant = ? AND customer_id = ? AND used_at IS NULL`, tenant, customerID); err != nil {
		return 0, fmt.Errorf("count recovery codes: %w", err)
	}
	return n, nil
}

type deviceRow struct {
	ID              string       `db:"id"`
	Tenant          string       `db:"tenant"`
	CustomerID      int64        `db:"customer_id"`
	FingerprintHash string       `db:"fingerprint_hash"`
	Region          string       `db:"region"`
	UserAgent       string       `db:"user_agent"`
	CreatedAt       time.Time    `db:"created_at"`
	LastSeenAt      time.Time    `db:"last_seen_at"`
	TrustedUntil    sql.NullTime `db:"trusted_until"`
}

// TouchDevice creates a device or records another sign-in from it, in one upsert.
func (s *Store) TouchDevice(ctx context.Context, d *twofactor.Device, trustedUntil *time.Time) (bool, error) {
	id := uuid.NewString()
	var r deviceRow
	err := s.get(ctx, &r, `INSERT INTO devices (id, tenant, customer_id, fingerprint_hash, region, user_agent, created_at,
		last_seen_at, trusted_until)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (customer_id, fingerprint_hash, region) DO UPDATE SET last_seen_at = excluded.last_seen_at,
			user_agent = excluded.user_agent, trusted_until = COALESCE(excluded.trusted_until, devices.trusted_until)
		RETURNING id, tenant, customer_id, fingerprint_hash, region, user_agent, created_at, last_seen_at, trusted_until`,
		id, d.Tenant, d.CustomerID, d.FingerprintHash, d.Region, d.UserAgent, ts(d.CreatedAt), ts(d.LastSeenAt),
		nullTime(trustedUntil))
	if errors.Is(err, errForeign) {
		return false, fmt.Errorf("touch device: customer %d: %w", d.CustomerID, twofactor.ErrNotFound)
	}
	if err != nil {
		return false, fmt.Errorf("touch device: %w", err)
	}
	*d = r.device()
	return r.ID == id, nil
}

func (r deviceRow) device() twofactor.Device {
	return twofactor.Device{ID: r.ID, Tenant: r.Tenant, CustomerID: r.CustomerID, FingerprintHash: r.FingerprintHash,
		Region: r.Region, UserAgent: r.UserAgent, CreatedAt: r.CreatedAt.UTC(), LastSeenAt: r.LastSeenAt.UTC(),
		TrustedUntil: timePtr(r.TrustedUntil)}
}

// ListDevices lists a customer's devices, most recently used first.
func (s *Store) ListDevices(ctx context.Context, tenant string, customerID int64) ([]twofactor.Device, error) {
	var rows []deviceRow
	if err := s.sel(ctx, &rows, `SELECT id, tenant, customer_id, fingerprint_hash, region, user_agent, created_at,
		last_seen_at, trusted_until FROM devices WHERE tenant = ? AND customer_id = ?
		ORDER BY last_seen_at DESC, id`, tenant, customerID); err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	out := make([]twofactor.Device, len(rows))
	for i, r := range rows {
		out[i] = r.device()
	}
	return out, nil
}

// DeleteDevice removes one of a customer's devices.
func (s *Store) DeleteDevice(ctx context.Context, tenant string, customerID int64, id string) error {
	n, err := s.exec(ctx, `DELETE FROM devices WHERE tenant = ? AND customer_id = ? AND id = ?`, tenant, customerID, id)
	if err != nil {
		return fmt.Errorf("delete device: %w", err)
	}
	if n == 0 {
		return twofactor.ErrNotFound
	}
	return nil
}

// DeleteDevices removes every device of a customer.
func (s *Store) DeleteDevices(ctx context.Context, tenant string, customerID int64) ([]string, error) {
	var ids []string
	if err := s.sel(ctx, &ids, `DELETE FROM devices WHERE tenant = ? AND customer_id = ? RETURNING id`, tenant, customerID); err != nil {
		return nil, fmt.Errorf("delete devices: %w", err)
	}
	return ids, nil
}

// RevokeDevice revokes every access and refresh token issued to a sign-in from a device
// and ends the browser sessions started on it.
func (s *Store) RevokeDevice(ctx context.Context, tenant, deviceID string) error {
	if deviceID == "" {
		return nil
	}
	if _, err := s.exec(ctx, `UPDATE oauth2_tokens SET active = ?, revoked = ?
		WHERE tenant = ? AND device_id = ? AND kind IN (?, ?)`,
		false, true, tenant, deviceID, kindAccess, kindRefresh); err != nil {
		return fmt.Errorf("revoke device tokens: %w", err)
	}
	if _, err := s.exec(ctx, `DELETE FROM browser_sessions WHERE tenant = ? AND device_id = ?`, tenant, deviceID); err != nil {
		return fmt.Errorf("end device browser sessions: %w", err)
	}
	return nil
}
