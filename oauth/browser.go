package oauth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/ory/fosite"

	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/identity"
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
	// AccessTokenInfo describes the live access token of the ctx tenant with the
	// signature without decoding its stored request: fosite.ErrNotFound for an unknown
	// token or one whose client is gone, fosite.ErrInactiveToken for a revoked one. The
	// caller checks the token's HMAC and expiry.
	AccessTokenInfo(ctx context.Context, signature string) (*AccessInfo, error)
}

func hashCookie(v string) string {
	sum := sha256.Sum256([]byte(v))
	return hex.EncodeToString(sum[:])
}

// browserSession returns the shopper signed in at this tenant in this browser, or nil.
func (p *Provider) browserSession(r *http.Request, tenant string) *BrowserSession {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil
	}
	bs, err := p.store.GetBrowserSession(r.Context(), tenant, hashCookie(c.Value))
	if err != nil {
		if !errors.Is(err, identity.ErrNotFound) {
			p.log.ErrorContext(r.Context(), "load browser session", "err", err)
		}
		return nil
	}
	return bs
}

func (p *Provider) startBrowserSession(w http.ResponseWriter, r *http.Request, t *identity.Tenant, pr *customer.Principal) (*BrowserSession, error) {
	v, err := p.randomToken(32)
	if err != nil {
		return nil, err
	}
	now := p.now().UTC()
	bs := &BrowserSession{
		IDHash:     hashCookie(v),
		Tenant:     t.Name,
		CustomerID: pr.CustomerID,
		SessionID:  uuid.NewString(),
		AMR:        pr.AMR,
		DeviceID:   pr.DeviceID,
		AuthTime:   now.Truncate(time.Second),
		ExpiresAt:  now.Add(time.Duration(t.Settings.SessionTTL)),
		CreatedAt:  now,
	}
	// A sign-in replaces whatever session this browser had (session fixation).
	if old, err := r.Cookie(sessionCookie); err == nil {
		_ = p.store.DeleteBrowserSession(r.Context(), t.Name, hashCookie(old.Value))
	}
	if err := p.store.CreateBrowserSession(r.Context(), bs); err != nil {
		return nil, err
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: v, Path: "/oauth2/" + t.Name + "/",
		HttpOnly: true, Secure: p.secure, SameSite: http.SameSiteLaxMode, Expires: bs.ExpiresAt})
	return bs, nil
}

func (p *Provider) endBrowserSession(w http.ResponseWriter, r *http.Request, tenant string) *BrowserSession {
	bs := p.browserSession(r, tenant)
	if c, err := r.Cookie(sessionCookie); err == nil {
		_ = p.store.DeleteBrowserSession(r.Context(), tenant, hashCookie(c.Value))
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/oauth2/" + tenant + "/",
		HttpOnly: true, Secure: p.secure, SameSite: http.SameSiteLaxMode, MaxAge: -1})
	return bs
}
