package oauth

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"slices"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"
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
//
// The ID token's extra claims (updated_at, …) and header travel as map[string]any; a
// plain decode would turn every number in them into a float64, which the JWT encoder
// then writes as 1.796174919e+09 and strict clients (go-oidc) refuse. Numbers are read
// exactly instead: integers come back as int64, anything else as float64.
func (s *Session) UnmarshalJSON(b []byte) error {
	type plain Session // no methods: no recursion
	override := s.sessionOverride
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode((*plain)(s)); err != nil {
		return err
	}
	if s.DefaultSession != nil {
		if s.Claims != nil {
			s.Claims.Extra = exactNumbers(s.Claims.Extra).(map[string]any)
		}
		if s.Headers != nil {
			s.Headers.Extra = exactNumbers(s.Headers.Extra).(map[string]any)
		}
	}
	if override != "" {
		s.SessionID, s.sessionOverride = override, override
	}
	return nil
}

// exactNumbers replaces the json.Numbers of a decoded JSON value, however deep, with
// int64 when they are integers and float64 otherwise.
func exactNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = exactNumbers(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = exactNumbers(e)
		}
		return x
	}
	return v
}

// NewSession returns an empty session for fosite to hydrate.
func NewSession() *Session {
	return &Session{DefaultSession: openid.NewDefaultSession()}
}

// IDTokenClaims implements openid.Session. A family that began without the login page
// (the password grant, and families stored before it set the claims) may hold no ID
// token subject; fosite's refresh handler builds the ID token only after the rotation
// committed, and would answer 500 with the presented refresh token already spent. The
// token's own subject is the ID token's.
func (s *Session) IDTokenClaims() *jwt.IDTokenClaims {
	c := s.DefaultSession.IDTokenClaims()
	if c.Subject == "" {
		c.Subject = s.Subject
	}
	return c
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
