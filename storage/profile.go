package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/custodian-id/custodian/customer"
)

// UpdateProfile writes the self-service profile fields if the version is unchanged.
func (s *Store) UpdateProfile(ctx context.Context, a *customer.Account, version int) error {
	now := s.clock()
	n, err := s.exec(ctx, `UPDATE customers SET title = ?, first_name = ?, middle_name = ?, last_name = ?, contact_email = ?,
		contact_phone = ?, company = ?, preferred_language = ?, preferred_currency = ?, preferred_site = ?,
		company_registration_id = ?, mixins = ?, version = version + 1, updated_at = ?, updated_by = ?
		WHERE tenant = ? AND id = ? AND version = ?`,
		a.Title, a.FirstName, a.MiddleName, a.LastName, a.ContactEmail, a.ContactPhone, a.Company, a.PreferredLanguage,
		a.PreferredCurrency, a.PreferredSite, a.CompanyRegistrationID, rawOr(a.Mixins, "{}"), now, a.UpdatedBy,
		a.Tenant, a.ID, version)
	if err != nil {
		return fmt.Errorf("update profile of customer %d: %w", a.ID, err)
	}
	if n == 0 {
		if _, err := s.GetAccount(ctx, a.Tenant, a.ID); err != nil {
			return err
		}
		return fmt.Errorf("customer %d version %d: %w", a.ID, version, customer.ErrStale)
	}
	a.Version, a.UpdatedAt = version+1, now
	return nil
}

// UpdateEmail switches the login e-mail, and the contact e-mail when contact is set.
func (s *Store) UpdateEmail(ctx context.Context, tenant string, id int64, email string, contact *string) error {
	set, args := `email = ?, email_key = ?`, []any{email, customer.EmailKey(email)}
	if contact != nil {
		set += `, contact_email = ?`
		args = append(args, *contact)
	}
	err := s.updateAccount(ctx, tenant, id, set, args...)
	if errors.Is(err, errUnique) {
		return fmt.Errorf("e-mail %q: %w", email, customer.ErrConflict)
	}
	return err
}

// EraseAccount deletes an account with everything that hangs off it (addresses,
// memberships, devices, second factors, one-time tokens and browser sessions go by
// cascade), deletes its OAuth tokens (their stored sessions may hold claims such as the
// e-mail), scrubs its outbox messages and strips the IP address, user agent and details
// of its security events, which keep only the pseudonymous customer id, kind and time.
func (s *Store) EraseAccount(ctx context.Context, tenant string, id int64) error {
	return s.InTx(ctx, func(ctx context.Context) error {
		a, err := s.GetAccount(ctx, tenant, id)
		if err != nil {
			return err
		}
		steps := []struct {
			what  string
			query string
			args  []any
		}{
			{"tokens", `DELETE FROM oauth2_tokens WHERE tenant = ? AND subject = ?`, []any{tenant, fmt.Sprint(id)}},
			{"outbox", `UPDATE outbox SET recipient = '', ` + scrubbed + ` WHERE tenant = ? AND recipient = ?`, []any{tenant, a.Email}},
			{"events", `UPDATE security_events SET ip = '', user_agent = '', detail = '{}' WHERE tenant = ? AND customer_id = ?`, []any{tenant, id}},
			{"customer", `DELETE FROM customers WHERE tenant = ? AND id = ?`, []any{tenant, id}},
		}
		for _, st := range steps {
			if _, err := s.exec(ctx, st.query, st.args...); err != nil {
				return fmt.Errorf("erase customer %d: %s: %w", id, st.what, err)
			}
		}
		return nil
	})
}

type addressRow struct {
	ID             string    `db:"id"`
	ContactName    string    `db:"contact_name"`
	CompanyName    string    `db:"company_name"`
	Street         string    `db:"street"`
	StreetNumber   string    `db:"street_number"`
	StreetAppendix string    `db:"street_appendix"`
	ExtraLine1     string    `db:"extra_line1"`
	ExtraLine2     string    `db:"extra_line2"`
	ExtraLine3     string    `db:"extra_line3"`
	ExtraLine4     string    `db:"extra_line4"`
	ZipCode        string    `db:"zip_code"`
	City           string    `db:"city"`
	Country        string    `db:"country"`
	State          string    `db:"state"`
	ContactPhone   string    `db:"contact_phone"`
	Tags           string    `db:"tags"`
	IsDefault      bool      `db:"is_default"`
	CreatedAt      time.Time `db:"created_at"`
}

const addressColumns = `id, contact_name, company_name, street, street_number, street_appendix, extra_line1, extra_line2,
	extra_line3, extra_line4, zip_code, city, country, state, contact_phone, tags, is_default, created_at`

func (r addressRow) address() (customer.Address, error) {
	tags, err := parseList(r.Tags)
	if err != nil {
		return customer.Address{}, fmt.Errorf("decode address tags: %w", err)
	}
	if tags == nil {
		tags = []string{}
	}
	return customer.Address{ID: r.ID, ContactName: r.ContactName, CompanyName: r.CompanyName, Street: r.Street,
		StreetNumber: r.StreetNumber, StreetAppendix: r.StreetAppendix, ExtraLine1: r.ExtraLine1, ExtraLine2: r.ExtraLine2,
		ExtraLine3: r.ExtraLine3, ExtraLine4: r.ExtraLine4, ZipCode: r.ZipCode, City: r.City, Country: r.Country,
		State: r.State, ContactPhone: r.ContactPhone, Tags: tags, IsDefault: r.IsDefault}, nil
}

// qListAddresses is hot (prepared.go): GET /me?expand=addresses reads it.
const qListAddresses = `SELECT ` + addressColumns + ` FROM addresses WHERE tenant = ? AND customer_id = ?
		ORDER BY is_default DESC, created_at, id`

// ListAddresses returns a customer's addresses, the default first, then oldest first.
func (s *Store) ListAddresses(ctx context.Context, tenant string, customerID int64) ([]customer.Address, error) {
	var rows []addressRow
	if err := s.sel(ctx, &rows, qListAddresses, tenant, customerID); err != nil {
		return nil, fmt.Errorf("list addresses: %w", err)
	}
	out := make([]customer.Address, 0, len(rows))
	for _, r := range rows {
		a, err := r.address()
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// GetAddress returns one of the customer's addresses.
func (s *Store) GetAddress(ctx context.Context, tenant string, customerID int64, id string) (*customer.Address, error) {
	var r addressRow
	err := s.get(ctx, &r, `SELECT `+addressColumns+` FROM addresses WHERE tenant = ? AND customer_id = ? AND id = ?`,
		tenant, customerID, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, customer.ErrAddressNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get address: %w", err)
	}
	a, err := r.address()
	return &a, err
}

// UpdateAddress replaces one of the customer's addresses.
func (s *Store) UpdateAddress(ctx context.Context, tenant string, customerID int64, a *customer.Address) error {
	n, err := s.exec(ctx, `UPDATE addresses SET contact_name = ?, company_name = ?, street = ?, street_number = ?,
		street_appendix = ?, extra_line1 = ?, extra_line2 = ?, extra_line3 = ?, extra_line4 = ?, zip_code = ?, city = ?,
		country = ?, state = ?, contact_phone = ?, tags = ?, is_default = ?, updated_at = ?
		WHERE tenant = ? AND customer_id = ? AND id = ?`,
		a.ContactName, a.CompanyName, a.Street, a.StreetNumber, a.StreetAppendix, a.ExtraLine1, a.ExtraLine2, a.ExtraLine3,
		a.ExtraLine4, a.ZipCode, a.City, a.Country, a.State, a.ContactPhone, jsonList(a.Tags).text(), a.IsDefault, s.clock(),
		tenant, customerID, a.ID)
	if err != nil {
		return fmt.Errorf("update address: %w", err)
	}
	if n == 0 {
		return customer.ErrAddressNotFound
	}
	return nil
}

// DeleteAddress removes one of the customer's addresses.
func (s *Store) DeleteAddress(ctx context.Context, tenant string, customerID int64, id string) error {
	n, err := s.exec(ctx, `DELETE FROM addresses WHERE tenant = ? AND customer_id = ? AND id = ?`, tenant, customerID, id)
	if err != nil {
		return fmt.Errorf("delete address: %w", err)
	}
	if n == 0 {
		return customer.ErrAddressNotFound
	}
	return nil
}

// ClearDefaultAddress unsets the customer's default address.
func (s *Store) ClearDefaultAddress(ctx context.Context, tenant string, customerID int64) error {
	if _, err := s.exec(ctx, `UPDATE addresses SET is_default = ? WHERE tenant = ? AND customer_id = ? AND is_default`,
		false, tenant, customerID); err != nil {
		return fmt.Errorf("clear default address: %w", err)
	}
	return nil
}

// PromoteDefaultAddress makes the oldest address the default when the customer has
// none.
func (s *Store) PromoteDefaultAddress(ctx context.Context, tenant string, customerID int64) error {
	if _, err := s.exec(ctx, `UPDATE addresses SET is_default = ? WHERE id = (
			SELECT id FROM addresses WHERE tenant = ? AND customer_id = ? ORDER BY created_at, id LIMIT 1)
		AND NOT EXISTS (SELECT 1 FROM addresses WHERE tenant = ? AND customer_id = ? AND is_default)`,
		true, tenant, customerID, tenant, customerID); err != nil {
		return fmt.Errorf("promote default address: %w", err)
	}
	return nil
}

// RevokeSubjectExcept revokes a subject's access and refresh tokens except those of
// one shopper session (the caller's own).
func (s *Store) RevokeSubjectExcept(ctx context.Context, tenant, subject, keepSessionID string) error {
	if _, err := s.exec(ctx, `UPDATE oauth2_tokens SET active = ?, revoked = ?
		WHERE tenant = ? AND subject = ? AND session_id <> ? AND kind IN (?, ?)`,
		false, true, tenant, subject, keepSessionID, kindAccess, kindRefresh); err != nil {
		return fmt.Errorf("revoke other sessions: %w", err)
	}
	return nil
}
