package customer

// Sign-in: the first factor (lockout.go) and then the second-factor decision of the
// tenant's policy (twofactor.Decide); a challenge takes over when a second factor is
// due, and the verified challenge finishes the sign-in. The ticket API, the login API
// and the login pages (oauth.Authenticator) all go through SignIn and
// CompleteSecondFactor.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/custodian-id/custodian/i18n"
	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/twofactor"
)

// amrSecondFactor are the authentication methods of a password sign-in with a second
// factor (RFC 8176): password, one-time code, several factors. A social sign-in has
// "fed" in place of "pwd".
var amrSecondFactor = []string{"pwd", "otp", "mfa"}

// SignIn is a password sign-in at one of the entry points.
type SignIn struct {
	Email, Password string
	ClientID        string
	Fingerprint     string
	Region          string
	// Payload travels with a challenge to the step that completes it.
	Payload map[string]string
	// NoChallenge: the entry point cannot ask for a second factor.
	NoChallenge bool
	// Member, when set, is the B2B account / legal entity the sign-in is scoped to: a
	// customer who does not belong to it gets ErrNotMember before any second factor.
	Member string
}

// ErrNotMember: the customer does not belong to the B2B account / legal entity the
// sign-in names.
var ErrNotMember = errors.New("the customer is not a member of this account")

// SignedIn is the outcome of a sign-in step: an account ready for tokens, or a
// challenge to answer first.
type SignedIn struct {
	Account   *Account
	AMR       []string
	DeviceID  string
	Challenge *twofactor.Info
	Payload   map[string]string
}

// policy reads a tenant's second-factor policy.
func policy(t *identity.Tenant) (twofactor.Policy, error) {
	return twofactor.PolicyOf(t.Settings.TwoFactorTriggers, time.Duration(t.Settings.TwoFactorReverifyAfter),
		t.Settings.TwoFactorB2BRequired)
}

func deviceTTL(t *identity.Tenant) time.Duration {
	if d := time.Duration(t.Settings.TwoFactorDeviceTTL); d > 0 {
		return d
	}
	return 30 * 24 * time.Hour
}

// SignIn checks the password (Login: rate limits, lockout, audit) and asks the policy
// whether a second factor is due. When it is, a challenge is opened (and an e-mailed
// code queued) and no account is handed out for tokens.
func (s *Service) SignIn(ctx context.Context, t *identity.Tenant, in SignIn) (*SignedIn, error) {
	a, sides, err := s.checkLogin(ctx, t, in.Email, in.Password, s.tf.DeviceHash(t.Name, in.Fingerprint))
	if err != nil {
		return nil, err
	}
	if in.Member != "" {
		ok, err := s.IsMember(ctx, t.Name, a.ID, in.Member)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, ErrNotMember
		}
	}
	return s.afterFirstFactor(ctx, t, a, in, "pwd", sides)
}

// afterFirstFactor asks the policy whether a sign-in whose first factor (amr: pwd, or
// fed for an upstream provider) succeeded needs a second one, and opens a challenge
// when it does. sides are the lockout sides of a password (none for fed).
func (s *Service) afterFirstFactor(ctx context.Context, t *identity.Tenant, a *Account, in SignIn, amr string, sides []LockoutSide) (*SignedIn, error) {
	p, err := policy(t)
	if err != nil {
		return nil, err
	}
	if p.B2BRequired && a.Memberships == nil { // only the B2B rule needs them
		if a.Memberships, err = s.store.ListMemberships(ctx, t.Name, a.ID); err != nil {
			return nil, fmt.Errorf("sign in: %w", err)
		}
	}
	att := s.attempt(t, in)
	st, err := s.tf.StatusOf(ctx, t.Name, a.ID)
	if err != nil {
		return nil, err
	}
	sub := twofactor.Subject{B2B: a.AccountType(t.Settings) == "B2B", OptedIn: a.TwoFactorOptIn || st.TOTP, Last2FA: a.Last2FAAt}
	d, err := s.tf.Decide(ctx, p, t.Name, a.ID, sub, att)
	if err != nil {
		return nil, err
	}
	if d.Required {
		if in.NoChallenge {
			return nil, identity.ErrSecondFactorRequired
		}
		payload := map[string]string{payloadFirstFactor: amr}
		for k, v := range in.Payload {
			payload[k] = v
		}
		// The e-mailed code is written in the customer's language (mailPrinter's order).
		ctx := i18n.WithLocale(ctx, mailPrinter(ctx, t, a).Tag())
		info, err := s.tf.Begin(ctx, twofactor.Begin{Tenant: t.Name, CustomerID: a.ID, Email: a.Email, ClientID: in.ClientID,
			Attempt: att, UserAgent: identity.RequestMetaFromContext(ctx).UserAgent, Payload: payload, Methods: st.Methods()})
		if err != nil {
			return nil, fmt.Errorf("open challenge: %w", err)
		}
		s.event(ctx, t.Name, EventTwoFactorChallenged, &a.ID, map[string]any{"reason": d.Reason, "methods": info.Methods})
		return &SignedIn{Account: a, Challenge: info, Payload: in.Payload}, nil
	}
	if err := s.signedIn(ctx, t, a, sides, map[string]any{"amr": amr}); err != nil {
		return nil, err
	}
	dev, err := s.touchDevice(ctx, t, a, att, 0)
	if err != nil {
		return nil, err
	}
	return &SignedIn{Account: a, AMR: []string{amr}, DeviceID: dev, Payload: in.Payload}, nil
}

// attempt is the device of a sign-in as the policy sees it.
func (s *Service) attempt(t *identity.Tenant, in SignIn) twofactor.Attempt {
	return twofactor.Attempt{FingerprintHash: s.tf.DeviceHash(t.Name, in.Fingerprint), Region: in.Region}
}

// payloadFirstFactor is the challenge payload key of the first factor's amr.
const payloadFirstFactor = "amr"

// SecondFactor answers a challenge.
type SecondFactor struct {
	ChallengeID    string
	ClientID       string
	Method         string
	Code           string
	RememberDevice bool
}

// CompleteSecondFactor checks a code against a challenge. A wrong code counts towards
// the account's lockout; the step is rate limited per client IP. On success it stamps
// last2FaDate, records the device (trusted for the tenant's twofactor.device_ttl with
// RememberDevice) and hands out the account with the challenge's payload.
func (s *Service) CompleteSecondFactor(ctx context.Context, t *identity.Tenant, in SecondFactor) (*SignedIn, error) {
	meta := identity.RequestMetaFromContext(ctx)
	if err := s.allow(ctx, "2fa:ip:"+t.Name+":"+meta.IP, s.limitsOf(t).PerIP); err != nil {
		return nil, err
	}
	c, method, err := s.tf.Verify(ctx, t.Name, in.ChallengeID, in.ClientID, in.Method, in.Code)
	var wrong *twofactor.WrongCodeError
	if errors.As(err, &wrong) {
		return nil, s.wrongCode(ctx, t, wrong)
	}
	if err != nil {
		return nil, err
	}
	a, err := s.Account(ctx, t.Name, c.CustomerID)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	if a.Locked(now) {
		return nil, ErrLocked
	}
	// A password sign-in still owes its second factor: a side of it that locked
	// meanwhile (wrong codes count there) holds. A social one is not a password's.
	var sides []LockoutSide
	if first := c.Payload[payloadFirstFactor]; first == "" || first == "pwd" {
		if sides, err = s.signInSides(ctx, t, a.ID, c.FingerprintHash); err != nil {
			return nil, err
		}
		locked, err := s.lockedSide(ctx, t, a.ID, sides, now)
		if err != nil {
			return nil, err
		}
		if locked != nil {
			s.event(ctx, t.Name, identity.EventLoginFailed, &a.ID, map[string]any{"reason": "locked", "side": publicSide(locked.Side)})
			return nil, ErrLocked
		}
	}
	if !a.Active || a.OnHold {
		return nil, ErrInactive
	}
	if err := s.store.SetLast2FA(ctx, t.Name, a.ID, now); err != nil {
		return nil, err
	}
	// The sign-in is complete: wrong codes before the right one stop counting.
	if err := s.signedIn(ctx, t, a, sides, map[string]any{"amr": "2fa", "method": method}); err != nil {
		return nil, err
	}
	a.Last2FAAt = &now
	var trust time.Duration
	if in.RememberDevice {
		trust = deviceTTL(t)
	}
	dev, err := s.touchDevice(ctx, t, a, twofactor.Attempt{FingerprintHash: c.FingerprintHash, Region: c.Region}, trust)
	if err != nil {
		return nil, err
	}
	s.event(ctx, t.Name, EventTwoFactorVerified, &a.ID, map[string]any{"method": method, "rememberDevice": in.RememberDevice})
	amr := amrSecondFactor
	if first := c.Payload[payloadFirstFactor]; first != "" && first != "pwd" {
		amr = append([]string{first}, amrSecondFactor[1:]...)
	}
	return &SignedIn{Account: a, AMR: amr, DeviceID: dev, Payload: c.Payload}, nil
}

// ResendCode sends a new e-mailed code for a challenge.
func (s *Service) ResendCode(ctx context.Context, t *identity.Tenant, challengeID, clientID string) (*twofactor.Info, error) {
	meta := identity.RequestMetaFromContext(ctx)
	if err := s.allow(ctx, "2fa:ip:"+t.Name+":"+meta.IP, s.limitsOf(t).PerIP); err != nil {
		return nil, err
	}
	return s.tf.Resend(ctx, t.Name, challengeID, clientID, func(ctx context.Context, id int64) (string, error) {
		a, err := s.store.GetAccount(ctx, t.Name, id)
		if err != nil {
			return "", err
		}
		return a.Email, nil
	})
}

// Principal is a customer a sign-in vouched for, as the login pages and the password
// grant read it, or, when Challenge is set, a customer whose password was right but who
// owes a second factor first.
type Principal struct {
	CustomerID int64
	Email      string
	AMR        []string
	DeviceID   string          // the device of the sign-in, when known
	Challenge  *twofactor.Info // a second factor is due: no session may start yet
	Handoff    string          // SocialIdentity.Handoff of the sign-in the answered challenge began
}

// LoginAttempt is a password sign-in at the login pages or the password grant.
type LoginAttempt = SignIn

// AuthenticatePassword signs in at the login pages and the password grant
// (oauth.Authenticator): SignIn for a tenant named by the entry point.
func (s *Service) AuthenticatePassword(ctx context.Context, tenant string, in LoginAttempt) (*Principal, error) {
	t, err := s.tenantOf(ctx, tenant)
	if err != nil {
		return nil, err
	}
	r, err := s.SignIn(ctx, t, in)
	if err != nil {
		return nil, err
	}
	return principal(r), nil
}

// VerifySecondFactor completes a sign-in at the login pages (oauth.Authenticator).
func (s *Service) VerifySecondFactor(ctx context.Context, tenant string, in SecondFactor) (*Principal, error) {
	t, err := s.tenantOf(ctx, tenant)
	if err != nil {
		return nil, err
	}
	r, err := s.CompleteSecondFactor(ctx, t, in)
	if err != nil {
		return nil, err
	}
	return principal(r), nil
}

// ResendSecondFactor sends a new code at the login pages (oauth.Authenticator).
func (s *Service) ResendSecondFactor(ctx context.Context, tenant, challengeID, clientID string) (*twofactor.Info, error) {
	t, err := s.tenantOf(ctx, tenant)
	if err != nil {
		return nil, err
	}
	return s.ResendCode(ctx, t, challengeID, clientID)
}

func principal(r *SignedIn) *Principal {
	return &Principal{CustomerID: r.Account.ID, Email: r.Account.Email, AMR: r.AMR, DeviceID: r.DeviceID, Challenge: r.Challenge,
		Handoff: r.Payload[payloadHandoff]}
}
