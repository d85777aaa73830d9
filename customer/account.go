// Package customer holds shopper accounts and the two customer-facing authentication
// APIs (the ticket API and the customer login API), profiles and credentials.
package customer

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/custodian-id/custodian/oauth"
)

// Domain sentinels of the customer package.
var (
	ErrNotFound = errors.New("customer not found")
	ErrConflict = errors.New("customer already exists")
	ErrInvalid  = errors.New("invalid customer data")
	// Login outcomes are the oauth package's, so the login pages, the token endpoint
	// and the customer APIs read one value.
	ErrInvalidCredentials = oauth.ErrInvalidCredentials
	ErrLocked             = oauth.ErrAccountLocked
	ErrInactive           = oauth.ErrAccountInactive
)

// Account is a shopper's account in one tenant. Later issues add the profile, lockout
// and two-factor state.
type Account struct {
	ID           int64
	Tenant       string
	Email        string
	PasswordHash string
	Active       bool
	FirstName    string
	LastName     string
	CreatedAt    time.Time
	CreatedBy    string
	UpdatedAt    time.Time
	UpdatedBy    string
}

// EmailKey is the form e-mail addresses are compared in: trimmed and lower-cased.
func EmailKey(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// Store persists accounts.
type Store interface {
	CreateAccount(ctx context.Context, a *Account) error
	GetAccount(ctx context.Context, tenant string, id int64) (*Account, error)
	GetAccountByEmail(ctx context.Context, tenant, email string) (*Account, error)
	UpdatePasswordHash(ctx context.Context, tenant string, id int64, hash string) error
	SetActive(ctx context.Context, tenant string, id int64, active bool) error
}
