package customer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/notify"
)

// SignupRequest is a new customer with profile, B2B block and first address.
type SignupRequest struct {
	Email    string
	Password string
	Details  SignupDetails
	Address  *Address
}

// SignupDetails is the profile part of a signup.
type SignupDetails struct {
	Title, FirstName, MiddleName, LastName, ContactEmail, ContactPhone, Company string
	PreferredLanguage, PreferredCurrency, PreferredSite                         string
	B2B                                                                         *B2B
}

// B2B is the company part of a signup.
type B2B struct {
	CompanyRegistrationID string
	LegalEntities         []Membership
}

// validateAddress checks an address; prefix names the field path in errors.
func validateAddress(v *identity.Validator, prefix string, a *Address) {
	v.Required(prefix+"street", strings.TrimSpace(a.Street))
	v.Required(prefix+"zipCode", strings.TrimSpace(a.ZipCode))
	v.Required(prefix+"city", strings.TrimSpace(a.City))
	if !validCountry(a.Country) {
		v.Add(prefix+"country", "invalid", "must be an ISO 3166-1 alpha-2 code such as DE")
	}
	for field, value := range map[string]string{"contactName": a.ContactName, "companyName": a.CompanyName, "street": a.Street,
		"streetNumber": a.StreetNumber, "streetAppendix": a.StreetAppendix, "extraLine1": a.ExtraLine1, "extraLine2": a.ExtraLine2,
		"extraLine3": a.ExtraLine3, "extraLine4": a.ExtraLine4, "zipCode": a.ZipCode, "city": a.City, "state": a.State,
		"contactPhone": a.ContactPhone} {
		v.MaxLen(prefix+field, value, 255)
	}
	if len(a.Tags) > 20 {
		v.Add(prefix+"tags", "invalid", "at most 20 tags")
	}
	for _, t := range a.Tags {
		if t == "" || len(t) > 64 {
			v.Add(prefix+"tags", "invalid", "tags must have 1 to 64 characters")
			break
		}
	}
}

// Signup creates a customer with profile and first address in one transaction. Legal
// entities named in a signup are not trusted: membership of a B2B account grants
// tokens scoped to it, so only the admin surface assigns memberships. With the tenant's double opt-in the account starts inactive and an
// activation link is queued in the same transaction.
func (s *Service) Signup(ctx context.Context, t *identity.Tenant, in SignupRequest) (*Account, error) {
	v := &identity.Validator{}
	if strings.TrimSpace(in.Email) == "" {
		v.Add("email", "missing", "is required")
	} else {
		in.Email = emailField(v, "email", in.Email)
	}
	if in.Password == "" {
		v.Add("password", "missing", "is required")
	} else {
		passwordField(v, "password", CheckPassword(t, in.Password, in.Email))
	}
	d := in.Details
	if d.ContactEmail != "" {
		d.ContactEmail = emailField(v, "customerDetails.contactEmail", d.ContactEmail)
	}
	for field, value := range map[string]string{"title": d.Title, "firstName": d.FirstName, "middleName": d.MiddleName,
		"lastName": d.LastName, "contactPhone": d.ContactPhone, "company": d.Company, "preferredLanguage": d.PreferredLanguage,
		"preferredCurrency": d.PreferredCurrency, "preferredSite": d.PreferredSite} {
		v.MaxLen("customerDetails."+field, value, 255)
	}
	if d.B2B != nil {
		for i, le := range d.B2B.LegalEntities {
			if strings.TrimSpace(le.AccountID) == "" {
				v.Add(fmt.Sprintf("customerDetails.b2b.legalEntities[%d].id", i), "missing", "is required")
			}
		}
	}
	if in.Address != nil {
		validateAddress(v, "customerAddress.", in.Address)
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	hash, err := s.hasher.Hash(in.Password)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	a := &Account{
		Tenant: t.Name, Email: in.Email, PasswordHash: hash, Active: !t.Settings.SignupOptIn,
		Title: d.Title, FirstName: d.FirstName, MiddleName: d.MiddleName, LastName: d.LastName,
		ContactEmail: d.ContactEmail, ContactPhone: d.ContactPhone, Company: d.Company,
		PreferredLanguage: d.PreferredLanguage, PreferredCurrency: d.PreferredCurrency, PreferredSite: d.PreferredSite,
		CreatedAt: now, CreatedBy: "signup", UpdatedAt: now, UpdatedBy: "signup",
	}
	if a.ContactEmail == "" {
		a.ContactEmail = a.Email
	}
	if d.B2B != nil {
		a.CompanyRegistrationID = d.B2B.CompanyRegistrationID
	}
	err = s.store.InTx(ctx, func(ctx context.Context) error {
		if err := s.store.CreateAccount(ctx, a); err != nil {
			return err
		}
		if in.Address != nil {
			addr := *in.Address
			addr.IsDefault = true
			if err := s.store.AddAddress(ctx, t.Name, a.ID, &addr); err != nil {
				return err
			}
		}
		if !a.Active {
			return s.sendOptIn(ctx, t, a)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.event(ctx, t.Name, "customer.signup", &a.ID, map[string]any{"optin": !a.Active})
	return a, nil
}

// newToken returns a random token and its stored hash.
func (s *Service) newToken() (string, string, error) {
	b := make([]byte, 32)
	if _, err := io.ReadFull(s.rand, b); err != nil {
		return "", "", fmt.Errorf("token: %w", err)
	}
	tok := base64.RawURLEncoding.EncodeToString(b)
	return tok, HashToken(tok), nil
}

// HashToken is how one-time tokens are stored.
func HashToken(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

// OptInTTL is how long an activation link works.
const OptInTTL = 48 * time.Hour

// sendOptIn creates an activation token and queues its mail, in the caller's
// transaction.
func (s *Service) sendOptIn(ctx context.Context, t *identity.Tenant, a *Account) error {
	tok, hash, err := s.newToken()
	if err != nil {
		return err
	}
	if err := s.store.CreateToken(ctx, &OneTimeToken{Hash: hash, Tenant: t.Name, CustomerID: a.ID, Kind: TokenOptIn,
		ExpiresAt: s.now().UTC().Add(OptInTTL)}); err != nil {
		return err
	}
	link := s.publicURL + "/customer/" + t.Name + "/signup/optin/" + url.PathEscape(tok)
	return s.notify(ctx, t, &notify.Message{
		Tenant: t.Name, Kind: notify.KindSignupOptIn, To: a.Email,
		Subject: "Activate your account",
		Body: "Welcome! Activate your account with this link (valid for 48 hours):\n\n" + link +
			"\n\nIf you did not sign up, ignore this message.",
		Data: map[string]any{"token": tok, "link": link, "customerId": a.ID},
	})
}

// ConfirmOptIn activates the account of an opt-in token; the token works once.
func (s *Service) ConfirmOptIn(ctx context.Context, t *identity.Tenant, token string) (*Account, error) {
	var a *Account
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		ot, err := s.store.UseToken(ctx, t.Name, TokenOptIn, HashToken(token), s.now().UTC())
		if err != nil {
			return err
		}
		if err := s.store.SetActive(ctx, t.Name, ot.CustomerID, true); err != nil {
			return err
		}
		if err := s.store.SetEmailVerified(ctx, t.Name, ot.CustomerID, true); err != nil {
			return err
		}
		a, err = s.Account(ctx, t.Name, ot.CustomerID)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.event(ctx, t.Name, "customer.activated", &a.ID, nil)
	return a, nil
}

// ResendOptIn queues a new activation link for an inactive account. It answers the
// same whether or not the address has an account.
func (s *Service) ResendOptIn(ctx context.Context, t *identity.Tenant, email string) error {
	meta := identity.RequestMetaFromContext(ctx)
	if err := s.allow(ctx, "optin:ip:"+t.Name+":"+meta.IP, s.limits.PerIP); err != nil {
		return err
	}
	if err := s.allow(ctx, "optin:account:"+t.Name+":"+EmailKey(email), Limit{Max: 3, Window: time.Hour}); err != nil {
		return err
	}
	a, err := s.store.GetAccountByEmail(ctx, t.Name, email)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if a.Active {
		return nil
	}
	return s.store.InTx(ctx, func(ctx context.Context) error { return s.sendOptIn(ctx, t, a) })
}

// Get returns an account without its memberships, addresses and identities: what a
// signed-in call checks (the account is still there and active) before it acts.
func (s *Service) Get(ctx context.Context, tenant string, id int64) (*Account, error) {
	return s.store.GetAccount(ctx, tenant, id)
}

// Account returns an account with its memberships and addresses.
func (s *Service) Account(ctx context.Context, tenant string, id int64) (*Account, error) {
	a, err := s.store.GetAccount(ctx, tenant, id)
	if err != nil {
		return nil, err
	}
	if a.Memberships, err = s.store.ListMemberships(ctx, tenant, id); err != nil {
		return nil, err
	}
	if a.Addresses, err = s.store.ListAddresses(ctx, tenant, id); err != nil {
		return nil, err
	}
	if a.Identities, err = s.store.ListIdentities(ctx, tenant, id); err != nil {
		return nil, err
	}
	return a, nil
}

// IsMember reports whether a customer belongs to a B2B account / legal entity.
func (s *Service) IsMember(ctx context.Context, tenant string, id int64, accountID string) (bool, error) {
	ms, err := s.store.ListMemberships(ctx, tenant, id)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(ms, func(m Membership) bool { return m.AccountID == accountID }), nil
}

// RequireMember refuses a B2B account / legal entity the customer is not a member of
// with ErrNotMember; "" names none and passes.
func (s *Service) RequireMember(ctx context.Context, tenant string, id int64, accountID string) error {
	if accountID == "" {
		return nil
	}
	ok, err := s.IsMember(ctx, tenant, id, accountID)
	if err != nil {
		return err
	}
	if !ok {
		return ErrNotMember
	}
	return nil
}

// AddMembership makes a customer a member of a B2B account / legal entity.
func (s *Service) AddMembership(ctx context.Context, tenant string, id int64, m Membership) error {
	if strings.TrimSpace(m.AccountID) == "" {
		return fmt.Errorf("%w: account id is required", ErrInvalid)
	}
	return s.store.AddMembership(ctx, tenant, id, m)
}

// SetStatus activates / deactivates and holds / releases an account (admin).
func (s *Service) SetStatus(ctx context.Context, tenant string, id int64, active, onHold *bool) (*Account, error) {
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		if active != nil {
			if err := s.store.SetActive(ctx, tenant, id, *active); err != nil {
				return err
			}
		}
		if onHold != nil {
			if err := s.store.SetOnHold(ctx, tenant, id, *onHold); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// An account that can no longer sign in keeps no live tokens either.
	if (active != nil && !*active) || (onHold != nil && *onHold) {
		if err := s.revokeAll(ctx, tenant, id); err != nil {
			return nil, err
		}
	}
	return s.Account(ctx, tenant, id)
}

// revokeAll ends every token and browser session of a customer.
func (s *Service) revokeAll(ctx context.Context, tenant string, id int64) error {
	if s.tokens == nil {
		return errors.New("revoke tokens: no token store configured")
	}
	if err := s.tokens.RevokeSubject(ctx, tenant, strconv.FormatInt(id, 10)); err != nil {
		return err
	}
	return s.tokens.DeleteCustomerBrowserSessions(ctx, tenant, id)
}

// SetLock locks an account for the tenant's lockout duration, or unlocks it (admin).
func (s *Service) SetLock(ctx context.Context, t *identity.Tenant, id int64, locked bool) error {
	if _, err := s.store.GetAccount(ctx, t.Name, id); err != nil {
		return err
	}
	now := s.now().UTC()
	var until *time.Time
	kind := identity.EventAccountUnlocked
	if locked {
		u := now.Add(time.Duration(t.Settings.LockoutDuration))
		until = &u
		kind = identity.EventAccountLocked
	}
	if err := s.guard.SetLock(ctx, t.Name, id, until, now); err != nil {
		return err
	}
	s.event(ctx, t.Name, kind, &id, map[string]any{"by": "admin"})
	return nil
}

// LoginState returns an account's sign-in state (admin).
func (s *Service) LoginState(ctx context.Context, t *identity.Tenant, id int64) (LoginState, error) {
	a, err := s.store.GetAccount(ctx, t.Name, id)
	if err != nil {
		return LoginState{}, err
	}
	return LoginStateOf(a, t.Settings.LockoutThreshold, s.now()), nil
}

// UpdateExternalFields replaces the admin-owned fields of an account after checking
// their JSON shape.
func (s *Service) UpdateExternalFields(ctx context.Context, tenant string, id int64, f ExternalFields) (*Account, error) {
	v := &identity.Validator{}
	for name, raw := range map[string]json.RawMessage{"attributes": f.Attributes, "notes": f.Notes, "segments": f.Segments} {
		if raw != nil && !jsonIs(raw, '[') {
			v.Add(name, "invalid", "must be a JSON array")
		}
	}
	if f.CommerceSummary != nil && !jsonIs(f.CommerceSummary, '{') {
		v.Add("commerceSummary", "invalid", "must be a JSON object")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	if err := s.store.UpdateExternalFields(ctx, tenant, id, f); err != nil {
		return nil, err
	}
	return s.Account(ctx, tenant, id)
}

// jsonIs reports whether raw is valid JSON starting with the given delimiter.
func jsonIs(raw json.RawMessage, open byte) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 0 && t[0] == open && json.Valid(t)
}

// notify queues a message in the caller's transaction, by the tenant's webhook when it
// has one and by e-mail otherwise.
func (s *Service) notify(ctx context.Context, t *identity.Tenant, m *notify.Message) error {
	if s.outbox == nil {
		return errors.New("notify: no outbox configured")
	}
	m.Tenant = t.Name
	if t.Settings.WebhookURL != "" {
		if s.webhookSecrets == nil {
			return errors.New("notify: no webhook secret sealer configured")
		}
		sealed, err := s.webhookSecrets.SealedOf(t.Name, t.Settings.WebhookSecret)
		if err != nil {
			return fmt.Errorf("notify: %w", err)
		}
		m.Webhook, m.WebhookSecret = t.Settings.WebhookURL, sealed
	}
	return s.outbox.Enqueue(ctx, m)
}
