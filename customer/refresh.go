package customer

// One refresh of a shopper's tokens for both customer APIs: the ticket API's refresh
// (?accountId=) and the login API's refreshauthtoken (?legalEntityId=). Both can
// re-scope the tokens to another B2B account / legal entity of the customer, so the
// rule that guards it lives here once: whether the customer is a member is settled
// before the refresh token rotates, and a refused re-scope costs the shopper nothing.
// The tokens themselves are the OAuth provider's, reached through ClientTokens.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/custodian-id/custodian/identity"
)

// TokenSet is one issuance of a shopper's tokens: the opaque tokens, the JWT access
// token and their expiries.
type TokenSet struct {
	AccessToken      string
	JWTAccessToken   string
	RefreshToken     string
	TokenType        string
	AccessExpiresAt  time.Time
	RefreshExpiresAt time.Time
	Scopes           []string
	SessionID        string
	Subject          string
	RequestID        string
}

// TokenGrant describes a token family: whom it was issued to and what for.
type TokenGrant struct {
	ClientID   string
	Subject    string // the customer's id, or an anonymous shopper's
	Anonymous  bool
	AccountID  string // the B2B account / legal entity the tokens are bound to
	SessionID  string
	DeviceID   string
	AMR        []string
	Scopes     []string
	ThirdParty bool // issued through a third-party client's consent
}

// ClientTokens are the token operations of one client, as the refresh rule uses them:
// the OAuth provider's rotation, reuse detection and issuance, bound to the client
// that presents the token.
type ClientTokens interface {
	// InspectRefresh describes a live refresh token without using it; nil, nil when
	// the token is not live (unknown, used, expired, revoked).
	InspectRefresh(ctx context.Context, token string) (*TokenGrant, error)
	// Refresh rotates a refresh token of the client, exactly as the token endpoint.
	Refresh(ctx context.Context, token string) (*TokenSet, error)
	// Inspect describes the family of a valid access token.
	Inspect(ctx context.Context, accessToken string) (*TokenGrant, error)
	// Issue mints a new token family for g, which must be the client's; name names the
	// issuance in metrics and logs.
	Issue(ctx context.Context, g TokenGrant, name string) (*TokenSet, error)
	// Revoke ends the family of a token.
	Revoke(ctx context.Context, token string) error
	// ClientID is the client the operations are bound to.
	ClientID() string
}

// Refreshed is a completed refresh.
type Refreshed struct {
	Tokens  *TokenSet
	Account *Account // nil for an anonymous shopper
	Member  string   // the B2B account / legal entity the tokens are bound to, or ""
}

// ErrNotCustomerToken: a refresh token that belongs to neither a customer nor an
// anonymous shopper.
var ErrNotCustomerToken = errors.New("not a customer's token")

// Refresh exchanges a refresh token issued to the client of tokens. member, when set
// and not the one the tokens are bound to, re-scopes them: a new token family bound
// to it replaces the one just refreshed. grant names that issuance in metrics and logs.
//
// Everything that can refuse the refresh (the customer, its state, the membership) is
// read before the token rotates, so a refusal or a storage failure costs the shopper
// nothing. After the rotation, an error never revokes the family: it is the family of
// the token the caller presented, which stays usable for a retry within the refresh
// grace window. Only a verdict (the customer is gone or not active, the token is no
// customer's) ends the family.
//
// Errors: ErrNotMember (nothing rotated), ErrNotFound and ErrInactive for a customer
// who is gone or not active, ErrNotCustomerToken (the family is revoked in these
// three cases), the refresh's own errors, and storage failures (identity.ErrUnavailable).
func (s *Service) Refresh(ctx context.Context, t *identity.Tenant, tokens ClientTokens, token, member, grant string) (*Refreshed, error) {
	// The token as it stands, before anything rotates. A token a refresh refuses
	// anyway (unknown, used, another client's) goes to the refresh as it is, which
	// answers it and detects reuse exactly as at the token endpoint.
	before, err := tokens.InspectRefresh(ctx, token)
	if err != nil {
		return nil, err
	}
	var acc *Account
	if before != nil && before.ClientID == tokens.ClientID() && !before.Anonymous {
		if acc, err = s.refreshingAccount(ctx, t, tokens, before, token, member); err != nil {
			return nil, err
		}
	}
	ts, err := tokens.Refresh(ctx, token)
	if err != nil {
		return nil, err
	}
	info := before
	if info == nil { // the token turned valid between the look and the refresh
		if info, err = tokens.Inspect(ctx, ts.AccessToken); err != nil {
			return nil, fmt.Errorf("read refreshed token: %w", err)
		}
	}
	if info.Anonymous {
		return &Refreshed{Tokens: ts}, nil
	}
	if acc == nil { // not read before the rotation: read it now
		if acc, err = s.refreshingAccount(ctx, t, tokens, info, ts.AccessToken, member); err != nil {
			return nil, err
		}
	}
	out := &Refreshed{Tokens: ts, Account: acc, Member: info.AccountID}
	if member == "" || member == info.AccountID {
		return out, nil
	}
	g := *info
	g.Scopes, g.SessionID, g.AccountID = ts.Scopes, ts.SessionID, member
	next, err := tokens.Issue(ctx, g, grant)
	if err != nil {
		return nil, fmt.Errorf("issue tokens bound to %q: %w", member, err)
	}
	// The tokens of the refreshed family were never handed out; if revoking them
	// fails, nobody holds them.
	s.revokeQuietly(ctx, tokens, ts.AccessToken)
	out.Tokens, out.Member = next, member
	return out, nil
}

// refreshingAccount reads the customer of a family that is about to be (or was just)
// refreshed and checks it may be: it exists and is active, and is a member of member
// when that is set and new. A verdict against the customer revokes the family (token
// is one of its tokens); ErrNotMember and a storage failure leave it alone.
func (s *Service) refreshingAccount(ctx context.Context, t *identity.Tenant, tokens ClientTokens, g *TokenGrant, token, member string) (*Account, error) {
	id, err := strconv.ParseInt(g.Subject, 10, 64)
	if err != nil {
		s.revokeQuietly(ctx, tokens, token)
		return nil, ErrNotCustomerToken
	}
	acc, err := s.Account(ctx, t.Name, id)
	if errors.Is(err, ErrNotFound) {
		s.revokeQuietly(ctx, tokens, token)
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	if !acc.Active || acc.OnHold {
		s.revokeQuietly(ctx, tokens, token)
		return nil, ErrInactive
	}
	if member != "" && member != g.AccountID &&
		!slices.ContainsFunc(acc.Memberships, func(m Membership) bool { return m.AccountID == member }) {
		return nil, ErrNotMember
	}
	return acc, nil
}

// revokeQuietly revokes a token family the caller will not get; a failure is logged.
func (s *Service) revokeQuietly(ctx context.Context, tokens ClientTokens, token string) {
	if err := tokens.Revoke(ctx, token); err != nil {
		s.log.ErrorContext(ctx, "revoke unused token family", "err", err)
	}
}
