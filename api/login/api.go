// Package login is the customer login API (CONTRACT.md §3, modelled on the customer
// management tutorial seed): a dialect of thin handlers over the customer service and
// the OAuth provider's tokens, with its own error shape {status, type, message,
// details?}. The admin API answers in the same shape.
package login

import (
	"log/slog"
	"time"

	"github.com/custodian-id/custodian/api"
	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/oauth"
)

// Config is what the customer login API is built from.
type Config struct {
	Customers *customer.Service
	OAuth     *oauth.Provider
	Logger    *slog.Logger
	Now       func() time.Time
	// MaxBodyBytes limits request bodies (0: no limit); a larger one is a 413.
	MaxBodyBytes int64
}

// API serves the customer login API.
type API struct {
	svc     *customer.Service
	oauth   *oauth.Provider
	log     *slog.Logger
	now     func() time.Time
	maxBody int64
}

// New builds the customer login API.
func New(cfg Config) *API {
	return &API{svc: cfg.Customers, oauth: cfg.OAuth, log: api.OrDiscard(cfg.Logger), now: api.OrNow(cfg.Now),
		maxBody: cfg.MaxBodyBytes}
}
