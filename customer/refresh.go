package customer

// One refresh of a shopper's tokens for both customer APIs: the ticket API's refresh
// (?accountId=) and the login API's refreshauthtoken (?legalEntityId=). Both can
// re-scope the tokens to another B2B account / legal entity of the customer, so the
// rule that guards it lives here once: whether the customer is a member is settled
// before the refresh token rotates, and a refused re-scope costs the shopper nothing.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/oauth"
)

// refreshed is a completed refresh.
type refreshed struct {
	tokens  *oauth.TokenSet
	account *Account // nil for an anonymous shopper
	member  string   // the B2B account / legal entity the tokens are bound to, or ""
}

// errNotCustomerToken: a refresh token that belongs to neither a customer nor an
// anonymous shopper.
var errNotCustomerToken = fmt.Errorf("%w: not a customer's token", oauth.ErrInvalidToken)

// refresh exchanges a refresh token issued to client. member, when set and not the
// one the tokens are bound to, re-scopes them: a new token family bound to it replaces
// the one just refreshed. grant names that issuance in metrics and logs.
//
// Errors: ErrNotMember (nothing rotated when the token was one a refresh accepts),
// ErrNotFound and ErrInactive for a customer who is gone or not active (the refreshed
// family is revoked), and the refresh's own errors.
func (a *API) refresh(ctx context.Context, t *identity.Tenant, client *oauth.Client, token, member, grant string) (*refreshed, error) {
	// The token as it stands, before anything rotates. A token a refresh refuses
	// anyway (unknown, used, another client's) goes to the refresh as it is, which
	// answers it and detects reuse exactly as at the token endpoint.
	before, err := a.oauth.RefreshTokenInfo(ctx, token)
	if err != nil && !errors.Is(err, oauth.ErrInvalidToken) {
		return nil, err
	}
	if err == nil && before.ClientID == client.ID && !before.Anonymous && member != "" && member != before.AccountID {
		if id, perr := strconv.ParseInt(before.Subject, 10, 64); perr == nil {
			ok, err := a.svc.IsMember(ctx, t.Name, id, member)
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, ErrNotMember
			}
		}
	}
	ts, err := a.oauth.Refresh(ctx, client, token, oauth.Lifespans{})
	if err != nil {
		return nil, err
	}
	info := before
	if info == nil { // the token turned valid between the look and the refresh
		if info, err = a.oauth.ValidateAccessToken(ctx, ts.AccessToken); err != nil {
			a.revokeQuietly(ctx, ts.AccessToken)
			return nil, fmt.Errorf("read refreshed token: %w", err)
		}
	}
	if info.Anonymous {
		return &refreshed{tokens: ts}, nil
	}
	// From here on a failure leaves no live tokens behind: the old refresh token is
	// spent, so the family just refreshed is revoked.
	fail := func(err error) (*refreshed, error) {
		a.revokeQuietly(ctx, ts.AccessToken)
		return nil, err
	}
	id, err := strconv.ParseInt(info.Subject, 10, 64)
	if err != nil {
		return fail(errNotCustomerToken)
	}
	acc, err := a.svc.Account(ctx, t.Name, id)
	if err != nil {
		return fail(err)
	}
	if !acc.Active || acc.OnHold {
		return fail(ErrInactive)
	}
	out := &refreshed{tokens: ts, account: acc, member: info.AccountID}
	if member == "" || member == info.AccountID {
		return out, nil
	}
	// Checked before the rotation already when the token could be looked at; checked
	// again on the account just read, which also decides when it could not.
	if !slices.ContainsFunc(acc.Memberships, func(m Membership) bool { return m.AccountID == member }) {
		return fail(ErrNotMember)
	}
	next, err := a.oauth.IssueTokens(ctx, oauth.IssueRequest{Client: client, Subject: info.Subject, Scopes: ts.Scopes,
		SessionID: ts.SessionID, AMR: info.AMR, AccountID: member, DeviceID: info.DeviceID, ThirdParty: info.ThirdParty, Grant: grant})
	if err != nil {
		return fail(fmt.Errorf("issue tokens bound to %q: %w", member, err))
	}
	// The tokens of the refreshed family were never handed out; if revoking them
	// fails, nobody holds them.
	a.revokeQuietly(ctx, ts.AccessToken)
	out.tokens, out.member = next, member
	return out, nil
}
