package customer

// What an operator does to one account from the command line or the admin API: find it
// by e-mail address and set its password. Locking and unlocking are lockout.go's
// (SetLock).

import (
	"context"
	"fmt"

	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/identity/mailaddr"
)

// EventPasswordSetByAdmin records that an operator set a customer's password.
const EventPasswordSetByAdmin = "password.set_by_admin"

// FindByEmail returns the tenant's account with the e-mail address, compared by its
// canonical key (mailaddr.Key), so "Jane@Example.COM" finds jane@example.com. An
// address that is not a valid one is an ErrInvalid field error; no account is
// ErrNotFound. For operators only: it answers whether an address has an account.
func (s *Service) FindByEmail(ctx context.Context, tenant, email string) (*Account, error) {
	if err := mailaddr.Validate(email); err != nil {
		v := &identity.Validator{}
		v.Add("email", "invalid", mailaddr.Describe(err))
		return nil, v.Err()
	}
	a, err := s.store.GetAccountByEmail(ctx, tenant, email)
	if err != nil {
		return nil, err
	}
	return s.Account(ctx, tenant, a.ID)
}

// SetPassword sets a customer's password for an operator: the tenant's password policy
// applies (CheckPassword), the stored hash becomes one of Custodian's own (an imported
// one goes), unused password reset links stop working (an old link must not undo the
// operator's password), and every token and browser session of the customer ends, in
// one transaction. The customer signs in again with the new password everywhere. It
// does not unlock a locked account: that is SetLock's, a separate decision.
func (s *Service) SetPassword(ctx context.Context, t *identity.Tenant, id int64, password string) error {
	a, err := s.store.GetAccount(ctx, t.Name, id)
	if err != nil {
		return err
	}
	v := &identity.Validator{}
	passwordField(v, "password", CheckPassword(t, password, a.Email))
	if err := v.Err(); err != nil {
		return err
	}
	hash, err := s.hasher.Hash(password)
	if err != nil {
		return err
	}
	err = s.store.InTx(ctx, func(ctx context.Context) error {
		if err := s.store.UpdatePasswordHash(ctx, t.Name, id, hash); err != nil {
			return err
		}
		if err := s.store.RetireTokens(ctx, t.Name, id, TokenPasswordReset); err != nil {
			return err
		}
		return s.revokeAll(ctx, t.Name, id)
	})
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	s.event(ctx, t.Name, EventPasswordSetByAdmin, &id, map[string]any{"by": "admin"})
	return nil
}
