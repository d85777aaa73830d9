// Package customer holds the domain rules of shoppers' accounts: sign-in (first factor,
// lockout, rate limits, the second-factor decision), refresh and re-scope, social
// sign-in and linking, sign-up, profile and addresses, credentials, devices, export and
// erasure. It imports no HTTP, protocol or storage library: the API dialects (api/...)
// and the OAuth provider call it, and it reaches the store, the outbox and the tokens
// through the interfaces it declares (Store, GuardStore, TokenRevoker, ClientTokens).
package customer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/identity/mailaddr"
)

// Domain sentinels of the customer package, members of identity's error family.
var (
	ErrNotFound     = fmt.Errorf("customer %w", identity.ErrNotFound)     // "customer not found"
	ErrConflict     = fmt.Errorf("customer %w", identity.ErrConflict)     // "customer already exists"
	ErrInvalid      = fmt.Errorf("%w customer data", identity.ErrInvalid) // "invalid customer data"
	ErrInvalidToken = errors.New("invalid or expired token")
	// Sign-in outcomes are identity's, so the login pages, the token endpoint and the
	// customer APIs read one value.
	ErrInvalidCredentials = identity.ErrInvalidCredentials
	ErrLocked             = identity.ErrAccountLocked
	ErrInactive           = identity.ErrAccountInactive
	ErrRateLimited        = identity.ErrRateLimited
	// ErrPasswordResetRequired: a weak imported hash under import.weak_hash_action
	// reset; the reset mail has gone out.
	ErrPasswordResetRequired = identity.ErrPasswordResetRequired
)

// Account is a shopper's account in one tenant: one model behind the ticket API's
// customerAccount and the login API's profile.
type Account struct {
	ID           int64
	Tenant       string
	Email        string
	PasswordHash string
	// PasswordFormat is the passwordhash format PasswordHash is in: PasswordFormatCustodian
	// (Custodian's own argon2id; what every password set here is stored as) or the format of
	// an imported hash, verified as it is until the first sign-in upgrades it.
	PasswordFormat string
	// PasswordSalt is the salt of imported formats that keep it beside the hash
	// (firebase-scrypt, the legacy digests); empty otherwise.
	PasswordSalt string
	Active       bool
	OnHold       bool

	UserName              string
	Title                 string
	FirstName             string
	MiddleName            string
	LastName              string
	ContactEmail          string
	ContactPhone          string
	Company               string
	PreferredLanguage     string
	PreferredCurrency     string
	PreferredSite         string
	CompanyRegistrationID string
	LocaleCode            string
	AcceptsMarketing      bool
	TaxExempt             bool
	TaxID                 string
	ExternalID            string
	CustomerSet           string
	HasExternalPassword   bool
	MigrationRequired     bool
	InitialPassword       bool
	// Fields other systems own (segments, attributes, notes, commerce summary): stored
	// and returned as given through the admin surface, never invented.
	Attributes      json.RawMessage
	Notes           json.RawMessage
	Segments        json.RawMessage
	CommerceSummary json.RawMessage
	// Mixins are the customer's custom profile sections (an object of objects), set
	// through PATCH /me.
	Mixins  json.RawMessage
	Version int

	FailedLogins       int
	FirstFailedLoginAt *time.Time
	LockedUntil        *time.Time
	LastLockedAt       *time.Time
	LastLoginAt        *time.Time
	Last2FAAt          *time.Time
	// TwoFactorOptIn: the customer asked for a second factor on new devices.
	TwoFactorOptIn bool
	// EmailVerified: the customer proved the e-mail address (opt-in link, e-mail
	// change confirmation, or an upstream provider that verified it).
	EmailVerified bool

	Memberships []Membership
	Addresses   []Address  // filled by Service.Account
	Identities  []Identity // filled by Service.Account

	CreatedAt time.Time
	CreatedBy string
	UpdatedAt time.Time
	UpdatedBy string
}

// PasswordFormatCustodian is the format of Custodian's own password hashes (argon2id PHC).
const PasswordFormatCustodian = "custodian"

// ForeignPassword reports whether the stored hash is an imported one in another
// platform's format, still to be upgraded at the next sign-in.
func (a *Account) ForeignPassword() bool {
	return a.PasswordHash != "" && a.PasswordFormat != "" && a.PasswordFormat != PasswordFormatCustodian
}

// Identity is an upstream (social) identity linked to a customer.
type Identity struct {
	Tenant      string
	Issuer      string
	Subject     string
	ConnectorID string
	CustomerID  int64
	Email       string
	CreatedAt   time.Time
}

// Membership is a B2B account (Kibo accountId) or legal entity (Emporix legalEntityId)
// a customer belongs to.
type Membership struct {
	AccountID           string
	Name                string
	ContactAssignmentID string
}

// Locked reports whether the account is locked at now; locks run out by themselves.
func (a *Account) Locked(now time.Time) bool {
	return a.LockedUntil != nil && now.Before(*a.LockedUntil)
}

// AccountType is B2B for customers of a company, B2C otherwise: the one rule behind
// the profile's businessModel, the ticket's accountType and twofactor.b2b_required.
// Memberships of B2B accounts are assigned by the admin; a company registration id is
// what the shopper says (signup, PATCH /me) and makes the account B2B only under the
// tenant's b2b.self_declared.
func (a *Account) AccountType(s identity.Settings) string {
	if len(a.Memberships) > 0 || (s.B2BSelfDeclared && a.CompanyRegistrationID != "") {
		return "B2B"
	}
	return "B2C"
}

// EmailKey is the canonical key e-mail addresses are compared by everywhere
// (mailaddr.Key): the store keeps it beside every address and looks accounts up by it.
func EmailKey(email string) string { return mailaddr.Key(email) }

// Address is one entry of a customer's address book.
type Address struct {
	ID             string
	ContactName    string
	CompanyName    string
	Street         string
	StreetNumber   string
	StreetAppendix string
	ExtraLine1     string
	ExtraLine2     string
	ExtraLine3     string
	ExtraLine4     string
	ZipCode        string
	City           string
	Country        string
	State          string
	ContactPhone   string
	Tags           []string
	IsDefault      bool
}

// ExternalFields are the account fields other systems own (segmentation, CRM notes,
// order statistics, custom attributes), set through the admin surface. Each is JSON:
// attributes, notes and segments arrays, commerceSummary an object.
type ExternalFields struct {
	Attributes      json.RawMessage
	Notes           json.RawMessage
	Segments        json.RawMessage
	CommerceSummary json.RawMessage
}

// OneTimeToken is a single-use token sent by mail; only its hash is stored.
type OneTimeToken struct {
	Hash       string
	Tenant     string
	CustomerID int64
	Kind       string
	Data       map[string]string
	ExpiresAt  time.Time
}

// Kinds of one-time tokens.
const (
	TokenOptIn         = "optin"
	TokenPasswordReset = "password_reset"
	TokenEmailChange   = "email_change"
)

// Sentinels of profile and credential changes.
var (
	// ErrStale: the profile changed since the version the caller read.
	ErrStale = errors.New("the profile was changed by someone else; read it again")
	// ErrAddressNotFound: no address of this customer has that id.
	ErrAddressNotFound = errors.New("address not found")
)

// Store persists accounts.
type Store interface {
	CreateAccount(ctx context.Context, a *Account) error
	GetAccount(ctx context.Context, tenant string, id int64) (*Account, error)
	GetAccountByEmail(ctx context.Context, tenant, email string) (*Account, error)
	UpdatePasswordHash(ctx context.Context, tenant string, id int64, hash string) error
	// UpgradePassword replaces an imported hash by Custodian's own (format custodian)
	// and clears the imported salt and the hasExternalPassword/migrationRequired flags,
	// with one conditional update: only while the stored hash is still foreignHash in a
	// foreign format. It reports whether it did (false: another sign-in or a reset came
	// first).
	UpgradePassword(ctx context.Context, tenant string, id int64, foreignHash, hash string) (bool, error)
	SetActive(ctx context.Context, tenant string, id int64, active bool) error
	SetOnHold(ctx context.Context, tenant string, id int64, onHold bool) error

	AddMembership(ctx context.Context, tenant string, id int64, m Membership) error
	ListMemberships(ctx context.Context, tenant string, id int64) ([]Membership, error)
	AddAddress(ctx context.Context, tenant string, customerID int64, a *Address) error

	// SetLast2FA stamps the completion of a second factor.
	SetLast2FA(ctx context.Context, tenant string, id int64, at time.Time) error
	// SetTwoFactorOptIn records the customer's own choice of a second factor.
	SetTwoFactorOptIn(ctx context.Context, tenant string, id int64, on bool) error

	// UpdateProfile writes the profile fields of a (Title … CompanyRegistrationID,
	// ContactEmail, Mixins) if the stored version is still version, and bumps it;
	// ErrStale otherwise.
	UpdateProfile(ctx context.Context, a *Account, version int) error
	// UpdateEmail switches the login e-mail (and the contact e-mail when contact is
	// set); ErrConflict when another account of the tenant has it.
	UpdateEmail(ctx context.Context, tenant string, id int64, email string, contact *string) error
	// SetEmailVerified records whether the e-mail address is proven.
	SetEmailVerified(ctx context.Context, tenant string, id int64, verified bool) error
	// LinkIdentity links an upstream identity to a customer; ErrConflict when linked.
	LinkIdentity(ctx context.Context, id *Identity) error
	// GetIdentity returns the link of an upstream identity; ErrNotFound otherwise.
	GetIdentity(ctx context.Context, tenant, issuer, subject string) (*Identity, error)
	ListIdentities(ctx context.Context, tenant string, customerID int64) ([]Identity, error)
	// DeleteIdentities unlinks a customer's identities of a connector; ErrNoLink when
	// there is none.
	DeleteIdentities(ctx context.Context, tenant string, customerID int64, connectorID string) error
	// EraseAccount removes everything personal of an account and pseudonymises what
	// the audit trail keeps.
	EraseAccount(ctx context.Context, tenant string, id int64) error

	ListAddresses(ctx context.Context, tenant string, customerID int64) ([]Address, error)
	// GetAddress returns one address of the customer; ErrAddressNotFound otherwise.
	GetAddress(ctx context.Context, tenant string, customerID int64, id string) (*Address, error)
	// UpdateAddress replaces an address of the customer; ErrAddressNotFound otherwise.
	UpdateAddress(ctx context.Context, tenant string, customerID int64, a *Address) error
	// DeleteAddress removes an address; ErrAddressNotFound otherwise.
	DeleteAddress(ctx context.Context, tenant string, customerID int64, id string) error
	// ClearDefaultAddress makes no address of the customer the default.
	ClearDefaultAddress(ctx context.Context, tenant string, customerID int64) error
	// PromoteDefaultAddress makes the oldest address the default when none is.
	PromoteDefaultAddress(ctx context.Context, tenant string, customerID int64) error

	// UpdateExternalFields replaces the fields other systems own (nil leaves one as is).
	UpdateExternalFields(ctx context.Context, tenant string, id int64, f ExternalFields) error

	// CreateToken stores a one-time token; it replaces the customer's unused tokens of
	// the same kind (a new request invalidates older ones).
	CreateToken(ctx context.Context, t *OneTimeToken) error
	// UseToken marks an unexpired, unused token used with one conditional update and
	// returns it; ErrInvalidToken otherwise.
	UseToken(ctx context.Context, tenant, kind, hash string, now time.Time) (*OneTimeToken, error)
	// RetireTokens marks a customer's unused tokens of a kind used.
	RetireTokens(ctx context.Context, tenant string, customerID int64, kind string) error
	// PeekToken returns an unexpired, unused token without using it; ErrInvalidToken
	// otherwise.
	PeekToken(ctx context.Context, tenant, kind, hash string, now time.Time) (*OneTimeToken, error)

	InTx(ctx context.Context, fn func(ctx context.Context) error) error
}
