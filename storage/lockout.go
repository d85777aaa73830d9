package storage

// The smart lockout's counters (customer/smartlockout.go): one row per side of an
// account, counted with one conditional upsert each, so that concurrent failures on
// any node each count once and exactly one of them locks.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/custodian-id/custodian/customer"
)

// RecordFailedLogin counts a failed password against the account's record and each
// side. A side whose lock ran out, or whose first counted failure is older than
// lockFor, starts again at 1; the failure that brings a side to its threshold locks it
// until now+lockFor. Everything happens in one transaction.
func (s *Store) RecordFailedLogin(ctx context.Context, tenant string, id int64, now time.Time, sides []customer.LockoutSide, lockFor time.Duration) (customer.FailureOutcome, error) {
	now = ts(now)
	until := now.Add(lockFor)
	windowStart := now.Add(-lockFor)
	var out customer.FailureOutcome
	err := s.InTx(ctx, func(ctx context.Context) error {
		// The record the admin view reads: failures in the current window.
		err := s.get(ctx, &out.Count, `UPDATE customers SET
			failed_logins = CASE WHEN first_failed_login_at IS NULL OR first_failed_login_at <= ? THEN 1 ELSE failed_logins + 1 END,
			first_failed_login_at = CASE WHEN first_failed_login_at IS NULL OR first_failed_login_at <= ? THEN ? ELSE first_failed_login_at END
			WHERE tenant = ? AND id = ?
			RETURNING failed_logins`, windowStart, windowStart, now, tenant, id)
		if errors.Is(err, sql.ErrNoRows) {
			return customer.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("count failure: %w", err)
		}
		// stale: the side's lock ran out, or its window did: the count restarts.
		const stale = `((login_lockouts.locked_until IS NOT NULL AND login_lockouts.locked_until <= ?)
			OR (login_lockouts.locked_until IS NULL AND login_lockouts.first_failure_at <= ?))`
		for _, sd := range sides {
			lockAt := -1 // never reached when lockout is off
			if sd.Threshold > 0 {
				lockAt = sd.Threshold
			}
			var first sql.NullTime
			if lockAt == 1 {
				first = sql.NullTime{Time: until, Valid: true}
			}
			var r struct {
				Failures    int          `db:"failures"`
				LockedUntil sql.NullTime `db:"locked_until"`
			}
			err := s.get(ctx, &r, `INSERT INTO login_lockouts (tenant, customer_id, side, failures, first_failure_at, locked_until)
				VALUES (?, ?, ?, 1, ?, ?)
				ON CONFLICT (tenant, customer_id, side) DO UPDATE SET
				failures = CASE WHEN `+stale+` THEN 1 ELSE login_lockouts.failures + 1 END,
				first_failure_at = CASE WHEN `+stale+` THEN excluded.first_failure_at ELSE login_lockouts.first_failure_at END,
				locked_until = CASE
					WHEN (CASE WHEN `+stale+` THEN 1 ELSE login_lockouts.failures + 1 END) = ? THEN ?
					WHEN `+stale+` THEN NULL
					ELSE login_lockouts.locked_until END
				RETURNING failures, locked_until`,
				tenant, id, sd.Key, now, first,
				now, windowStart, now, windowStart, now, windowStart, lockAt, until, now, windowStart)
			if err != nil {
				return fmt.Errorf("count failure on %s: %w", sd.Key, err)
			}
			if r.Failures == lockAt {
				out.Locked = append(out.Locked, customer.Lockout{Side: sd.Key, Until: timePtr(r.LockedUntil)})
			}
		}
		if len(out.Locked) > 0 {
			if _, err := s.exec(ctx, `UPDATE customers SET last_locked_at = ? WHERE tenant = ? AND id = ?`, now, tenant, id); err != nil {
				return fmt.Errorf("stamp lock: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return customer.FailureOutcome{}, fmt.Errorf("record failed login: %w", err)
	}
	return out, nil
}

// RecordSuccessfulLogin resets the account's record, stamps the login and forgets the
// counts of the given sides; a side that is locked stays locked.
func (s *Store) RecordSuccessfulLogin(ctx context.Context, tenant string, id int64, now time.Time, sides []string) error {
	now = ts(now)
	return s.InTx(ctx, func(ctx context.Context) error {
		n, err := s.exec(ctx, `UPDATE customers SET failed_logins = 0, first_failed_login_at = NULL, last_login_at = ?
			WHERE tenant = ? AND id = ?`, now, tenant, id)
		if err != nil {
			return fmt.Errorf("record login: %w", err)
		}
		if n == 0 {
			return customer.ErrNotFound
		}
		for _, side := range sides {
			if _, err := s.exec(ctx, `DELETE FROM login_lockouts WHERE tenant = ? AND customer_id = ? AND side = ?
				AND (locked_until IS NULL OR locked_until <= ?)`, tenant, id, side, now); err != nil {
				return fmt.Errorf("record login: %w", err)
			}
		}
		return nil
	})
}

// Lockouts lists the sides of an account that are locked at now.
func (s *Store) Lockouts(ctx context.Context, tenant string, id int64, now time.Time) ([]customer.Lockout, error) {
	var rows []struct {
		Side        string       `db:"side"`
		LockedUntil sql.NullTime `db:"locked_until"`
	}
	if err := s.sel(ctx, &rows, `SELECT side, locked_until FROM login_lockouts
		WHERE tenant = ? AND customer_id = ? AND locked_until > ? ORDER BY side`, tenant, id, ts(now)); err != nil {
		return nil, fmt.Errorf("lockouts: %w", err)
	}
	out := make([]customer.Lockout, 0, len(rows))
	for _, r := range rows {
		out = append(out, customer.Lockout{Side: r.Side, Until: timePtr(r.LockedUntil)})
	}
	return out, nil
}

// SetLock locks an account until a time (the administrator's lock) or unlocks it
// (nil): an unlock also ends every side's lock and count. Both reset the record.
func (s *Store) SetLock(ctx context.Context, tenant string, id int64, until *time.Time, now time.Time) error {
	return s.InTx(ctx, func(ctx context.Context) error {
		var n int64
		var err error
		if until == nil {
			n, err = s.exec(ctx, `UPDATE customers SET locked_until = NULL, failed_logins = 0, first_failed_login_at = NULL
				WHERE tenant = ? AND id = ?`, tenant, id)
		} else {
			n, err = s.exec(ctx, `UPDATE customers SET locked_until = ?, last_locked_at = ?, failed_logins = 0, first_failed_login_at = NULL
				WHERE tenant = ? AND id = ?`, ts(*until), ts(now), tenant, id)
		}
		if err != nil {
			return fmt.Errorf("set lock: %w", err)
		}
		if n == 0 {
			return customer.ErrNotFound
		}
		if until == nil {
			if _, err := s.exec(ctx, `DELETE FROM login_lockouts WHERE tenant = ? AND customer_id = ?`, tenant, id); err != nil {
				return fmt.Errorf("unlock sides: %w", err)
			}
		}
		return nil
	})
}
