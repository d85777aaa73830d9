package customer

// Self-service: the profile (/me), the address book, password reset and change, e-mail
// change, data export and erasure. Everything is confined to the calling customer.

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/identity/mailaddr"
	"github.com/custodian-id/custodian/notify"
	"github.com/custodian-id/custodian/twofactor"
)

//go:embed common_passwords.txt
var commonPasswordsText []byte

// commonPasswords is the embedded list, lower-cased.
var commonPasswords = func() map[string]bool {
	m := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(commonPasswordsText))
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
			m[strings.ToLower(line)] = true
		}
	}
	return m
}()

// CheckPassword applies a tenant's password policy to a new password: at least
// password.min_length characters, at most MaxPasswordLength, not the e-mail address,
// not one of the most common passwords.
func CheckPassword(t *identity.Tenant, password, email string) error {
	if err := ValidatePassword(password, email); err != nil {
		return err
	}
	if minLen := t.Settings.PasswordMinLength; minLen > 0 && utf8.RuneCountInString(password) < minLen {
		return fmt.Errorf("%w: password must have at least %d characters", ErrInvalid, minLen)
	}
	if commonPasswords[strings.ToLower(password)] {
		return fmt.Errorf("%w: password is one of the most common passwords", ErrInvalid)
	}
	return nil
}

// passwordField turns a policy failure into a field error.
func passwordField(v *identity.Validator, field string, err error) {
	if err != nil {
		v.Add(field, "invalid", strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": "))
	}
}

// ProfilePatch is a change of the self-service profile. nil leaves a field as it is;
// a pointer to "" clears it (JSON null in a merge patch). Mixins is an RFC 7396 merge
// patch of the mixins object.
type ProfilePatch struct {
	Title, FirstName, MiddleName, LastName              *string
	ContactEmail, ContactPhone, Company                 *string
	PreferredLanguage, PreferredCurrency, PreferredSite *string
	CompanyRegistrationID                               *string
	Mixins                                              json.RawMessage
	// Version, when set, must be the stored version (optimistic locking).
	Version *int
}

// UpdateProfile applies a patch to the customer's profile with optimistic locking: the
// write only happens if the version is still the one read (and, when the caller sent
// one, the one it sent); otherwise ErrStale and nothing changes.
func (s *Service) UpdateProfile(ctx context.Context, t *identity.Tenant, id int64, p ProfilePatch) (*Account, error) {
	a, err := s.store.GetAccount(ctx, t.Name, id)
	if err != nil {
		return nil, err
	}
	v := &identity.Validator{}
	set := func(field string, dst *string, val *string) {
		if val == nil {
			return
		}
		v.MaxLen(field, *val, 255)
		*dst = strings.TrimSpace(*val)
	}
	set("title", &a.Title, p.Title)
	set("firstName", &a.FirstName, p.FirstName)
	set("middleName", &a.MiddleName, p.MiddleName)
	set("lastName", &a.LastName, p.LastName)
	set("contactPhone", &a.ContactPhone, p.ContactPhone)
	set("company", &a.Company, p.Company)
	set("preferredLanguage", &a.PreferredLanguage, p.PreferredLanguage)
	set("preferredCurrency", &a.PreferredCurrency, p.PreferredCurrency)
	set("preferredSite", &a.PreferredSite, p.PreferredSite)
	set("b2b.companyRegistrationId", &a.CompanyRegistrationID, p.CompanyRegistrationID)
	if p.ContactEmail != nil {
		c := strings.TrimSpace(*p.ContactEmail)
		switch {
		case c == "" && a.ContactEmail != "":
			v.Add("contactEmail", "invalid", "cannot be removed once set")
		case c != "":
			a.ContactEmail = emailField(v, "contactEmail", c)
		default:
			a.ContactEmail = c
		}
	}
	if len(p.Mixins) > 0 {
		merged, err := mergePatch(jsonOr(a.Mixins, "{}"), p.Mixins)
		switch {
		case err != nil || !jsonIs(merged, '{'):
			v.Add("mixins", "invalid", "must be an object")
		case len(merged) > 64<<10:
			v.Add("mixins", "invalid", "at most 64 KiB")
		default:
			a.Mixins = merged
		}
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	if p.Version != nil && *p.Version != a.Version {
		return nil, fmt.Errorf("profile version %d, sent %d: %w", a.Version, *p.Version, ErrStale)
	}
	a.UpdatedBy = "customer"
	if err := s.store.UpdateProfile(ctx, a, a.Version); err != nil {
		return nil, err
	}
	s.event(ctx, t.Name, "customer.profile_updated", &a.ID, map[string]any{"version": a.Version})
	return s.Account(ctx, t.Name, id)
}

// jsonOr is raw, or def when raw is empty.
func jsonOr(raw json.RawMessage, def string) json.RawMessage {
	if len(raw) == 0 {
		return json.RawMessage(def)
	}
	return raw
}

// mergePatch applies an RFC 7396 JSON merge patch to a document.
func mergePatch(doc, patch json.RawMessage) (json.RawMessage, error) {
	var p any
	if err := json.Unmarshal(patch, &p); err != nil {
		return nil, err
	}
	var d any
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, err
	}
	return json.Marshal(mergeValue(d, p))
}

func mergeValue(target, patch any) any {
	pm, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	tm, ok := target.(map[string]any)
	if !ok {
		tm = map[string]any{}
	}
	for k, v := range pm {
		if v == nil {
			delete(tm, k)
			continue
		}
		tm[k] = mergeValue(tm[k], v)
	}
	return tm
}

// Addresses lists a customer's addresses, the default first.
func (s *Service) Addresses(ctx context.Context, tenant string, id int64) ([]Address, error) {
	return s.store.ListAddresses(ctx, tenant, id)
}

// Address returns one of a customer's addresses.
func (s *Service) Address(ctx context.Context, tenant string, id int64, addressID string) (*Address, error) {
	return s.store.GetAddress(ctx, tenant, id, addressID)
}

// MaxAddresses bounds a customer's address book.
const MaxAddresses = 100

// AddAddress validates and adds an address. The first address becomes the default; an
// address added with isDefault takes the default from the old one.
func (s *Service) AddAddress(ctx context.Context, tenant string, id int64, a *Address) error {
	v := &identity.Validator{}
	normalizeAddress(a)
	validateAddress(v, "", a)
	if err := v.Err(); err != nil {
		return err
	}
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		existing, err := s.store.ListAddresses(ctx, tenant, id)
		if err != nil {
			return err
		}
		if len(existing) >= MaxAddresses {
			return fmt.Errorf("%w: at most %d addresses", ErrInvalid, MaxAddresses)
		}
		if len(existing) == 0 {
			a.IsDefault = true
		}
		if a.IsDefault {
			if err := s.store.ClearDefaultAddress(ctx, tenant, id); err != nil {
				return err
			}
		}
		return s.store.AddAddress(ctx, tenant, id, a)
	})
	if err != nil {
		return err
	}
	s.event(ctx, tenant, "customer.address_added", &id, map[string]any{"address": a.ID})
	return nil
}

func normalizeAddress(a *Address) {
	a.Country = strings.ToUpper(strings.TrimSpace(a.Country))
	if a.Tags == nil {
		a.Tags = []string{}
	}
	a.Tags = dedupe(a.Tags)
}

func dedupe(tags []string) []string {
	out := make([]string, 0, len(tags))
	seen := map[string]bool{}
	for _, t := range tags {
		t = strings.TrimSpace(t)
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}

// UpdateAddress validates and writes an address (the caller applied the patch to the
// stored one). Making it the default clears the old default; un-defaulting the default
// promotes the oldest address.
func (s *Service) UpdateAddress(ctx context.Context, tenant string, id int64, a *Address, wasDefault bool) error {
	v := &identity.Validator{}
	normalizeAddress(a)
	validateAddress(v, "", a)
	if err := v.Err(); err != nil {
		return err
	}
	return s.store.InTx(ctx, func(ctx context.Context) error {
		if a.IsDefault && !wasDefault {
			if err := s.store.ClearDefaultAddress(ctx, tenant, id); err != nil {
				return err
			}
		}
		if err := s.store.UpdateAddress(ctx, tenant, id, a); err != nil {
			return err
		}
		if wasDefault && !a.IsDefault {
			return s.store.PromoteDefaultAddress(ctx, tenant, id)
		}
		return nil
	})
}

// DeleteAddress removes an address; when it was the default, the oldest remaining
// address becomes the default (none when the book is empty).
func (s *Service) DeleteAddress(ctx context.Context, tenant string, id int64, addressID string) error {
	return s.store.InTx(ctx, func(ctx context.Context) error {
		if err := s.store.DeleteAddress(ctx, tenant, id, addressID); err != nil {
			return err
		}
		return s.store.PromoteDefaultAddress(ctx, tenant, id)
	})
}

// TagAddress adds (or, with remove, removes) tags of an address.
func (s *Service) TagAddress(ctx context.Context, tenant string, id int64, addressID string, tags []string, remove bool) error {
	return s.store.InTx(ctx, func(ctx context.Context) error {
		a, err := s.store.GetAddress(ctx, tenant, id, addressID)
		if err != nil {
			return err
		}
		if remove {
			keep := a.Tags[:0]
			for _, t := range a.Tags {
				if !containsString(tags, t) {
					keep = append(keep, t)
				}
			}
			a.Tags = keep
		} else {
			a.Tags = append(a.Tags, tags...)
		}
		return s.UpdateAddress(ctx, tenant, id, a, a.IsDefault)
	})
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// RequestPasswordReset asks for a single-use reset token for the account of an e-mail
// address. It answers the same, after the same work, whether or not the address has an
// account: it counts the rate limits and queues a job in the outbox, one insert on
// both paths, and the outbox worker does the rest (passwordResetJob). The job is in
// the database before the answer, so a request is never lost: a failing job is
// retried like a failed delivery.
func (s *Service) RequestPasswordReset(ctx context.Context, t *identity.Tenant, email, site string) error {
	meta := identity.RequestMetaFromContext(ctx)
	if err := s.allow(ctx, "reset:ip:"+t.Name+":"+meta.IP, s.limits.PerIP); err != nil {
		return err
	}
	if err := s.allow(ctx, "reset:account:"+t.Name+":"+EmailKey(email), Limit{Max: 5, Window: time.Hour}); err != nil {
		return err
	}
	if s.outbox == nil {
		return errors.New("password reset: no outbox configured")
	}
	return s.outbox.Enqueue(ctx, &notify.Message{Tenant: t.Name, Kind: notify.KindPasswordResetJob,
		Data: map[string]any{"email": email, "site": site, "ip": meta.IP, "userAgent": meta.UserAgent, "requestId": meta.RequestID}})
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
	link := ""
	if base := t.Settings.PasswordResetURL; base != "" {
		if u, err := url.Parse(base); err == nil {
			q := u.Query()
			q.Set("token", tok)
			u.RawQuery = q.Encode()
			link = u.String()
		}
	}
	body := "Someone asked to reset the password of your account. Your reset token (valid for " + ttl.String() + ", once):\n\n" + tok
	if link != "" {
		body = "Someone asked to reset the password of your account. Choose a new one here (valid for " + ttl.String() + ", once):\n\n" + link
	}
	body += "\n\nIf it was not you, ignore this message: your password stays as it is."
	err = s.store.InTx(ctx, func(ctx context.Context) error {
		if err := s.store.CreateToken(ctx, &OneTimeToken{Hash: hash, Tenant: t.Name, CustomerID: a.ID, Kind: TokenPasswordReset,
			ExpiresAt: s.now().UTC().Add(ttl)}); err != nil {
			return err
		}
		return s.notify(ctx, t, &notify.Message{Kind: notify.KindPasswordReset, To: a.Email, Subject: "Reset your password",
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
	if err := s.allow(ctx, "reset:ip:"+t.Name+":"+meta.IP, s.limits.PerIP); err != nil {
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
		hash, err := s.hasher.Hash(password)
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
	hash, err := s.hasher.Hash(next)
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
		return s.notify(ctx, t, &notify.Message{Kind: notify.KindEmailChange, To: newEmail, Subject: "Confirm your new e-mail address",
			Body: "Confirm that this is your account's new e-mail address with this token (valid 24 hours, once):\n\n" + tok +
				"\n\nIf you did not ask for this, ignore this message.",
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
		return s.notify(ctx, t, &notify.Message{Kind: notify.KindEmailChanged, To: a.Email, Subject: "Your e-mail address was changed",
			Body: "Your account now signs in with " + newEmail + ". If you did not do this, contact the shop at once.",
			Data: map[string]any{"customerId": id, "newEmail": newEmail}})
	})
	if err != nil {
		return err
	}
	s.event(ctx, t.Name, "email.changed", &id, nil)
	return nil
}

// Export is everything Custodian holds about a customer.
type Export struct {
	Account   *Account
	Addresses []Address
	Devices   []twofactor.Device
	TwoFactor *TwoFactorStatus
	Events    []*identity.SecurityEvent
}

// Export gathers everything Custodian holds about a customer.
func (s *Service) Export(ctx context.Context, tenant string, id int64) (*Export, error) {
	a, err := s.Account(ctx, tenant, id)
	if err != nil {
		return nil, err
	}
	x := &Export{Account: a}
	if x.Addresses, err = s.store.ListAddresses(ctx, tenant, id); err != nil {
		return nil, err
	}
	if x.Devices, err = s.tf.Devices(ctx, tenant, id); err != nil {
		return nil, err
	}
	if x.TwoFactor, err = s.TwoFactor(ctx, tenant, id); err != nil {
		return nil, err
	}
	if x.Events, err = s.Events(ctx, tenant, &id, 1000); err != nil {
		return nil, err
	}
	return x, nil
}

// Erase deletes a customer's account after checking the password (and an authenticator
// code when one is enrolled): every token and session ends, personal data goes, and the
// audit trail keeps only the pseudonymous id, kinds and times.
func (s *Service) Erase(ctx context.Context, t *identity.Tenant, id int64, password, code string) error {
	a, err := s.store.GetAccount(ctx, t.Name, id)
	if err != nil {
		return err
	}
	if err := s.confirmPassword(ctx, t, a.Email, password); err != nil {
		return err
	}
	st, err := s.tf.StatusOf(ctx, t.Name, id)
	if err != nil {
		return err
	}
	if st.TOTP {
		if code == "" {
			return &identity.ValidationError{Fields: []identity.FieldError{{Field: "code", Type: "missing", Message: "an authenticator code is required"}}}
		}
		if err := s.requireTOTP(ctx, t, id, code); err != nil {
			return err
		}
	}
	err = s.store.InTx(ctx, func(ctx context.Context) error {
		if err := s.revokeAll(ctx, t.Name, id); err != nil {
			return err
		}
		return s.store.EraseAccount(ctx, t.Name, id)
	})
	if err != nil {
		return err
	}
	// Recorded without the request's address and agent: they are personal data too.
	if s.events != nil {
		_ = s.events.RecordEvent(ctx, &identity.SecurityEvent{Tenant: t.Name, Kind: "customer.erased", CustomerID: &id,
			Subject: strconv.FormatInt(id, 10), CreatedAt: s.now().UTC()})
	}
	return nil
}
