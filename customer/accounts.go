package customer

// Accounts themselves: creating one, reading it, its status, its B2B memberships, the
// fields other systems own and its OpenID Connect claims.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/identity/mailaddr"
)

// NewAccount is what creating an account takes.
type NewAccount struct {
	Email     string
	Password  string
	FirstName string
	LastName  string
	Active    bool
	CreatedBy string
}

// ValidateEmail checks an e-mail address against Custodian's rule (mailaddr).
func ValidateEmail(email string) error {
	_, err := normalizeEmail(email)
	return err
}

// normalizeEmail is an address in the form it is stored in (mailaddr.Parse), or
// ErrInvalid with the reason.
func normalizeEmail(email string) (string, error) {
	a, err := mailaddr.Parse(email)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return a.String(), nil
}

// emailField checks an e-mail field of a request and answers its normal form.
func emailField(v *identity.Validator, field, email string) string {
	a, err := mailaddr.Parse(email)
	if err != nil {
		v.Add(field, "invalid", mailaddr.Describe(err))
		return email
	}
	return a.String()
}

// CreateAccount creates an account with an argon2id password hash.
func (s *Service) CreateAccount(ctx context.Context, tenant string, in NewAccount) (*Account, error) {
	email, err := normalizeEmail(in.Email)
	if err := errors.Join(err, ValidatePassword(in.Password, in.Email)); err != nil {
		return nil, err
	}
	in.Email = email
	hash, err := s.hash(ctx, in.Password)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	a := &Account{
		Tenant: tenant, Email: in.Email, PasswordHash: hash, Active: in.Active,
		FirstName: in.FirstName, LastName: in.LastName,
		CreatedAt: now, CreatedBy: in.CreatedBy, UpdatedAt: now, UpdatedBy: in.CreatedBy,
	}
	if err := s.store.CreateAccount(ctx, a); err != nil {
		return nil, err
	}
	return a, nil
}

// Get returns an account without its memberships, addresses and identities: what a
// signed-in call checks (the account is still there and active) before it acts.
func (s *Service) Get(ctx context.Context, tenant string, id int64) (*Account, error) {
	return s.store.GetAccount(ctx, tenant, id)
}

// Account returns an account with its memberships, identities and addresses.
func (s *Service) Account(ctx context.Context, tenant string, id int64) (*Account, error) {
	a, err := s.store.GetAccount(ctx, tenant, id)
	if err != nil {
		return nil, err
	}
	if err := s.WithProfile(ctx, tenant, a, true); err != nil {
		return nil, err
	}
	return a, nil
}

// WithProfile fills an account just read (Get) with what its profile shows: its
// memberships and linked identities, and its address book when withAddresses. A
// request that has read the account already (to check it is active) spares a
// second read of it.
func (s *Service) WithProfile(ctx context.Context, tenant string, a *Account, withAddresses bool) error {
	var err error
	if a.Memberships, err = s.store.ListMemberships(ctx, tenant, a.ID); err != nil {
		return err
	}
	if a.Identities, err = s.store.ListIdentities(ctx, tenant, a.ID); err != nil {
		return err
	}
	if withAddresses {
		if a.Addresses, err = s.store.ListAddresses(ctx, tenant, a.ID); err != nil {
			return err
		}
	}
	return nil
}

// Memberships lists the B2B accounts / legal entities a customer belongs to.
func (s *Service) Memberships(ctx context.Context, tenant string, id int64) ([]Membership, error) {
	return s.store.ListMemberships(ctx, tenant, id)
}

// IsMember reports whether a customer belongs to a B2B account / legal entity.
func (s *Service) IsMember(ctx context.Context, tenant string, id int64, accountID string) (bool, error) {
	ms, err := s.store.ListMemberships(ctx, tenant, id)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(ms, func(m Membership) bool { return m.AccountID == accountID }), nil
}

// RequireMember refuses a B2B account / legal entity the customer is not a member of
// with ErrNotMember; "" names none and passes.
func (s *Service) RequireMember(ctx context.Context, tenant string, id int64, accountID string) error {
	if accountID == "" {
		return nil
	}
	ok, err := s.IsMember(ctx, tenant, id, accountID)
	if err != nil {
		return err
	}
	if !ok {
		return ErrNotMember
	}
	return nil
}

// AddMembership makes a customer a member of a B2B account / legal entity.
func (s *Service) AddMembership(ctx context.Context, tenant string, id int64, m Membership) error {
	if strings.TrimSpace(m.AccountID) == "" {
		return fmt.Errorf("%w: account id is required", ErrInvalid)
	}
	return s.store.AddMembership(ctx, tenant, id, m)
}

// SetStatus activates / deactivates and holds / releases an account (admin).
func (s *Service) SetStatus(ctx context.Context, tenant string, id int64, active, onHold *bool) (*Account, error) {
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		if active != nil {
			if err := s.store.SetActive(ctx, tenant, id, *active); err != nil {
				return err
			}
		}
		if onHold != nil {
			if err := s.store.SetOnHold(ctx, tenant, id, *onHold); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// An account that can no longer sign in keeps no live tokens either.
	if (active != nil && !*active) || (onHold != nil && *onHold) {
		if err := s.revokeAll(ctx, tenant, id); err != nil {
			return nil, err
		}
	}
	return s.Account(ctx, tenant, id)
}

// UpdateExternalFields replaces the admin-owned fields of an account after checking
// their JSON shape.
func (s *Service) UpdateExternalFields(ctx context.Context, tenant string, id int64, f ExternalFields) (*Account, error) {
	v := &identity.Validator{}
	for name, raw := range map[string]json.RawMessage{"attributes": f.Attributes, "notes": f.Notes, "segments": f.Segments} {
		if raw != nil && !jsonIs(raw, '[') {
			v.Add(name, "invalid", "must be a JSON array")
		}
	}
	if f.CommerceSummary != nil && !jsonIs(f.CommerceSummary, '{') {
		v.Add("commerceSummary", "invalid", "must be a JSON object")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	if err := s.store.UpdateExternalFields(ctx, tenant, id, f); err != nil {
		return nil, err
	}
	return s.Account(ctx, tenant, id)
}

// jsonIs reports whether raw is valid JSON starting with the given delimiter.
func jsonIs(raw json.RawMessage, open byte) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 0 && t[0] == open && json.Valid(t)
}

// Claims returns the OpenID Connect claims of a customer for the granted scopes.
func (s *Service) Claims(ctx context.Context, tenant string, id int64, scopes []string) (map[string]any, error) {
	a, err := s.store.GetAccount(ctx, tenant, id)
	if err != nil {
		return nil, err
	}
	c := map[string]any{"sub": strconv.FormatInt(a.ID, 10)}
	for _, sc := range scopes {
		switch sc {
		case "email":
			c["email"] = a.Email
			c["email_verified"] = a.EmailVerified
		case "profile":
			name := strings.TrimSpace(a.FirstName + " " + a.LastName)
			if name != "" {
				c["name"] = name
			}
			if a.FirstName != "" {
				c["given_name"] = a.FirstName
			}
			if a.LastName != "" {
				c["family_name"] = a.LastName
			}
			c["updated_at"] = a.UpdatedAt.Unix()
		}
	}
	return c, nil
}
