package customer

// Social sign-in and linking: the oauth package verified an upstream ID token; here the identity
// finds its customer, is linked to one, or creates one, per the tenant's settings.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/notify"
)

// SocialIdentity is what an upstream provider asserted about a shopper (the oauth
// package verified its ID token).
type SocialIdentity struct {
	ConnectorID   string
	Issuer        string
	Subject       string
	Email         string
	EmailVerified bool
	GivenName     string
	FamilyName    string
	AMR           []string
	ClientID      string // the storefront client of the authorization request
	Fingerprint   string // the browser's device cookie
	// NoChallenge: the entry point (token exchange) cannot ask for a second factor;
	// when one is due the sign-in fails with ErrSecondFactorRequired.
	NoChallenge bool
	// Handoff is the upstream tokens, sealed, to keep with a second-factor challenge and
	// give back (Principal.Handoff) when it is answered.
	Handoff string
}

// Errors of social sign-in.
var (
	// ErrSocialNoAccount: no customer has this identity and the tenant does not create
	// customers from upstream sign-ins.
	ErrSocialNoAccount = errors.New("no account for this sign-in, and the shop does not create accounts from it")
	// ErrSocialUnverifiedEmail: a customer has the e-mail, but the upstream did not
	// verify it, so the identity is not linked.
	ErrSocialUnverifiedEmail = errors.New("an account with this e-mail exists, but the provider did not verify the address")
	// ErrSocialLinkNeedsPassword: the tenant links identities only after the customer
	// signs in with the password once.
	ErrSocialLinkNeedsPassword = errors.New("an account with this e-mail exists: sign in with your password once to link it")
)

// payloadHandoff is the challenge payload key of a social sign-in's sealed upstream
// tokens (SocialIdentity.Handoff).
const payloadHandoff = "handoff"

// upstreamMFA are amr values that mean the upstream asked for a second factor.
var upstreamMFA = []string{"mfa", "otp", "hwk", "swk", "sms", "fpt", "face", "pin"}

// EventSocialClaimed: an upstream identity whose provider verified the address took
// over an account whose address was never verified (see claim).
const EventSocialClaimed = "social.claimed"

// SocialSignIn signs a shopper in through an upstream provider (oauth.Authenticator). A known identity signs its customer in.
// A new identity whose verified e-mail belongs to a customer with a verified e-mail is
// linked to it when social.autolink is on (otherwise the customer must sign in with the
// password once and link from there); a new identity without such a customer creates
// one when social.autoprovision is on. An e-mail the upstream did not verify never
// links and never creates (it would let anyone claim someone else's address). An
// account whose own e-mail was never verified is not linked as it stands, whatever the
// settings: the verified owner claims it (see claim). The second-factor policy applies
// unless social.trust_upstream_mfa is on and the upstream asserts one.
func (s *Service) SocialSignIn(ctx context.Context, tenant string, in SocialIdentity) (*Principal, error) {
	t, err := s.tenantOf(ctx, tenant)
	if err != nil {
		return nil, err
	}
	meta := identity.RequestMetaFromContext(ctx)
	if err := s.allow(ctx, "social:ip:"+t.Name+":"+meta.IP, s.limitsOf(t).PerIP); err != nil {
		return nil, err
	}
	a, err := s.socialAccount(ctx, t, in)
	if err != nil {
		s.event(ctx, t.Name, identity.EventLoginFailed, nil, map[string]any{"reason": reasonOf(err), "connector": in.ConnectorID})
		return nil, err
	}
	now := s.now().UTC()
	switch {
	case a.Locked(now):
		return nil, ErrLocked
	case !a.Active || a.OnHold:
		return nil, ErrInactive
	}
	sign := SignIn{ClientID: in.ClientID, Fingerprint: in.Fingerprint}
	if in.Handoff != "" {
		sign.Payload = map[string]string{payloadHandoff: in.Handoff}
	}
	if t.Settings.SocialTrustMFA && slices.ContainsFunc(in.AMR, func(m string) bool { return slices.Contains(upstreamMFA, m) }) {
		if err := s.signedIn(ctx, t, a, nil, map[string]any{"amr": "fed", "connector": in.ConnectorID}); err != nil {
			return nil, err
		}
		dev, err := s.touchDevice(ctx, t, a, s.attempt(t, sign), 0)
		if err != nil {
			return nil, err
		}
		return principal(&SignedIn{Account: a, AMR: []string{"fed", "mfa"}, DeviceID: dev}), nil
	}
	sign.NoChallenge = in.NoChallenge
	res, err := s.afterFirstFactor(ctx, t, a, sign, "fed", nil)
	if err != nil {
		return nil, err
	}
	return principal(res), nil
}

func reasonOf(err error) string {
	switch {
	case errors.Is(err, ErrSocialNoAccount):
		return "social_no_account"
	case errors.Is(err, ErrSocialUnverifiedEmail):
		return "social_unverified_email"
	case errors.Is(err, ErrSocialLinkNeedsPassword):
		return "social_link_needs_password"
	}
	return "error"
}

// socialAccount finds, links or creates the customer of an upstream identity.
func (s *Service) socialAccount(ctx context.Context, t *identity.Tenant, in SocialIdentity) (*Account, error) {
	if in.Issuer == "" || in.Subject == "" {
		return nil, fmt.Errorf("%w: the upstream identity has no issuer or subject", ErrInvalid)
	}
	link, err := s.store.GetIdentity(ctx, t.Name, in.Issuer, in.Subject)
	if err == nil {
		a, err := s.store.GetAccount(ctx, t.Name, link.CustomerID)
		if err != nil {
			return nil, err
		}
		// A link made before an account's address was verified (by an older
		// auto-link): the provider proves the address now, so its owner claims it.
		if !a.EmailVerified && in.EmailVerified && EmailKey(in.Email) == EmailKey(a.Email) {
			return s.claim(ctx, t, a, nil, in)
		}
		return a, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	email, err := normalizeEmail(in.Email)
	if err != nil {
		return nil, ErrSocialNoAccount
	}
	if !in.EmailVerified {
		return nil, ErrSocialUnverifiedEmail
	}
	id := &Identity{Tenant: t.Name, Issuer: in.Issuer, Subject: in.Subject, ConnectorID: in.ConnectorID, Email: email,
		CreatedAt: s.now().UTC()}
	existing, err := s.store.GetAccountByEmail(ctx, t.Name, email)
	switch {
	case err == nil && !existing.EmailVerified:
		// Whoever created the account never proved the address; the provider just
		// did. Linking as it stands would hand the owner's sign-ins to that someone
		// (pre-account takeover); asking for its password would ask the owner for a
		// secret the owner may not have.
		return s.claim(ctx, t, existing, id, in)
	case err == nil:
		if !t.Settings.SocialAutoLink {
			return nil, ErrSocialLinkNeedsPassword
		}
		id.CustomerID = existing.ID
		if err := s.store.LinkIdentity(ctx, id); err != nil {
			return nil, err
		}
		s.event(ctx, t.Name, "social.linked", &existing.ID, map[string]any{"connector": in.ConnectorID})
		return existing, nil
	case !errors.Is(err, ErrNotFound):
		return nil, err
	case !t.Settings.SocialAutoProvision:
		return nil, ErrSocialNoAccount
	}
	now := s.now().UTC()
	a := &Account{Tenant: t.Name, Email: email, ContactEmail: email, Active: true, EmailVerified: true,
		FirstName: truncateRunes(in.GivenName, 255), LastName: truncateRunes(in.FamilyName, 255),
		CreatedAt: now, CreatedBy: "social:" + in.ConnectorID, UpdatedAt: now, UpdatedBy: "social:" + in.ConnectorID}
	err = s.store.InTx(ctx, func(ctx context.Context) error {
		if err := s.store.CreateAccount(ctx, a); err != nil {
			return err
		}
		id.CustomerID = a.ID
		return s.store.LinkIdentity(ctx, id)
	})
	if err != nil {
		return nil, err
	}
	s.event(ctx, t.Name, "customer.signup", &a.ID, map[string]any{"connector": in.ConnectorID})
	return a, nil
}

// claim hands an account whose e-mail address was never verified to the upstream
// identity whose provider verified that address: the verified owner wins. In one
// transaction the identity is linked (link is nil when it already is), the password is
// removed (the owner may set one with "Forgot password"), the address is proven
// (proveAddress: what was set up to get in is removed, every session ends), and the
// address is told. What the account holds otherwise (profile, addresses) stays: the
// owner sees it.
func (s *Service) claim(ctx context.Context, t *identity.Tenant, a *Account, link *Identity, in SocialIdentity) (*Account, error) {
	id := a.ID
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		if link != nil {
			link.CustomerID = id
			if err := s.store.LinkIdentity(ctx, link); err != nil {
				return err
			}
		}
		if err := s.store.UpdatePasswordHash(ctx, t.Name, id, ""); err != nil {
			return err
		}
		if err := s.proveAddress(ctx, t, id); err != nil {
			return err
		}
		p := mailPrinter(ctx, t, a)
		return s.notify(ctx, t, &notify.Message{Kind: notify.KindAccountClaimed, To: a.Email,
			Subject: p.T("Your account is now connected to %s", in.ConnectorID),
			Body: mailBody(p, t, p.T("You signed in with %s, which confirmed this e-mail address. The address of the account had not been confirmed before, so the password, authenticator app and trusted devices set up for it were removed and every session was ended.", in.ConnectorID),
				p.T("Sign in with %s from now on, or choose a new password with \"Forgot password\". If you did not sign in, contact %s at once.", in.ConnectorID, t.Settings.Branding.Name(t.Name))),
			Data: map[string]any{"customerId": id, "connector": in.ConnectorID}})
	})
	if err != nil {
		return nil, fmt.Errorf("claim account: %w", err)
	}
	s.event(ctx, t.Name, EventSocialClaimed, &id, map[string]any{"connector": in.ConnectorID, "linked": link != nil})
	return s.store.GetAccount(ctx, t.Name, id)
}

func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}

// Identities lists a customer's linked upstream identities.
func (s *Service) Identities(ctx context.Context, tenant string, id int64) ([]Identity, error) {
	return s.store.ListIdentities(ctx, tenant, id)
}

// Errors of unlinking.
var (
	// ErrLastSignIn: unlinking would leave the customer no way to sign in.
	ErrLastSignIn = errors.New("this is the account's last way to sign in; set a password first")
	// ErrNoLink: the customer has no link to that provider.
	ErrNoLink = errors.New("no link to this provider")
)

// Unlink removes a customer's link to a connector while another way to sign in (a
// password or another link) remains.
func (s *Service) Unlink(ctx context.Context, tenant string, id int64, connectorID string) error {
	return s.store.InTx(ctx, func(ctx context.Context) error {
		a, err := s.store.GetAccount(ctx, tenant, id)
		if err != nil {
			return err
		}
		links, err := s.store.ListIdentities(ctx, tenant, id)
		if err != nil {
			return err
		}
		others := slices.ContainsFunc(links, func(l Identity) bool { return l.ConnectorID != connectorID })
		if a.PasswordHash == "" && !others {
			return ErrLastSignIn
		}
		if err := s.store.DeleteIdentities(ctx, tenant, id, connectorID); err != nil {
			return err
		}
		s.event(ctx, tenant, "social.unlinked", &id, map[string]any{"connector": connectorID})
		return nil
	})
}

// LinkSocialIdentity (oauth.Authenticator): the customer proved the password,
// so the upstream identity (with the same verified e-mail) is linked.
func (s *Service) LinkSocialIdentity(ctx context.Context, tenant string, customerID int64, in SocialIdentity) error {
	if !in.EmailVerified || in.Issuer == "" || in.Subject == "" {
		return ErrSocialUnverifiedEmail
	}
	// The password form is only offered for accounts with a verified address (an
	// unverified one is claimed instead); a password never links to one.
	a, err := s.store.GetAccount(ctx, tenant, customerID)
	if err != nil {
		return err
	}
	if !a.EmailVerified {
		return fmt.Errorf("%w: the account's e-mail address is not verified", ErrInvalid)
	}
	email, err := normalizeEmail(in.Email)
	if err != nil {
		email = strings.TrimSpace(in.Email)
	}
	err = s.store.LinkIdentity(ctx, &Identity{Tenant: tenant, Issuer: in.Issuer, Subject: in.Subject, ConnectorID: in.ConnectorID,
		CustomerID: customerID, Email: email, CreatedAt: s.now().UTC()})
	if err != nil {
		return err
	}
	s.event(ctx, tenant, "social.linked", &customerID, map[string]any{"connector": in.ConnectorID, "by": "password"})
	return nil
}
