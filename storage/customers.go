package storage

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/custodian-id/custodian/customer"
)

var (
	_ customer.Store      = (*Store)(nil)
	_ customer.GuardStore = (*Store)(nil)
)

type accountRow struct {
	ID                    int64        `db:"id"`
	Tenant                string       `db:"tenant"`
	Email                 string       `db:"email"`
	PasswordHash          string       `db:"password_hash"`
	PasswordFormat        string       `db:"password_format"`
	PasswordSalt          string       `db:"password_salt"`
	Active                bool         `db:"active"`
	OnHold                bool         `db:"on_hold"`
	UserName              string       `db:"user_name"`
	Title                 string       `db:"title"`
	FirstName             string       `db:"first_name"`
	MiddleName            string       `db:"middle_name"`
	LastName              string       `db:"last_name"`
	ContactEmail          string       `db:"contact_email"`
	ContactPhone          string       `db:"contact_phone"`
	Company               string       `db:"company"`
	PreferredLanguage     string       `db:"preferred_language"`
	PreferredCurrency     string       `db:"preferred_currency"`
	PreferredSite         string       `db:"preferred_site"`
	CompanyRegistrationID string       `db:"company_registration_id"`
	LocaleCode            string       `db:"locale_code"`
	AcceptsMarketing      bool         `db:"accepts_marketing"`
	TaxExempt             bool         `db:"tax_exempt"`
	TaxID                 string       `db:"tax_id"`
	ExternalID            string       `db:"external_id"`
	CustomerSet           string       `db:"customer_set"`
	HasExternalPassword   bool         `db:"has_external_password"`
	MigrationRequired     bool         `db:"migration_required"`
	InitialPassword       bool         `db:"initial_password"`
	Attributes            string       `db:"attributes"`
	Notes                 string       `db:"notes"`
	Segments              string       `db:"segments"`
	CommerceSummary       string       `db:"commerce_summary"`
	Version               int          `db:"version"`
	FailedLogins          int          `db:"failed_logins"`
	FirstFailedLoginAt    sql.NullTime `db:"first_failed_login_at"`
	LockedUntil           sql.NullTime `db:"locked_until"`
	LastLockedAt          sql.NullTime `db:"last_locked_at"`
	LastLoginAt           sql.NullTime `db:"last_login_at"`
	Last2FAAt             sql.NullTime `db:"last_2fa_at"`
	TwoFactorOptIn        bool         `db:"twofactor_opt_in"`
	Mixins                string       `db:"mixins"`
	EmailVerified         bool         `db:"email_verified"`
	CreatedAt             time.Time    `db:"created_at"`
	CreatedBy             string       `db:"created_by"`
	UpdatedAt             time.Time    `db:"updated_at"`
	UpdatedBy             string       `db:"updated_by"`
}

const accountColumns = `id, tenant, email, password_hash, password_format, password_salt, active, on_hold, user_name, title, first_name, middle_name,
	last_name, contact_email, contact_phone, company, preferred_language, preferred_currency, preferred_site,
	company_registration_id, locale_code, accepts_marketing, tax_exempt, tax_id, external_id, customer_set,
	has_external_password, migration_required, initial_password, attributes, notes, segments, commerce_summary,
	version, failed_logins, first_failed_login_at, locked_until, last_locked_at, last_login_at, last_2fa_at,
	twofactor_opt_in, mixins, email_verified, created_at, created_by, updated_at, updated_by`

func timePtr(n sql.NullTime) *time.Time {
	if !n.Valid {
		return nil
	}
	t := n.Time.UTC()
	return &t
}

func (r accountRow) account() *customer.Account {
	return &customer.Account{ID: r.ID, Tenant: r.Tenant, Email: r.Email, PasswordHash: r.PasswordHash,
		PasswordFormat: r.PasswordFormat, PasswordSalt: r.PasswordSalt, Active: r.Active,
		OnHold: r.OnHold, UserName: r.UserName, Title: r.Title, FirstName: r.FirstName, MiddleName: r.MiddleName,
		LastName: r.LastName, ContactEmail: r.ContactEmail, ContactPhone: r.ContactPhone, Company: r.Company,
		PreferredLanguage: r.PreferredLanguage, PreferredCurrency: r.PreferredCurrency, PreferredSite: r.PreferredSite,
		CompanyRegistrationID: r.CompanyRegistrationID, LocaleCode: r.LocaleCode, AcceptsMarketing: r.AcceptsMarketing,
		TaxExempt: r.TaxExempt, TaxID: r.TaxID, ExternalID: r.ExternalID, CustomerSet: r.CustomerSet,
		HasExternalPassword: r.HasExternalPassword, MigrationRequired: r.MigrationRequired, InitialPassword: r.InitialPassword,
		Attributes: json.RawMessage(r.Attributes), Notes: json.RawMessage(r.Notes), Segments: json.RawMessage(r.Segments),
		CommerceSummary: json.RawMessage(r.CommerceSummary), Version: r.Version, FailedLogins: r.FailedLogins,
		FirstFailedLoginAt: timePtr(r.FirstFailedLoginAt), LockedUntil: timePtr(r.LockedUntil),
		LastLockedAt: timePtr(r.LastLockedAt), LastLoginAt: timePtr(r.LastLoginAt), Last2FAAt: timePtr(r.Last2FAAt),
		TwoFactorOptIn: r.TwoFactorOptIn, Mixins: json.RawMessage(r.Mixins), EmailVerified: r.EmailVerified,
		CreatedAt: r.CreatedAt.UTC(), CreatedBy: r.CreatedBy, UpdatedAt: r.UpdatedAt.UTC(), UpdatedBy: r.UpdatedBy}
}

func rawOr(b json.RawMessage, def string) string {
	if len(b) == 0 {
		return def
	}
	return string(b)
}

// CreateAccount stores a new account and sets its id.
func (s *Store) CreateAccount(ctx context.Context, a *customer.Account) error {
	now := s.clock()
	if a.CreatedAt.IsZero() {
		a.CreatedAt = now
	}
	a.UpdatedAt = now
	a.Version = 1
	if a.PasswordFormat == "" {
		a.PasswordFormat = customer.PasswordFormatCustodian
	}
	err := s.get(ctx, &a.ID, `INSERT INTO customers (tenant, email, email_key, password_hash, password_format, password_salt, active, on_hold, user_name,
		title, first_name, middle_name, last_name, contact_email, contact_phone, company, preferred_language,
		preferred_currency, preferred_site, company_registration_id, locale_code, accepts_marketing, tax_exempt, tax_id,
		external_id, customer_set, has_external_password, migration_required, initial_password, attributes, notes,
		segments, commerce_summary, email_verified, version, created_at, created_by, updated_at, updated_by)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?)
		RETURNING id`,
		a.Tenant, a.Email, customer.EmailKey(a.Email), a.PasswordHash, a.PasswordFormat, a.PasswordSalt, a.Active, a.OnHold, a.UserName, a.Title,
		a.FirstName, a.MiddleName, a.LastName, a.ContactEmail, a.ContactPhone, a.Company, a.PreferredLanguage,
		a.PreferredCurrency, a.PreferredSite, a.CompanyRegistrationID, a.LocaleCode, a.AcceptsMarketing, a.TaxExempt,
		a.TaxID, a.ExternalID, a.CustomerSet, a.HasExternalPassword, a.MigrationRequired, a.InitialPassword,
		rawOr(a.Attributes, "[]"), rawOr(a.Notes, "[]"), rawOr(a.Segments, "[]"), rawOr(a.CommerceSummary, "{}"),
		a.EmailVerified, ts(a.CreatedAt), a.CreatedBy, ts(a.UpdatedAt), a.UpdatedBy)
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

func accountQuery(where string) string {
	return `SELECT ` + accountColumns + ` FROM customers WHERE ` + where
}

func (s *Store) getAccount(ctx context.Context, where string, args ...any) (*customer.Account, error) {
	var r accountRow
	err := s.get(ctx, &r, accountQuery(where), args...)
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
	return s.getAccount(ctx, accountByID, tenant, id)
}

// accountByID is the condition of GetAccount, whose query is hot (prepared.go): every
// request of a signed-in customer reads the account.
const accountByID = `tenant = ? AND id = ?`

// GetAccountByEmail returns a tenant's account by e-mail, compared case-insensitively.
func (s *Store) GetAccountByEmail(ctx context.Context, tenant, email string) (*customer.Account, error) {
	return s.getAccount(ctx, `tenant = ? AND email_key = ?`, tenant, customer.EmailKey(email))
}

// UpdatePasswordHash replaces an account's password hash by one of Custodian's own
// (format custodian): an imported hash and its salt go, and with them the flags that
// said the password still lived in the old platform's format.
func (s *Store) UpdatePasswordHash(ctx context.Context, tenant string, id int64, hash string) error {
	return s.updateAccount(ctx, tenant, id, `password_hash = ?, password_format = ?, password_salt = '',
		has_external_password = ?, migration_required = ?`, hash, customer.PasswordFormatCustodian, false, false)
}

// UpgradePassword replaces an imported hash by Custodian's own in one conditional update:
// only while the account still holds foreignHash in a foreign format, so of two
// concurrent first sign-ins one upgrades and the other changes nothing. Like the sign-in
// counters it is no profile change: version and updated_at stay.
func (s *Store) UpgradePassword(ctx context.Context, tenant string, id int64, foreignHash, hash string) (bool, error) {
	n, err := s.exec(ctx, `UPDATE customers SET password_hash = ?, password_format = ?, password_salt = '',
		has_external_password = ?, migration_required = ?
		WHERE tenant = ? AND id = ? AND password_format <> ? AND password_hash = ?`,
		hash, customer.PasswordFormatCustodian, false, false, tenant, id, customer.PasswordFormatCustodian, foreignHash)
	if err != nil {
		return false, fmt.Errorf("upgrade the password hash of customer %d: %w", id, err)
	}
	return n == 1, nil
}

// SetActive activates or deactivates an account.
func (s *Store) SetActive(ctx context.Context, tenant string, id int64, active bool) error {
	return s.updateAccount(ctx, tenant, id, `active = ?`, active)
}

// SetOnHold holds or releases an account.
func (s *Store) SetOnHold(ctx context.Context, tenant string, id int64, onHold bool) error {
	return s.updateAccount(ctx, tenant, id, `on_hold = ?`, onHold)
}

// SetLast2FA stamps the completion of a second factor. Like the sign-in counters it is
// not a profile change: version and updated_at stay.
func (s *Store) SetLast2FA(ctx context.Context, tenant string, id int64, at time.Time) error {
	n, err := s.exec(ctx, `UPDATE customers SET last_2fa_at = ? WHERE tenant = ? AND id = ?`, ts(at), tenant, id)
	if err != nil {
		return fmt.Errorf("set last 2fa of customer %d: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("customer %d: %w", id, customer.ErrNotFound)
	}
	return nil
}

// SetTwoFactorOptIn records whether the customer asked for a second factor.
func (s *Store) SetTwoFactorOptIn(ctx context.Context, tenant string, id int64, on bool) error {
	return s.updateAccount(ctx, tenant, id, `twofactor_opt_in = ?`, on)
}

func (s *Store) updateAccount(ctx context.Context, tenant string, id int64, set string, args ...any) error {
	args = append(args, s.clock(), tenant, id)
	n, err := s.exec(ctx, `UPDATE customers SET `+set+`, version = version + 1, updated_at = ? WHERE tenant = ? AND id = ?`, args...)
	if err != nil {
		return fmt.Errorf("update customer %d: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("customer %d: %w", id, customer.ErrNotFound)
	}
	return nil
}

// UpdateExternalFields replaces the admin-owned JSON fields that are set.
func (s *Store) UpdateExternalFields(ctx context.Context, tenant string, id int64, f customer.ExternalFields) error {
	set, args := "", []any{}
	for _, c := range []struct {
		col string
		raw json.RawMessage
	}{{"attributes", f.Attributes}, {"notes", f.Notes}, {"segments", f.Segments}, {"commerce_summary", f.CommerceSummary}} {
		if c.raw != nil {
			if set != "" {
				set += ", "
			}
			set += c.col + " = ?"
			args = append(args, string(c.raw))
		}
	}
	if set == "" {
		_, err := s.GetAccount(ctx, tenant, id)
		return err
	}
	return s.updateAccount(ctx, tenant, id, set, args...)
}

// AddMembership adds (or renames) a customer's B2B membership.
func (s *Store) AddMembership(ctx context.Context, tenant string, id int64, m customer.Membership) error {
	_, err := s.exec(ctx, `INSERT INTO customer_memberships (tenant, customer_id, account_id, name, contact_assignment_id, created_at)
		SELECT tenant, id, ?, ?, ?, ? FROM customers WHERE tenant = ? AND id = ?
		ON CONFLICT (customer_id, account_id) DO UPDATE SET name = excluded.name, contact_assignment_id = excluded.contact_assignment_id`,
		m.AccountID, m.Name, m.ContactAssignmentID, s.clock(), tenant, id)
	if err != nil {
		return fmt.Errorf("add membership: %w", err)
	}
	return nil
}

// qListMemberships is hot (prepared.go): validateauthtoken and /me read it.
const qListMemberships = `SELECT account_id, name, contact_assignment_id FROM customer_memberships
		WHERE tenant = ? AND customer_id = ? ORDER BY created_at, account_id`

// ListMemberships returns a customer's B2B memberships.
func (s *Store) ListMemberships(ctx context.Context, tenant string, id int64) ([]customer.Membership, error) {
	var rows []struct {
		AccountID           string `db:"account_id"`
		Name                string `db:"name"`
		ContactAssignmentID string `db:"contact_assignment_id"`
	}
	if err := s.sel(ctx, &rows, qListMemberships, tenant, id); err != nil {
		return nil, fmt.Errorf("list memberships: %w", err)
	}
	out := make([]customer.Membership, 0, len(rows))
	for _, r := range rows {
		out = append(out, customer.Membership{AccountID: r.AccountID, Name: r.Name, ContactAssignmentID: r.ContactAssignmentID})
	}
	return out, nil
}

// AddAddress stores an address of a customer and sets its id.
func (s *Store) AddAddress(ctx context.Context, tenant string, customerID int64, a *customer.Address) error {
	b := make([]byte, 5)
	if _, err := rand.Read(b); err != nil {
		return fmt.Errorf("address id: %w", err)
	}
	a.ID = hex.EncodeToString(b)
	now := s.clock()
	_, err := s.exec(ctx, `INSERT INTO addresses (id, tenant, customer_id, contact_name, company_name, street, street_number,
		street_appendix, extra_line1, extra_line2, extra_line3, extra_line4, zip_code, city, country, state, contact_phone,
		tags, is_default, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.ID, tenant, customerID, a.ContactName, a.CompanyName, a.Street, a.StreetNumber, a.StreetAppendix, a.ExtraLine1,
		a.ExtraLine2, a.ExtraLine3, a.ExtraLine4, a.ZipCode, a.City, a.Country, a.State, a.ContactPhone,
		jsonList(a.Tags).text(), a.IsDefault, now, now)
	if errors.Is(err, errForeign) {
		return fmt.Errorf("customer %d: %w", customerID, customer.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("add address: %w", err)
	}
	return nil
}

// CreateToken stores a one-time token and retires the customer's unused tokens of the
// same kind, so only the newest link works.
func (s *Store) CreateToken(ctx context.Context, t *customer.OneTimeToken) error {
	data, err := json.Marshal(t.Data)
	if err != nil {
		return fmt.Errorf("encode token data: %w", err)
	}
	if t.Data == nil {
		data = []byte("{}")
	}
	return s.InTx(ctx, func(ctx context.Context) error {
		now := s.clock()
		if _, err := s.exec(ctx, `UPDATE one_time_tokens SET used_at = ? WHERE tenant = ? AND customer_id = ? AND kind = ? AND used_at IS NULL`,
			now, t.Tenant, t.CustomerID, t.Kind); err != nil {
			return fmt.Errorf("retire old tokens: %w", err)
		}
		if _, err := s.exec(ctx, `INSERT INTO one_time_tokens (token_hash, tenant, customer_id, kind, data, expires_at, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, t.Hash, t.Tenant, t.CustomerID, t.Kind, string(data), ts(t.ExpiresAt), now); err != nil {
			return fmt.Errorf("create token: %w", err)
		}
		return nil
	})
}

// UseToken consumes a token with one conditional update: of two concurrent uses
// exactly one wins.
// RetireTokens marks a customer's unused one-time tokens of a kind used.
func (s *Store) RetireTokens(ctx context.Context, tenant string, customerID int64, kind string) error {
	if _, err := s.exec(ctx, `UPDATE one_time_tokens SET used_at = ? WHERE tenant = ? AND customer_id = ? AND kind = ? AND used_at IS NULL`,
		s.clock(), tenant, customerID, kind); err != nil {
		return fmt.Errorf("retire %s tokens: %w", kind, err)
	}
	return nil
}

func (s *Store) UseToken(ctx context.Context, tenant, kind, hash string, now time.Time) (*customer.OneTimeToken, error) {
	var out *customer.OneTimeToken
	err := s.InTx(ctx, func(ctx context.Context) error {
		n, err := s.exec(ctx, `UPDATE one_time_tokens SET used_at = ?
			WHERE token_hash = ? AND tenant = ? AND kind = ? AND used_at IS NULL AND expires_at > ?`, ts(now), hash, tenant, kind, ts(now))
		if err != nil {
			return fmt.Errorf("use token: %w", err)
		}
		if n == 0 {
			return customer.ErrInvalidToken
		}
		var r struct {
			CustomerID int64     `db:"customer_id"`
			Data       string    `db:"data"`
			ExpiresAt  time.Time `db:"expires_at"`
		}
		if err := s.get(ctx, &r, `SELECT customer_id, data, expires_at FROM one_time_tokens WHERE token_hash = ?`, hash); err != nil {
			return fmt.Errorf("read token: %w", err)
		}
		out = &customer.OneTimeToken{Hash: hash, Tenant: tenant, CustomerID: r.CustomerID, Kind: kind, ExpiresAt: r.ExpiresAt.UTC()}
		return json.Unmarshal([]byte(r.Data), &out.Data)
	})
	return out, err
}

// PeekToken returns an unexpired, unused token and changes nothing.
func (s *Store) PeekToken(ctx context.Context, tenant, kind, hash string, now time.Time) (*customer.OneTimeToken, error) {
	var r struct {
		CustomerID int64     `db:"customer_id"`
		Data       string    `db:"data"`
		ExpiresAt  time.Time `db:"expires_at"`
	}
	err := s.get(ctx, &r, `SELECT customer_id, data, expires_at FROM one_time_tokens
		WHERE token_hash = ? AND tenant = ? AND kind = ? AND used_at IS NULL AND expires_at > ?`, hash, tenant, kind, ts(now))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, customer.ErrInvalidToken
	}
	if err != nil {
		return nil, fmt.Errorf("peek token: %w", err)
	}
	out := &customer.OneTimeToken{Hash: hash, Tenant: tenant, CustomerID: r.CustomerID, Kind: kind, ExpiresAt: r.ExpiresAt.UTC()}
	if err := json.Unmarshal([]byte(r.Data), &out.Data); err != nil {
		return nil, fmt.Errorf("decode token data: %w", err)
	}
	return out, nil
}
