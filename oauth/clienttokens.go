package oauth

import (
	"context"
	"errors"

	"github.com/custodian-id/custodian/customer"
)

// ClientTokens binds the token operations of the customer rules (customer.ClientTokens)
// to one authenticated client: the refresh and re-scope of both customer APIs rotate,
// detect reuse and issue exactly as the token endpoint does.
func (p *Provider) ClientTokens(c *Client) customer.ClientTokens { return clientTokens{p: p, c: c} }

type clientTokens struct {
	p *Provider
	c *Client
}

func (t clientTokens) ClientID() string { return t.c.ID }

func (t clientTokens) InspectRefresh(ctx context.Context, token string) (*customer.TokenGrant, error) {
	info, err := t.p.RefreshTokenInfo(ctx, token)
	if errors.Is(err, ErrInvalidToken) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return grantOf(info), nil
}

func (t clientTokens) Refresh(ctx context.Context, token string) (*customer.TokenSet, error) {
	return t.p.Refresh(ctx, t.c, token, Lifespans{})
}

func (t clientTokens) Inspect(ctx context.Context, accessToken string) (*customer.TokenGrant, error) {
	info, err := t.p.ValidateAccessToken(ctx, accessToken)
	if err != nil {
		return nil, err
	}
	return grantOf(info), nil
}

func (t clientTokens) Issue(ctx context.Context, g customer.TokenGrant, name string) (*customer.TokenSet, error) {
	return t.p.IssueTokens(ctx, IssueRequest{Client: t.c, Subject: g.Subject, Scopes: g.Scopes, SessionID: g.SessionID,
		Anonymous: g.Anonymous, AMR: g.AMR, AccountID: g.AccountID, DeviceID: g.DeviceID, ThirdParty: g.ThirdParty, Grant: name})
}

func (t clientTokens) Revoke(ctx context.Context, token string) error {
	return t.p.RevokeToken(ctx, token)
}

// grantOf is what a token says about its family, as the customer rules read it.
func grantOf(i *AccessInfo) *customer.TokenGrant {
	return &customer.TokenGrant{ClientID: i.ClientID, Subject: i.Subject, Anonymous: i.Anonymous, AccountID: i.AccountID,
		SessionID: i.SessionID, DeviceID: i.DeviceID, AMR: i.AMR, Scopes: i.Scopes, ThirdParty: i.ThirdParty}
}
