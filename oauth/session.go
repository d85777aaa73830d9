package oauth

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"slices"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"
)

// Session is the fosite session of every token Custodian issues. It travels with the
// token family and is stored (as JSON) with each token.
type Session struct {
	*openid.DefaultSession
	// Tenant the tokens belong to.
	Tenant string `json:"tenant"`
	// SessionID is the shopper session (cart session) id: a fresh one for an anonymous
	// shopper, carried over when the shopper signs in, kept across refreshes.
	SessionID string `json:"session_id"`
	// Anonymous marks tokens of anonymous shoppers.
	Anonymous bool `json:"anonymous,omitempty"`
	// AMR lists the authentication methods of the sign-in (RFC 8176), e.g. pwd, otp.
	AMR []string `json:"amr,omitempty"`
	// AccountID is the B2B account / legal entity the tokens are scoped to, if any.
	AccountID string `json:"account_id,omitempty"`
	// DeviceID is the device (twofactor.Device) the sign-in came from, if known:
	// forgetting the device revokes the tokens.
	DeviceID string `json:"device_id,omitempty"`
	// ThirdParty marks tokens a client that is not first-party obtained through the
	// consent page. They never reach the customer API's security settings, whatever
	// their scopes. Refreshes and re-scopes keep the mark.
	ThirdParty bool `json:"third_party,omitempty"`

	// sessionOverride, when set, replaces SessionID whenever the session is decoded:
	// fosite reloads a code's session from storage while it issues the tokens, and
	// socialLogin moves those tokens into the storefront's cart session.
	sessionOverride string
}

// UnmarshalJSON decodes a stored session, keeping a session-id override.
func (s *Session) UnmarshalJSON(b []byte) error {
	type plain Session // no methods: no recursion
	override := s.sessionOverride
	if err := json.Unmarshal(b, (*plain)(s)); err != nil {
		return err
	}
	if override != "" {
		s.SessionID, s.sessionOverride = override, override
	}
	return nil
}

// NewSession returns an empty session for fosite to hydrate.
func NewSession() *Session {
	return &Session{DefaultSession: openid.NewDefaultSession()}
}

// Clone implements fosite.Session with a deep copy.
func (s *Session) Clone() fosite.Session {
	if s == nil {
		return nil
	}
	c := *s
	if s.DefaultSession != nil {
		c.DefaultSession = s.DefaultSession.Clone().(*openid.DefaultSession)
	}
	c.AMR = slices.Clone(s.AMR)
	return &c
}

// JTIFromSignature derives the jti of the JWT access token minted beside an opaque
// access token from that token's HMAC signature. The store keeps it with the opaque
// token, so revoking either revokes both, and the JWT leaks nothing about the
// opaque token.
func JTIFromSignature(signature string) string {
	sum := sha256.Sum256([]byte("custodian/jti/" + signature))
	return base64.RawURLEncoding.EncodeToString(sum[:18])
}
