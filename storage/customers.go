package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/custodian-id/custodian/customer"
)

var _ customer.Store = (*Store)(nil)

type accountRow struct {
	ID           int64     `db:"id"`
	Tenant       string    `db:"tenant"`
	Email        string    `db:"email"`
	PasswordHash string    `db:"password_hash"`
	Active       bool      `db:"active"`
	FirstName    string    `db:"first_name"`
	LastName     string    `db:"last_name"`
	CreatedAt    time.Time `db:"created_at"`
	CreatedBy    string    `db:"created_by"`
	UpdatedAt    time.Time `db:"updated_at"`
	UpdatedBy    string    `db:"updated_by"`
}

const accountColumns = `id, tenant, email, password_hash, active, first_name, last_name, created_at, created_by, updated_at, updated_by`

func (r accountRow) account() *customer.Account {
	return &customer.Account{ID: r.ID, Tenant: r.Tenant, Email: r.Email, PasswordHash: r.PasswordHash, Active: r.Active,
		FirstName: r.FirstName, LastName: r.LastName, CreatedAt: r.CreatedAt.UTC(), CreatedBy: r.CreatedBy,
		UpdatedAt: r.UpdatedAt.UTC(), UpdatedBy: r.UpdatedBy}
}

// CreateAccount stores a new account and sets its id.
func (s *Store) CreateAccount(ctx context.Context, a *customer.Account) error {
	now := s.clock()
	if a.CreatedAt.IsZero() {
		a.CreatedAt = now
	}
	a.UpdatedAt = now
	err := s.get(ctx, &a.ID, `INSERT INTO customers (tenant, email, email_key, password_hash, active, first_name, last_name,
		created_at, created_by, updated_at, updated_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		a.Tenant, a.Email, customer.EmailKey(a.Email), a.PasswordHash, a.Active, a.FirstName, a.LastName,
		ts(a.CreatedAt), a.CreatedBy, ts(a.UpdatedAt), a.UpdatedBy)
	switch {
	case errors.Is(err, errUnique):
		return fmt.Errorf("customer %q: %w", a.Email, customer.ErrConflict)
	case errors.Is(err, errForeign):
		return fmt.Errorf("tenant %q: %w", a.Tenant, customer.ErrNotFound)
	case err != nil:
		return fmt.Errorf("create customer: %w", err)
	}
	return nil
}

func (s *Store) getAccount(ctx context.Context, where string, args ...any) (*customer.Account, error) {
	var r accountRow
	err := s.get(ctx, &r, `SELECT `+accountColumns+` FROM customers WHERE `+where, args...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, customer.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get customer: %w", err)
	}
	return r.account(), nil
}

// GetAccount returns a tenant's account by id.
func (s *Store) GetAccount(ctx context.Context, tenant string, id int64) (*customer.Account, error) {
	return s.getAccount(ctx, `tenant = ? AND id = ?`, tenant, id)
}

// GetAccountByEmail returns a tenant's account by e-mail, compared case-insensitively.
func (s *Store) GetAccountByEmail(ctx context.Context, tenant, email string) (*customer.Account, error) {
	return s.getAccount(ctx, `tenant = ? AND email_key = ?`, tenant, customer.EmailKey(email))
}

// UpdatePasswordHash replaces an account's password hash.
func (s *Store) UpdatePasswordHash(ctx context.Context, tenant string, id int64, hash string) error {
	return s.updateAccount(ctx, tenant, id, `password_hash = ?`, hash)
}

// SetActive activates or deactivates an account.
func (s *Store) SetActive(ctx context.Context, tenant string, id int64, active bool) error {
	return s.updateAccount(ctx, tenant, id, `active = ?`, active)
}

func (s *Store) updateAccount(ctx context.Context, tenant string, id int64, set string, args ...any) error {
	args = append(args, s.clock(), tenant, id)
	n, err := s.exec(ctx, `UPDATE customers SET `+set+`, updated_at = ? WHERE tenant = ? AND id = ?`, args...)
	if err != nil {
		return fmt.Errorf("update customer %d: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("customer %d: %w", id, customer.ErrNotFound)
	}
	return nil
}
