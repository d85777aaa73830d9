package customer

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/identity/mailaddr"
	"github.com/custodian-id/custodian/notify"
	"github.com/custodian-id/custodian/twofactor"
)

// Service is the customer domain: accounts, sign-in and the customer-facing APIs.
type Service struct {
	store     Store
	tenants   identity.TenantStore
	tokens    TokenRevoker
	guard     GuardStore
	events    identity.EventStore
	outbox    *notify.Outbox
	hasher    *PasswordHasher
	now       func() time.Time
	rand      io.Reader
	publicURL string
	limits    Limits
	log       *slog.Logger
	tf        *twofactor.Service
	// webhookSecrets seals tenants' webhook secrets into the messages they sign.
	webhookSecrets *identity.WebhookSecrets
	// dummyHash is verified when an e-mail is unknown, so an unknown account costs the
	// same time as a wrong password.
	dummyHash string
}

// Config configures a Service.
type Config struct {
	Store   Store
	Tenants identity.TenantStore // tenant settings (lockout) for callers without a tenant in ctx
	Tokens  TokenRevoker         // ends a customer's tokens and browser sessions
	Guard   GuardStore           // lockout counters and rate limits
	Events  identity.EventStore  // audit trail
	Outbox  *notify.Outbox       // mail: opt-in links, reset tokens, codes
	Hasher  *PasswordHasher      // default: DefaultPasswordHasher
	// PublicURL is the base of links in mails.
	PublicURL string
	// Limits are the rate limits of the credential endpoints (zero: DefaultLimits).
	Limits Limits
	// TwoFactor configures second factors; Notify, Now and Rand are filled in here.
	TwoFactor twofactor.Config
	// WebhookSecrets seals the webhook secret into messages of tenants with a webhook.
	WebhookSecrets *identity.WebhookSecrets
	Now            func() time.Time
	Rand           io.Reader
	Logger         *slog.Logger
}

// TwoFactorConfig derives what second factors need from the server secret: the sealer
// of TOTP secrets and the keys under which codes and fingerprints are stored.
func TwoFactorConfig(store twofactor.Store, serverSecret []byte) (twofactor.Config, error) {
	sealer, err := identity.NewSealerFor(serverSecret, "custodian/totp-seal/v1")
	if err != nil {
		return twofactor.Config{}, err
	}
	return twofactor.Config{Store: store, Sealer: sealer, CodeKey: identity.DeriveKey(serverSecret, "custodian/twofactor-code/v1"),
		DeviceKey: identity.DeriveKey(serverSecret, "custodian/device/v1")}, nil
}

// NewService builds the customer service.
func NewService(cfg Config) (*Service, error) {
	s := &Service{store: cfg.Store, tenants: cfg.Tenants, tokens: cfg.Tokens, guard: cfg.Guard, events: cfg.Events, outbox: cfg.Outbox, hasher: cfg.Hasher,
		now: cfg.Now, rand: cfg.Rand, publicURL: strings.TrimRight(cfg.PublicURL, "/"), limits: cfg.Limits, log: cfg.Logger,
		webhookSecrets: cfg.WebhookSecrets}
	if s.limits == (Limits{}) {
		s.limits = DefaultLimits()
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	if s.hasher == nil {
		s.hasher = DefaultPasswordHasher()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	tfc := cfg.TwoFactor
	tfc.Now, tfc.Rand = s.now, s.rand
	tfc.Notify = func(ctx context.Context, m *notify.Message) error {
		t, err := s.tenantOf(ctx, m.Tenant)
		if err != nil {
			return err
		}
		return s.notify(ctx, t, m)
	}
	tf, err := twofactor.NewService(tfc)
	if err != nil {
		return nil, err
	}
	s.tf = tf
	if s.outbox != nil {
		s.outbox.HandleJob(notify.KindPasswordResetJob, s.passwordResetJob)
	}
	h, err := s.hasher.Hash("custodian-dummy-password")
	if err != nil {
		return nil, err
	}
	s.dummyHash = h
	return s, nil
}

// TokenRevoker ends every token and browser session of a customer.
type TokenRevoker interface {
	RevokeSubject(ctx context.Context, tenant, subject string) error
	DeleteCustomerBrowserSessions(ctx context.Context, tenant string, customerID int64) error
	// RevokeDevice ends the tokens issued to sign-ins from a device.
	RevokeDevice(ctx context.Context, tenant, deviceID string) error
	// RevokeSubjectExcept ends a customer's tokens except those of one shopper session.
	RevokeSubjectExcept(ctx context.Context, tenant, subject, keepSessionID string) error
}

// NewAccount is what creating an account takes.
type NewAccount struct {
	Email     string
	Password  string
	FirstName string
	LastName  string
	Active    bool
	CreatedBy string
}

// Password policy bounds. The upper bound keeps argon2 work per request bounded.
const (
	MinPasswordLength = 8
	MaxPasswordLength = 128
)

// ValidateEmail checks an e-mail address against Custodian's rule (mailaddr).
func ValidateEmail(email string) error {
	_, err := normalizeEmail(email)
	return err
}

// normalizeEmail is an address in the form it is stored in (mailaddr.Parse), or
// ErrInvalid with the reason.
func normalizeEmail(email string) (string, error) {
	a, err := mailaddr.Parse(email)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return a.String(), nil
}

// emailField checks an e-mail field of a request and answers its normal form.
func emailField(v *identity.Validator, field, email string) string {
	a, err := mailaddr.Parse(email)
	if err != nil {
		v.Add(field, "invalid", mailaddr.Describe(err))
		return email
	}
	return a.String()
}

// ValidatePassword checks a new password against the policy.
func ValidatePassword(password, email string) error {
	n := utf8.RuneCountInString(password)
	switch {
	case n < MinPasswordLength:
		return fmt.Errorf("%w: password must have at least %d characters", ErrInvalid, MinPasswordLength)
	case n > MaxPasswordLength:
		return fmt.Errorf("%w: password must have at most %d characters", ErrInvalid, MaxPasswordLength)
	case strings.EqualFold(password, email):
		return fmt.Errorf("%w: password must not be the e-mail address", ErrInvalid)
	}
	return nil
}

// CreateAccount creates an account with an argon2id password hash.
func (s *Service) CreateAccount(ctx context.Context, tenant string, in NewAccount) (*Account, error) {
	email, err := normalizeEmail(in.Email)
	if err := errors.Join(err, ValidatePassword(in.Password, in.Email)); err != nil {
		return nil, err
	}
	in.Email = email
	hash, err := s.hasher.Hash(in.Password)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	a := &Account{
		Tenant: tenant, Email: in.Email, PasswordHash: hash, Active: in.Active,
		FirstName: in.FirstName, LastName: in.LastName,
		CreatedAt: now, CreatedBy: in.CreatedBy, UpdatedAt: now, UpdatedBy: in.CreatedBy,
	}
	if err := s.store.CreateAccount(ctx, a); err != nil {
		return nil, err
	}
	return a, nil
}

// Claims returns the OpenID Connect claims of a customer for the granted scopes.
func (s *Service) Claims(ctx context.Context, tenant string, id int64, scopes []string) (map[string]any, error) {
	a, err := s.store.GetAccount(ctx, tenant, id)
	if err != nil {
		return nil, err
	}
	c := map[string]any{"sub": strconv.FormatInt(a.ID, 10)}
	for _, sc := range scopes {
		switch sc {
		case "email":
			c["email"] = a.Email
			c["email_verified"] = a.EmailVerified
		case "profile":
			name := strings.TrimSpace(a.FirstName + " " + a.LastName)
			if name != "" {
				c["name"] = name
			}
			if a.FirstName != "" {
				c["given_name"] = a.FirstName
			}
			if a.LastName != "" {
				c["family_name"] = a.LastName
			}
			c["updated_at"] = a.UpdatedAt.Unix()
		}
	}
	return c, nil
}
