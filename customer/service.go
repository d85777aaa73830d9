package customer

// The customer service: its configuration and dependencies, and what every rule uses
// (the tenant, the outbox, token revocation).

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

	"github.com/custodian-id/custodian/i18n"
	"github.com/custodian-id/custodian/identity"
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
	hashing   *HashLimiter
	now       func() time.Time
	rand      io.Reader
	publicURL string
	limits    Limits
	log       *slog.Logger
	tf        *twofactor.Service
	// webhookSecrets seals tenants' webhook secrets into the messages they sign.
	webhookSecrets *identity.WebhookSecrets
	// settingSecrets opens the other secret settings (import.firebase.signer_key).
	settingSecrets *identity.SettingSecrets
	// floor equalises the time of failed password checks (foreign.go).
	floor failureFloor
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
	// Hashing bounds the password hashes of requests that run at once (default:
	// NewHashLimiter with the default limits).
	Hashing *HashLimiter
	// PublicURL is the base of links in mails.
	PublicURL string
	// Limits, when set, are the rate limits of every tenant instead of the tenant's
	// ratelimit.* settings (zero: the settings; LimitsOf).
	Limits Limits
	// TwoFactor configures second factors; Notify, Now and Rand are filled in here.
	TwoFactor twofactor.Config
	// WebhookSecrets seals the webhook secret into messages of tenants with a webhook.
	WebhookSecrets *identity.WebhookSecrets
	// SettingSecrets opens the other secret settings (the Firebase signer key of
	// imported hashes); NewSettingSecrets of the server secret.
	SettingSecrets *identity.SettingSecrets
	// FailedPasswordFloor is the least time a failed password check takes (unknown
	// e-mail or wrong password); the checks of each tenant also wait for the average cost
	// of the dearest hash scheme the tenant verified lately (failureFloor). Zero: only that.
	FailedPasswordFloor time.Duration
	Now                 func() time.Time
	Rand                io.Reader
	Logger              *slog.Logger
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
	s := &Service{store: cfg.Store, tenants: cfg.Tenants, tokens: cfg.Tokens, guard: cfg.Guard, events: cfg.Events, outbox: cfg.Outbox, hasher: cfg.Hasher, hashing: cfg.Hashing,
		now: cfg.Now, rand: cfg.Rand, publicURL: strings.TrimRight(cfg.PublicURL, "/"), limits: cfg.Limits, log: cfg.Logger,
		webhookSecrets: cfg.WebhookSecrets, settingSecrets: cfg.SettingSecrets,
		floor: failureFloor{min: cfg.FailedPasswordFloor}}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	if s.hasher == nil {
		s.hasher = DefaultPasswordHasher()
	}
	if s.hashing == nil {
		s.hashing = NewHashLimiter(HashLimits{})
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

// CheckSecrets opens a stored authenticator-app secret with the configured server
// secret (twofactor.Service.CheckSecret); the server calls it at start.
func (s *Service) CheckSecrets(ctx context.Context) error { return s.tf.CheckSecret(ctx) }

// tenantOf returns the ctx tenant when it is the one named, else loads it.
func (s *Service) tenantOf(ctx context.Context, tenant string) (*identity.Tenant, error) {
	if t := identity.TenantFromContext(ctx); t != nil && t.Name == tenant {
		return t, nil
	}
	if s.tenants == nil {
		return nil, fmt.Errorf("tenant %q not in context", tenant)
	}
	t, err := s.tenants.GetTenant(ctx, tenant)
	if err != nil {
		return nil, fmt.Errorf("load tenant %q: %w", tenant, err)
	}
	return t, nil
}

// notify queues a message in the caller's transaction, by the tenant's webhook when it
// has one and by e-mail otherwise.
func (s *Service) notify(ctx context.Context, t *identity.Tenant, m *notify.Message) error {
	if s.outbox == nil {
		return errors.New("notify: no outbox configured")
	}
	m.Tenant = t.Name
	if m.Data == nil {
		m.Data = map[string]any{}
	}
	m.Data[notify.DataSenderName] = t.Settings.Branding.Name(t.Name)
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

// mailPrinter prints a mail to a customer in their language: the language stored on
// the account (preferredLanguage, localeCode) when the catalog has it, else the
// request's (i18n.WithLocale), else the tenant's branding.default_locale, else English.
func mailPrinter(ctx context.Context, t *identity.Tenant, a *Account) *i18n.Printer {
	var stored []string
	if a != nil {
		stored = []string{a.PreferredLanguage, a.LocaleCode}
	}
	return i18n.NewPrinter(i18n.ForMail(ctx, stored, t.Settings.Branding.DefaultLocale))
}

// mailBody joins a mail's paragraphs and signs it with the shop's name.
func mailBody(p *i18n.Printer, t *identity.Tenant, paragraphs ...string) string {
	return strings.Join(append(paragraphs, p.T("Best regards,\n%s", t.Settings.Branding.Name(t.Name))), "\n\n")
}
