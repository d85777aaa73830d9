package customer

// Credentials a customer changes: password reset (request, then a mailed single-use
// token), password change, and e-mail change confirmed from the new address.

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/custodian-id/custodian/i18n"
	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/identity/mailaddr"
	"github.com/custodian-id/custodian/notify"
)

// RequestPasswordReset asks for a single-use reset token for the account of an e-mail
// address. It answers the same, after the same work, whether or not the address has an
// account: it counts the rate limits and queues a job in the outbox, one insert on
// both paths, and the outbox worker does the rest (passwordResetJob). The job is in
// the database before the answer, so a request is never lost: a failing job is
// retried like a failed delivery.
func (s *Service) RequestPasswordReset(ctx context.Context, t *identity.Tenant, email, site string) error {
	return s.RequestPasswordResetFrom(ctx, t, email, site, nil)
}

// RequestPasswordResetFrom is RequestPasswordReset for a hosted page (page non-nil):
// the mail's link to the hosted new-password page returns to page.Return.
func (s *Service) RequestPasswordResetFrom(ctx context.Context, t *identity.Tenant, email, site string, page *HostedPage) error {
	meta := identity.RequestMetaFromContext(ctx)
	if err := s.allow(ctx, signupBucket(t, meta.IP), s.limitsOf(t).SignupPerIP); err != nil {
		return err
	}
	if err := s.allow(ctx, "reset:account:"+t.Name+":"+EmailKey(email), Limit{Max: 5, Window: time.Hour}); err != nil {
		return err
	}
	if s.outbox == nil {
		return errors.New("password reset: no outbox configured")
	}
	data := map[string]any{"email": email, "site": site, "ip": meta.IP, "userAgent": meta.UserAgent, "requestId": meta.RequestID}
	if tag, ok := i18n.LocaleFrom(ctx); ok {
		data["locale"] = i18n.Code(tag) // the mail is written later, by the worker
	}
	if page != nil && page.Return != "" {
		data["return"] = page.Return
	}
	return s.outbox.Enqueue(ctx, &notify.Message{Tenant: t.Name, Kind: notify.KindPasswordResetJob, Data: data})
}

// passwordResetJob is the work of a reset request (RequestPasswordReset), run by the
// outbox worker: an address with an account gets a token (a new one retires older
// ones) and its mail, in one transaction; an unknown address gets nothing. Either way
// the request is recorded with the caller's address and agent.
func (s *Service) passwordResetJob(ctx context.Context, m *notify.Message) error {
	str := func(k string) string { v, _ := m.Data[k].(string); return v }
	t, err := s.tenantOf(ctx, m.Tenant)
	if err != nil {
		return err
	}
	ctx = identity.WithRequestMeta(identity.WithTenant(ctx, t), identity.RequestMeta{IP: str("ip"), UserAgent: str("userAgent"), RequestID: str("requestId")})
	if tag, ok := i18n.ParseCode(str("locale")); ok {
		ctx = i18n.WithLocale(ctx, tag)
	}
	a, err := s.store.GetAccountByEmail(ctx, t.Name, str("email"))
	if errors.Is(err, ErrNotFound) {
		s.event(ctx, t.Name, "password.reset_requested", nil, map[string]any{"known": false})
		return nil
	}
	if err != nil {
		return err
	}
	tok, hash, err := s.newToken()
	if err != nil {
		return err
	}
	ttl := time.Duration(t.Settings.PasswordResetTTL)
	if ttl <= 0 {
		ttl = time.Hour
	}
	p := mailPrinter(ctx, t, a)
	link := ""
	if base := t.Settings.PasswordResetURL; base != "" {
		if u, err := url.Parse(base); err == nil {
			q := u.Query()
			q.Set("token", tok)
			u.RawQuery = q.Encode()
			link = u.String()
		}
	} else if t.Settings.PagesPasswordReset {
		// No storefront page: the mail links to the hosted new-password page.
		link = s.hostedLink(t.Name, "/password/new", tok, p.Code(), &HostedPage{Return: str("return")})
	}
	parts := []string{p.T("Someone asked to reset the password of your account. Your reset token (valid for %s, once):", p.Duration(ttl)), tok}
	if link != "" && t.Settings.PasswordResetURL == "" {
		// The hosted page; the token stays in the mail for a storefront that asks for it.
		parts = append(parts, p.T("Or choose a new password here:"), link)
	} else if link != "" {
		parts = []string{p.T("Someone asked to reset the password of your account. Choose a new one here (valid for %s, once):", p.Duration(ttl)), link}
	}
	body := mailBody(p, t, append(parts, p.T("If it was not you, ignore this message: your password stays as it is."))...)
	err = s.store.InTx(ctx, func(ctx context.Context) error {
		if err := s.store.CreateToken(ctx, &OneTimeToken{Hash: hash, Tenant: t.Name, CustomerID: a.ID, Kind: TokenPasswordReset,
			ExpiresAt: s.now().UTC().Add(ttl)}); err != nil {
			return err
		}
		return s.notify(ctx, t, &notify.Message{Kind: notify.KindPasswordReset, To: a.Email, Subject: p.T("Reset your password"),
			Body: body, Data: map[string]any{"token": tok, "link": link, "site": str("site"), "customerId": a.ID}})
	})
	if err != nil {
		return err
	}
	s.event(ctx, t.Name, "password.reset_requested", &a.ID, map[string]any{"known": true})
	return nil
}

// ResetPassword sets a new password with a reset token: the token works once, the
// account is unlocked, pending e-mail changes are retired and every session of the
// customer ends. For an account whose address was never verified the token is the
// first proof of it (proveAddress).
func (s *Service) ResetPassword(ctx context.Context, t *identity.Tenant, token, password string) error {
	meta := identity.RequestMetaFromContext(ctx)
	if err := s.allow(ctx, "reset:ip:"+t.Name+":"+meta.IP, s.limitsOf(t).PerIP); err != nil {
		return err
	}
	var id int64
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		ot, err := s.store.UseToken(ctx, t.Name, TokenPasswordReset, HashToken(token), s.now().UTC())
		if err != nil {
			return err
		}
		id = ot.CustomerID
		a, err := s.store.GetAccount(ctx, t.Name, id)
		if err != nil {
			return err
		}
		v := &identity.Validator{}
		passwordField(v, "password", CheckPassword(t, password, a.Email))
		if err := v.Err(); err != nil {
			return err
		}
		hash, err := s.hash(ctx, password)
		if err != nil {
			return err
		}
		if err := s.store.UpdatePasswordHash(ctx, t.Name, id, hash); err != nil {
			return err
		}
		if !a.EmailVerified {
			// The token came from the mailbox: the first proof of the address.
			return s.proveAddress(ctx, t, id)
		}
		if err := s.guard.SetLock(ctx, t.Name, id, nil, s.now().UTC()); err != nil {
			return err
		}
		// An e-mail change asked for before the reset does not outlive it.
		if err := s.store.RetireTokens(ctx, t.Name, id, TokenEmailChange); err != nil {
			return err
		}
		return s.revokeAll(ctx, t.Name, id)
	})
	if err != nil {
		return err
	}
	s.event(ctx, t.Name, "password.reset", &id, nil)
	return nil
}

// ChangePassword sets a new password after checking the current one; every other
// session of the customer ends (keepSession, the caller's shopper session, stays).
func (s *Service) ChangePassword(ctx context.Context, t *identity.Tenant, id int64, keepSession, current, next string) error {
	a, err := s.store.GetAccount(ctx, t.Name, id)
	if err != nil {
		return err
	}
	v := &identity.Validator{}
	passwordField(v, "newPassword", CheckPassword(t, next, a.Email))
	if next == current {
		v.Add("newPassword", "invalid", "must differ from the current password")
	}
	if err := v.Err(); err != nil {
		return err
	}
	if err := s.confirmPassword(ctx, t, a.Email, current); err != nil {
		return err
	}
	hash, err := s.hash(ctx, next)
	if err != nil {
		return err
	}
	err = s.store.InTx(ctx, func(ctx context.Context) error {
		if err := s.store.UpdatePasswordHash(ctx, t.Name, id, hash); err != nil {
			return err
		}
		if err := s.tokens.RevokeSubjectExcept(ctx, t.Name, strconv.FormatInt(id, 10), keepSession); err != nil {
			return err
		}
		return s.tokens.DeleteCustomerBrowserSessions(ctx, t.Name, id)
	})
	if err != nil {
		return err
	}
	s.event(ctx, t.Name, "password.changed", &id, nil)
	return nil
}

// EmailChangeTTL is how long an e-mail change link works.
const EmailChangeTTL = 24 * time.Hour

// RequestEmailChange checks the current e-mail and password and sends a single-use token
// to the new address; nothing changes until it is confirmed.
func (s *Service) RequestEmailChange(ctx context.Context, t *identity.Tenant, id int64, email, password, newEmail string, syncContact bool) error {
	a, err := s.store.GetAccount(ctx, t.Name, id)
	if err != nil {
		return err
	}
	v := &identity.Validator{}
	if EmailKey(email) != EmailKey(a.Email) {
		v.Add("email", "invalid", "is not the account's current e-mail address")
	}
	if next, err := normalizeEmail(newEmail); err != nil {
		v.Add("newEmail", "invalid", mailaddr.Describe(err))
	} else if EmailKey(next) == EmailKey(a.Email) {
		v.Add("newEmail", "invalid", "is the current e-mail address")
	} else {
		newEmail = next
	}
	if err := v.Err(); err != nil {
		return err
	}
	if err := s.confirmPassword(ctx, t, a.Email, password); err != nil {
		return err
	}
	if _, err := s.store.GetAccountByEmail(ctx, t.Name, newEmail); err == nil {
		return fmt.Errorf("e-mail %q: %w", newEmail, ErrConflict)
	} else if !errors.Is(err, ErrNotFound) {
		return err
	}
	tok, hash, err := s.newToken()
	if err != nil {
		return err
	}
	err = s.store.InTx(ctx, func(ctx context.Context) error {
		if err := s.store.CreateToken(ctx, &OneTimeToken{Hash: hash, Tenant: t.Name, CustomerID: id, Kind: TokenEmailChange,
			Data: map[string]string{"newEmail": newEmail, "sync": strconv.FormatBool(syncContact)}, ExpiresAt: s.now().UTC().Add(EmailChangeTTL)}); err != nil {
			return err
		}
		p := mailPrinter(ctx, t, a)
		return s.notify(ctx, t, &notify.Message{Kind: notify.KindEmailChange, To: newEmail, Subject: p.T("Confirm your new e-mail address"),
			Body: mailBody(p, t, p.T("Confirm that this is your account's new e-mail address with this token (valid for %s, once):", p.Duration(EmailChangeTTL)),
				tok, p.T("If you did not ask for this, ignore this message.")),
			Data: map[string]any{"token": tok, "customerId": id}})
	})
	if err != nil {
		return err
	}
	s.event(ctx, t.Name, "email.change_requested", &id, nil)
	return nil
}

// ConfirmEmailChange switches the login e-mail with a token sent to the new address
// (and the contact e-mail when asked), and tells the old address.
func (s *Service) ConfirmEmailChange(ctx context.Context, t *identity.Tenant, token string) error {
	var id int64
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		ot, err := s.store.UseToken(ctx, t.Name, TokenEmailChange, HashToken(token), s.now().UTC())
		if err != nil {
			return err
		}
		id = ot.CustomerID
		a, err := s.store.GetAccount(ctx, t.Name, id)
		if err != nil {
			return err
		}
		newEmail := ot.Data["newEmail"]
		var contact *string
		if ot.Data["sync"] == "true" {
			contact = &newEmail
		}
		if err := s.store.UpdateEmail(ctx, t.Name, id, newEmail, contact); err != nil {
			return err
		}
		if err := s.store.SetEmailVerified(ctx, t.Name, id, true); err != nil {
			return err
		}
		p := mailPrinter(ctx, t, a)
		return s.notify(ctx, t, &notify.Message{Kind: notify.KindEmailChanged, To: a.Email, Subject: p.T("Your e-mail address was changed"),
			Body: mailBody(p, t, p.T("Your account now signs in with %s. If you did not do this, contact %s at once.", newEmail, t.Settings.Branding.Name(t.Name))),
			Data: map[string]any{"customerId": id, "newEmail": newEmail}})
	})
	if err != nil {
		return err
	}
	s.event(ctx, t.Name, "email.changed", &id, nil)
	return nil
}
