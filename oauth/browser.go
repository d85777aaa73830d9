package oauth

import (
	"context"
	"time"

	"github.com/ory/fosite"
)

// BrowserSession is a shopper's sign-in at the login pages (single sign-on across the
// tenant's clients). The cookie carries a random value; only its hash is stored.
type BrowserSession struct {
	IDHash     string
	Tenant     string
	CustomerID int64
	SessionID  string   // the shopper session id tokens carry as session_id
	AMR        []string // authentication methods used, e.g. ["pwd"] or ["pwd","otp"]
	DeviceID   string   // the device (twofactor.Device) the sign-in came from, if known
	AuthTime   time.Time
	ExpiresAt  time.Time
	CreatedAt  time.Time
}

// Consent is a customer's remembered approval of a third-party client's scopes.
type Consent struct {
	Tenant     string
	CustomerID int64
	ClientID   string
	Scopes     []string
	CreatedAt  time.Time
}

// SessionStore persists browser sessions and consents.
type SessionStore interface {
	CreateBrowserSession(ctx context.Context, s *BrowserSession) error
	// GetBrowserSession returns an unexpired session of the tenant by the hash of its cookie.
	GetBrowserSession(ctx context.Context, tenant, idHash string) (*BrowserSession, error)
	DeleteBrowserSession(ctx context.Context, tenant, idHash string) error
	// DeleteCustomerBrowserSessions ends every browser session of a customer.
	DeleteCustomerBrowserSessions(ctx context.Context, tenant string, customerID int64) error

	GetConsent(ctx context.Context, tenant string, customerID int64, clientID string) (*Consent, error)
	SaveConsent(ctx context.Context, c *Consent) error
}

// TokenStore is what the oauth package needs of the token table beyond fosite's
// interfaces.
type TokenStore interface {
	// RevokeSession revokes every token (all families) carrying the session id.
	RevokeSession(ctx context.Context, tenant, sessionID string) error
	// RevokeSubject revokes every token of a subject in a tenant.
	RevokeSubject(ctx context.Context, tenant, subject string) error
	// AccessTokenStatusByJTI reports whether the access token behind a JWT access token
	// is still active (not revoked, not expired) and returns its session id.
	AccessTokenByJTI(ctx context.Context, tenant, jti string) (active bool, err error)
	// FamilyByJTI returns the token family (request id) of a JWT access token's opaque twin.
	FamilyByJTI(ctx context.Context, tenant, jti string) (string, error)
	// PeekRefreshTokenSession returns the request of a refresh token that a refresh
	// would accept (active, or rotated within the grace window with forks left), with
	// no side effect; fosite.ErrInactiveToken for any other known token, and
	// fosite.ErrNotFound for an unknown one.
	PeekRefreshTokenSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error)
}
