package customer

// Devices a customer signs in from: recorded at each sign-in, trusted after a second
// factor with rememberDevice, announced by mail when new (with a "this was not me"
// link), and forgotten on request.

import (
	"context"
	"net/url"
	"time"

	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/notify"
	"github.com/custodian-id/custodian/twofactor"
)

// TokenNotMe is the kind of the one-time token behind a new-device mail's "this was not
// me" link.
const TokenNotMe = "notme"

// NotMeTTL is how long a "this was not me" link works.
const NotMeTTL = 7 * 24 * time.Hour

// touchDevice records a sign-in from a device and returns the device id ("" without a
// fingerprint). A device new to an account that already had others gets a mail with a
// "this was not me" link, queued in the same transaction.
func (s *Service) touchDevice(ctx context.Context, t *identity.Tenant, a *Account, att twofactor.Attempt, trust time.Duration) (string, error) {
	if att.FingerprintHash == "" {
		return "", nil
	}
	var id string
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		before, err := s.tf.Devices(ctx, t.Name, a.ID)
		if err != nil {
			return err
		}
		d, created, err := s.tf.Touch(ctx, twofactor.Seen{Tenant: t.Name, CustomerID: a.ID, Attempt: att,
			UserAgent: identity.RequestMetaFromContext(ctx).UserAgent, TrustFor: trust})
		if err != nil {
			return err
		}
		id = d.ID
		if !created || len(before) == 0 {
			return nil
		}
		s.event(ctx, t.Name, EventDeviceNew, &a.ID, map[string]any{"device": d.ID, "region": d.Region})
		return s.sendNewDevice(ctx, t, a, d)
	})
	return id, err
}

func (s *Service) sendNewDevice(ctx context.Context, t *identity.Tenant, a *Account, d *twofactor.Device) error {
	tok, hash, err := s.newToken()
	if err != nil {
		return err
	}
	if err := s.store.CreateToken(ctx, &OneTimeToken{Hash: hash, Tenant: t.Name, CustomerID: a.ID, Kind: TokenNotMe,
		ExpiresAt: s.now().UTC().Add(NotMeTTL)}); err != nil {
		return err
	}
	link := s.publicURL + "/customer/" + t.Name + "/security/not-me/" + url.PathEscape(tok)
	p := mailPrinter(ctx, t, a)
	where := d.Region
	if where == "" {
		where = p.T("an unknown region")
	}
	return s.notify(ctx, t, &notify.Message{Kind: notify.KindNewDevice, To: a.Email,
		Subject: p.T("New sign-in to your account"),
		Body: mailBody(p, t, p.T("Your account was just signed in to from a new device (%s, %s) on %s.", d.UserAgent, where, p.DateTime(s.now())),
			p.T("If this was you, there is nothing to do. If it was not, open this link: it signs out every session and forgets every trusted device (valid for %s):", p.Duration(NotMeTTL)),
			link, p.T("Then change your password.")),
		Data: map[string]any{"token": tok, "link": link, "customerId": a.ID, "deviceId": d.ID, "region": d.Region,
			"userAgent": d.UserAgent}})
}

// CheckNotMe reports whether a "this was not me" token still works (ErrInvalidToken
// otherwise), without using it: the link's page asks before NotMe acts.
func (s *Service) CheckNotMe(ctx context.Context, t *identity.Tenant, token string) error {
	_, err := s.store.PeekToken(ctx, t.Name, TokenNotMe, HashToken(token), s.now().UTC())
	return err
}

// NotMe answers a new-device mail's "this was not me" link: every token, browser
// session and device of the account ends. The token works once.
func (s *Service) NotMe(ctx context.Context, t *identity.Tenant, token string) error {
	var id int64
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		ot, err := s.store.UseToken(ctx, t.Name, TokenNotMe, HashToken(token), s.now().UTC())
		if err != nil {
			return err
		}
		id = ot.CustomerID
		if _, err := s.tf.ForgetAll(ctx, t.Name, id); err != nil {
			return err
		}
		return s.revokeAll(ctx, t.Name, id)
	})
	if err != nil {
		return err
	}
	s.event(ctx, t.Name, EventNotMe, &id, nil)
	return nil
}

// Devices lists a customer's devices.
func (s *Service) Devices(ctx context.Context, tenant string, id int64) ([]twofactor.Device, error) {
	return s.tf.Devices(ctx, tenant, id)
}

// ForgetDevice removes a device and revokes the tokens issued to sign-ins from it.
func (s *Service) ForgetDevice(ctx context.Context, tenant string, id int64, deviceID string) error {
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		if err := s.tf.Forget(ctx, tenant, id, deviceID); err != nil {
			return err
		}
		return s.tokens.RevokeDevice(ctx, tenant, deviceID)
	})
	if err != nil {
		return err
	}
	s.event(ctx, tenant, EventDeviceForgotten, &id, map[string]any{"device": deviceID})
	return nil
}
