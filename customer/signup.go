package customer

// Sign-up with double opt-in, and the single-use tokens mails carry.

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
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
	// Page is set when the sign-up came from the hosted sign-up page: the activation
	// mail then links to the hosted confirmation page instead of the API's.
	Page *HostedPage
}

// HostedPage says that a request came from the hosted pages of the login flow
// (/oauth2/{tenant}/…): the mail it causes links to the hosted page that finishes it,
// which sends the shopper back to Return, the authorization request they came from
// (a path under /oauth2/{tenant}/, checked by the page; "" for none).
type HostedPage struct{ Return string }

// hostedLink is the address of a hosted page of the tenant carrying a mailed token,
// the mail's language (ui_locales: the page opens in the language the mail is written
// in, whatever the browser that opens it prefers) and, when known, the authorization
// request to return to.
func (s *Service) hostedLink(tenant, path, token, lang string, page *HostedPage) string {
	q := url.Values{"token": {token}}
	if lang != "" {
		q.Set("ui_locales", lang)
	}
	if page != nil && page.Return != "" {
		q.Set("return", page.Return)
	}
	return s.publicURL + "/oauth2/" + tenant + path + "?" + q.Encode()
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

// signupBucket counts, per client address, what an anonymous caller does that creates
// an account or sends mail to an address it names: sign-ups, password-reset requests
// and opt-in resends share one budget (ratelimit.signup_per_ip).
func signupBucket(t *identity.Tenant, ip string) string { return "signup:ip:" + t.Name + ":" + ip }

// Signup creates a customer with profile and first address in one transaction. Legal
// entities named in a signup are not trusted: membership of a B2B account grants
// tokens scoped to it, so only the admin surface assigns memberships. With the tenant's double opt-in the account starts inactive and an
// activation link is queued in the same transaction.
func (s *Service) Signup(ctx context.Context, t *identity.Tenant, in SignupRequest) (*Account, error) {
	// Counted before anything else: a bot's invalid sign-ups cost a row too.
	if err := s.allow(ctx, signupBucket(t, identity.RequestMetaFromContext(ctx).IP), s.limitsOf(t).SignupPerIP); err != nil {
		return nil, err
	}
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
	hash, err := s.hash(ctx, in.Password)
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
			return s.sendOptIn(ctx, t, a, in.Page)
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
// transaction. The mail links to the API's confirmation route, or to the hosted
// confirmation page when the sign-up came from a hosted page.
func (s *Service) sendOptIn(ctx context.Context, t *identity.Tenant, a *Account, page *HostedPage) error {
	tok, hash, err := s.newToken()
	if err != nil {
		return err
	}
	if err := s.store.CreateToken(ctx, &OneTimeToken{Hash: hash, Tenant: t.Name, CustomerID: a.ID, Kind: TokenOptIn,
		ExpiresAt: s.now().UTC().Add(OptInTTL)}); err != nil {
		return err
	}
	p := mailPrinter(ctx, t, a)
	link := s.publicURL + "/customer/" + t.Name + "/signup/optin/" + url.PathEscape(tok)
	if page != nil {
		link = s.hostedLink(t.Name, "/signup/confirm", tok, p.Code(), page)
	}
	return s.notify(ctx, t, &notify.Message{
		Tenant: t.Name, Kind: notify.KindSignupOptIn, To: a.Email,
		Subject: p.T("Activate your account"),
		Body: mailBody(p, t, p.T("Welcome to %s! Activate your account with this link (valid for %s):", t.Settings.Branding.Name(t.Name), p.Duration(OptInTTL)),
			link, p.T("If you did not sign up, ignore this message.")),
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
	return s.ResendOptInFrom(ctx, t, email, nil)
}

// ResendOptInFrom is ResendOptIn for a hosted page (page non-nil): the new link opens
// the hosted confirmation page.
func (s *Service) ResendOptInFrom(ctx context.Context, t *identity.Tenant, email string, page *HostedPage) error {
	meta := identity.RequestMetaFromContext(ctx)
	if err := s.allow(ctx, signupBucket(t, meta.IP), s.limitsOf(t).SignupPerIP); err != nil {
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
	return s.store.InTx(ctx, func(ctx context.Context) error { return s.sendOptIn(ctx, t, a, page) })
}
