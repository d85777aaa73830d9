package oauth

// Token exchange (RFC 8693) for storefronts that already hold an upstream token: a JWT
// issued by one of the tenant's connectors (an ID token, or a JWT access token whose
// audience is Custodian's client id there) becomes Custodian tokens of the customer
// linked to it, under the same linking and provisioning rules as a social sign-in.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/ory/fosite"

	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/identity"
)

// Token types of RFC 8693.
const (
	TokenTypeIDToken     = "urn:ietf:params:oauth:token-type:id_token"
	TokenTypeJWT         = "urn:ietf:params:oauth:token-type:jwt"
	TokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
)

// Errors of token exchange.
var (
	// ErrSubjectToken: the subject token is not a valid JWT of one of the tenant's
	// connectors (issuer, audience, expiry, signature).
	ErrSubjectToken = errors.New("the subject token is not a valid token of a configured provider")
	// ErrExchangeNotAllowed: the tenant or the client does not use token exchange.
	ErrExchangeNotAllowed = errors.New("token exchange is not enabled for this client")
)

// ExchangeSubjectToken verifies an upstream JWT against the connector whose issuer it
// names and signs its customer in. No second factor can be asked here: when one is due
// the exchange fails with ErrSecondFactorRequired. The ctx must carry the tenant.
func (p *Provider) ExchangeSubjectToken(ctx context.Context, client *Client, subjectToken string) (*customer.Principal, error) {
	t := identity.TenantFromContext(ctx)
	if t == nil {
		return nil, errors.New("exchange subject token: no tenant in context")
	}
	if !t.Settings.GrantAllowed(identity.GrantTokenExchange) || !client.GetGrantTypes().Has(identity.GrantTokenExchange) {
		return nil, ErrExchangeNotAllowed
	}
	iss, err := unverifiedIssuer(subjectToken)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSubjectToken, err)
	}
	cs, err := p.store.ListConnectors(ctx, t.Name)
	if err != nil {
		return nil, err
	}
	var c *Connector
	for _, cand := range cs {
		if cand.Issuer == iss {
			if c, err = p.connector(ctx, t.Name, cand.ID); err != nil {
				return nil, err
			}
			break
		}
	}
	if c == nil {
		return nil, fmt.Errorf("%w: no connector has issuer %q", ErrSubjectToken, iss)
	}
	op, err := p.upstream.provider(ctx, c.Issuer)
	if err != nil {
		return nil, err
	}
	hctx := oidc.ClientContext(ctx, p.upstream.client)
	tok, err := op.Verifier(&oidc.Config{ClientID: c.ClientID, Now: p.now}).Verify(hctx, subjectToken)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSubjectToken, err)
	}
	var claims upstreamClaims
	if err := tok.Claims(&claims); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSubjectToken, err)
	}
	return p.auth.SocialSignIn(ctx, t.Name, customer.SocialIdentity{ConnectorID: c.ID, Issuer: tok.Issuer, Subject: tok.Subject,
		Email: claims.Email, EmailVerified: claims.verified(), GivenName: claims.GivenName, FamilyName: claims.FamilyName,
		AMR: claims.AMR, ClientID: client.ID, NoChallenge: true})
}

// unverifiedIssuer reads a JWT's iss to pick the connector that will verify it.
func unverifiedIssuer(token string) (string, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", errors.New("not a JWT")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", errors.New("not a JWT")
	}
	var c struct {
		Iss string `json:"iss"`
	}
	if err := json.Unmarshal(b, &c); err != nil || c.Iss == "" {
		return "", errors.New("a JWT without issuer")
	}
	return c.Iss, nil
}

// exchangeGrantError maps a failed exchange onto RFC 6749/8693 errors.
func exchangeGrantError(err error) error {
	switch {
	case errors.Is(err, ErrSubjectToken):
		return fosite.ErrInvalidGrant.WithHint("The subject_token is not a valid token of a provider of this tenant.").WithWrap(err)
	case errors.Is(err, ErrExchangeNotAllowed):
		return fosite.ErrUnauthorizedClient.WithHint("The client may not use token exchange.")
	case errors.Is(err, customer.ErrSocialNoAccount), errors.Is(err, customer.ErrSocialUnverifiedEmail), errors.Is(err, customer.ErrSocialLinkNeedsPassword):
		return fosite.ErrInvalidGrant.WithHint(err.Error())
	}
	return loginGrantError(err)
}
