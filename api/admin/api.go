// Package admin is the admin API (CONTRACT.md §4): tenants, clients, keys, connectors,
// customers and the audit trail under a bearer admin credential, served on the admin
// listener. It is a dialect of thin handlers over oauth.Provider's administration and
// customer.Service, never the store; its errors have the customer login API's shape
// {status, type, message, details?}.
package admin

import (
	"crypto/subtle"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/custodian-id/custodian/api"
	"github.com/custodian-id/custodian/api/wellformed"
	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/oauth"
)

// Config is what the admin API is built from.
type Config struct {
	OAuth     *oauth.Provider
	Customers *customer.Service
	// Token is the admin credential; empty: no admin access at all.
	Token  string
	Logger *slog.Logger
	Now    func() time.Time
	// MaxBodyBytes limits request bodies (0: no limit); a larger one is a 413.
	MaxBodyBytes int64
}

// API serves the admin API.
type API struct {
	oauth   *oauth.Provider
	svc     *customer.Service
	token   string
	log     *slog.Logger
	now     func() time.Time
	maxBody int64
}

// New builds the admin API.
func New(cfg Config) *API {
	return &API{oauth: cfg.OAuth, svc: cfg.Customers, token: cfg.Token, log: api.OrDiscard(cfg.Logger), now: api.OrNow(cfg.Now),
		maxBody: cfg.MaxBodyBytes}
}

// Require lets a request through only with the admin credential (Authorization:
// Bearer), and checks its query is valid UTF-8. It also guards the customer login API's
// admin route.
func (a *API) Require(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		// No configured admin token means no admin access at all, never "empty matches empty".
		if !ok || a.token == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(a.token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="custodian-admin"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "a valid admin token is required")
			return
		}
		if err := wellformed.Query(r); err != nil {
			writeError(w, http.StatusBadRequest, "bad_request", err.Error())
			return
		}
		next.ServeHTTP(w, r)
	})
}
