package oauth

// The upstream (social) sign-in in flight, kept in the browser: a cookie holding the
// state and, sealed (AES-256-GCM under the social key, bound to the tenant and the
// state), the connector, nonce, PKCE verifier, the authorization request to resume and
// the expiry. GET /oauth2/{t}/auth?idp_hint= used to write a row per request; now it
// writes none, so its cost does not grow with bot traffic. The callback clears the
// cookie; the upstream's code works once, so a replayed callback gets nowhere.

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// maxUpstreamCookie keeps the cookie within what every browser stores (4 KiB with
// its name and attributes).
const maxUpstreamCookie = 3800

type upstreamState struct {
	ConnectorID string `json:"c"`
	Nonce       string `json:"n"`
	Verifier    string `json:"v"`
	ResumeURL   string `json:"r"`
	ExpiresAt   int64  `json:"e"`
}

func upstreamAAD(tenant, state string) []byte { return []byte("upstream|" + tenant + "|" + state) }

// sealUpstream writes the cookie value of a sign-in in flight: the state, a dot, the
// sealed rest.
func (p *Provider) sealUpstream(tenant, state string, l *UpstreamLogin) (string, error) {
	raw, err := json.Marshal(upstreamState{ConnectorID: l.ConnectorID, Nonce: l.Nonce, Verifier: l.Verifier,
		ResumeURL: l.ResumeURL, ExpiresAt: l.ExpiresAt.Unix()})
	if err != nil {
		return "", fmt.Errorf("upstream state: %w", err)
	}
	sealed, err := p.socialSealer.Seal(raw, upstreamAAD(tenant, state))
	if err != nil {
		return "", fmt.Errorf("upstream state: %w", err)
	}
	return state + "." + base64.RawURLEncoding.EncodeToString(sealed), nil
}

// openUpstream reads the cookie of a sign-in in flight for the state the upstream sent
// back: it must be this state's, sealed by this server for this tenant, and unexpired.
func (p *Provider) openUpstream(tenant, state, value string) (*UpstreamLogin, error) {
	st, sealed, ok := strings.Cut(value, ".")
	if !ok || st != state {
		return nil, fmt.Errorf("upstream state: %w", ErrUpstreamState)
	}
	raw, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil {
		return nil, fmt.Errorf("upstream state: %w", ErrUpstreamState)
	}
	plain, err := p.socialSealer.Open(raw, upstreamAAD(tenant, state))
	if err != nil {
		return nil, fmt.Errorf("upstream state: %w", ErrUpstreamState)
	}
	var s upstreamState
	if err := json.Unmarshal(plain, &s); err != nil {
		return nil, fmt.Errorf("upstream state: %w", ErrUpstreamState)
	}
	exp := time.Unix(s.ExpiresAt, 0)
	if !p.now().Before(exp) {
		return nil, fmt.Errorf("upstream state expired: %w", ErrUpstreamState)
	}
	return &UpstreamLogin{Tenant: tenant, ConnectorID: s.ConnectorID, Nonce: s.Nonce, Verifier: s.Verifier,
		ResumeURL: s.ResumeURL, ExpiresAt: exp}, nil
}

// ErrUpstreamState: the sign-in in flight is not this browser's, was tampered with, or
// has expired.
var ErrUpstreamState = errors.New("the upstream sign-in is unknown or expired")
