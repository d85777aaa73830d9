package twofactor

// Challenges: a second-factor step opened after a correct first factor, answered with an
// e-mailed code, an authenticator code or a recovery code, bound to the sign-in that
// opened it.

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/custodian-id/custodian/i18n"
	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/notify"
)

// Challenge is an open second-factor step, bound to the tenant, customer, client and
// device of the sign-in that opened it. Only the SHA-256 of its id is stored.
type Challenge struct {
	IDHash          string
	Tenant          string
	CustomerID      int64
	ClientID        string
	FingerprintHash string
	Region          string
	UserAgent       string
	Methods         []string
	CodeHash        string
	CodeExpiresAt   *time.Time
	CodeSentAt      *time.Time
	CodesSent       int
	AttemptsLeft    int
	ExpiresAt       time.Time
	UsedAt          *time.Time
	// Payload is what the caller needs to finish the sign-in (a B2B account, token
	// lifetimes, the shopper session), opaque to this package but for one key of its
	// own, PayloadLanguage.
	Payload   map[string]string
	CreatedAt time.Time
}

// Info is what a caller shows of an open challenge; its JSON is the twoFactorChallenge
// of both customer APIs (CONTRACT.md §2, §3).
type Info struct {
	ID                string     `json:"challengeId"`
	Methods           []string   `json:"methods"`
	ExpiresAt         time.Time  `json:"expiresAt"` // UTC
	AttemptsRemaining int        `json:"attemptsRemaining"`
	CodeExpiresAt     *time.Time `json:"codeExpiresAt,omitempty"` // the e-mailed code's expiry
}

func info(id string, c *Challenge) *Info {
	return &Info{ID: id, Methods: slices.Clone(c.Methods), ExpiresAt: c.ExpiresAt.UTC(), AttemptsRemaining: c.AttemptsLeft,
		CodeExpiresAt: c.CodeExpiresAt}
}

// PayloadLanguage is the key of a challenge's Payload under which Begin keeps the
// language of the first e-mailed code (the request's, i18n.WithLocale), so that every
// code it resends is written in the language of the flow that opened it rather than in
// that of the request asking for it. Callers do not use the key.
const PayloadLanguage = "twofactor.lang"

// Begin is what opening a challenge takes.
type Begin struct {
	Tenant     string
	CustomerID int64
	Email      string // where e-mailed codes go
	ClientID   string
	Attempt    Attempt
	UserAgent  string
	Payload    map[string]string
	// Methods the customer can use (Status.Methods); nil: looked up.
	Methods []string
}

// Begin opens a challenge and, when e-mail is its method, queues the first code, in one
// transaction.
func (s *Service) Begin(ctx context.Context, in Begin) (*Info, error) {
	methods := in.Methods
	if len(methods) == 0 {
		st, err := s.StatusOf(ctx, in.Tenant, in.CustomerID)
		if err != nil {
			return nil, err
		}
		methods = st.Methods()
	}
	id, idHash, err := s.newID()
	if err != nil {
		return nil, err
	}
	payload := in.Payload
	if tag, ok := i18n.LocaleFrom(ctx); ok && slices.Contains(methods, MethodEmail) {
		payload = maps.Clone(in.Payload)
		if payload == nil {
			payload = map[string]string{}
		}
		payload[PayloadLanguage] = i18n.Code(tag)
	}
	now := s.now().UTC()
	c := &Challenge{IDHash: idHash, Tenant: in.Tenant, CustomerID: in.CustomerID, ClientID: in.ClientID,
		FingerprintHash: in.Attempt.FingerprintHash, Region: in.Attempt.Region, UserAgent: in.UserAgent, Methods: methods,
		AttemptsLeft: MaxAttempts, ExpiresAt: now.Add(ChallengeTTL), Payload: payload, CreatedAt: now}
	var code string
	if methods[0] == MethodEmail {
		if code, err = newEmailCode(s.rand); err != nil {
			return nil, err
		}
		exp := now.Add(CodeTTL)
		c.CodeHash, c.CodeExpiresAt, c.CodeSentAt, c.CodesSent = hashCode(s.codeKey, idHash, code), &exp, &now, 1
	}
	err = s.store.InTx(ctx, func(ctx context.Context) error {
		if err := s.store.CreateChallenge(ctx, c); err != nil {
			return fmt.Errorf("create challenge: %w", err)
		}
		if code != "" {
			return s.sendCode(ctx, in.Tenant, in.Email, in.CustomerID, code)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return info(id, c), nil
}

func (s *Service) sendCode(ctx context.Context, tenant, to string, customerID int64, code string) error {
	// The language: the customer's stored one (the customer service puts it in ctx
	// before a sign-in), else the request's, else the tenant's default.
	def, name := "", tenant
	if t := identity.TenantFromContext(ctx); t != nil && t.Name == tenant {
		def, name = t.Settings.Branding.DefaultLocale, t.Settings.Branding.Name(tenant)
	}
	p := i18n.NewPrinter(i18n.ForMail(ctx, nil, def))
	return s.notify(ctx, &notify.Message{Tenant: tenant, Kind: notify.KindTwoFactorCode, To: to,
		Subject: p.T("Your sign-in code: %s", code),
		Body: strings.Join([]string{p.T("Your sign-in code is %s. It is valid for %s.", code, p.Duration(CodeTTL)),
			p.T("If you did not try to sign in, change your password: someone knows it."), p.T("Best regards,\n%s", name)}, "\n\n"),
		Data: map[string]any{"code": code, "customerId": customerID, "expiresInSeconds": int(CodeTTL / time.Second)}})
}

func (s *Service) newID() (id, hash string, err error) {
	b := make([]byte, 32)
	if _, err := io.ReadFull(s.rand, b); err != nil {
		return "", "", fmt.Errorf("challenge id: %w", err)
	}
	id = base64.RawURLEncoding.EncodeToString(b)
	return id, hashID(id), nil
}

func hashID(id string) string {
	sum := sha256.Sum256([]byte("challenge|" + id))
	return hex.EncodeToString(sum[:])
}

// open loads a challenge that the caller (tenant and client) may use.
func (s *Service) open(ctx context.Context, tenant, id, clientID string) (*Challenge, error) {
	if id == "" || len(id) > 128 {
		return nil, ErrChallenge
	}
	c, err := s.store.GetChallenge(ctx, tenant, hashID(id))
	if errors.Is(err, ErrNotFound) {
		return nil, ErrChallenge
	}
	if err != nil {
		return nil, fmt.Errorf("load challenge: %w", err)
	}
	if c.UsedAt != nil || !s.now().Before(c.ExpiresAt) || !hmac.Equal([]byte(c.ClientID), []byte(clientID)) {
		return nil, ErrChallenge
	}
	return c, nil
}

// Verify checks a code against a challenge and, when it is right, uses the challenge
// up. Every check spends one try first (a single conditional update), so concurrent
// guesses cannot exceed MaxAttempts. method "" means the challenge's first method.
func (s *Service) Verify(ctx context.Context, tenant, id, clientID, method, code string) (*Challenge, string, error) {
	c, err := s.open(ctx, tenant, id, clientID)
	if err != nil {
		return nil, "", err
	}
	if method == "" {
		method = c.Methods[0]
	}
	if !slices.Contains(c.Methods, method) {
		return nil, "", ErrMethod
	}
	now := s.now().UTC()
	if method == MethodEmail && (c.CodeExpiresAt == nil || !now.Before(*c.CodeExpiresAt)) {
		return nil, "", ErrCodeExpired
	}
	left, ok, err := s.store.SpendAttempt(ctx, tenant, c.IDHash)
	if err != nil {
		return nil, "", fmt.Errorf("spend attempt: %w", err)
	}
	if !ok {
		return nil, "", ErrNoAttempts
	}
	var right bool
	replayed := false
	switch method {
	case MethodEmail:
		right = c.CodeHash != "" && hmac.Equal([]byte(hashCode(s.codeKey, c.IDHash, code)), []byte(c.CodeHash))
	case MethodTOTP:
		right, replayed, err = s.checkTOTP(ctx, tenant, c.CustomerID, code, now)
	case MethodRecovery:
		right, err = s.store.UseRecoveryCode(ctx, tenant, c.CustomerID, s.recoveryHash(tenant, c.CustomerID, code), now)
	}
	if err != nil {
		return nil, "", err
	}
	if !right {
		return nil, "", &WrongCodeError{CustomerID: c.CustomerID, Remaining: left, Replayed: replayed,
			FingerprintHash: c.FingerprintHash}
	}
	if err := s.store.ConsumeChallenge(ctx, tenant, c.IDHash, now); errors.Is(err, ErrNotFound) {
		return nil, "", ErrChallenge
	} else if err != nil {
		return nil, "", fmt.Errorf("consume challenge: %w", err)
	}
	return c, method, nil
}

// Resend sends a new e-mailed code for a challenge (to the address emailOf gives for its
// customer), at most once per ResendCooldown and MaxCodes times; the new code gets fresh
// tries and the old one stops working.
func (s *Service) Resend(ctx context.Context, tenant, id, clientID string, emailOf func(ctx context.Context, customerID int64) (string, error)) (*Info, error) {
	c, err := s.open(ctx, tenant, id, clientID)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(c.Methods, MethodEmail) {
		return nil, ErrMethod
	}
	email, err := emailOf(ctx, c.CustomerID)
	if err != nil {
		return nil, err
	}
	if tag, ok := i18n.ParseCode(c.Payload[PayloadLanguage]); ok {
		ctx = i18n.WithLocale(ctx, tag) // the language of the first code
	}
	code, err := newEmailCode(s.rand)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	exp := now.Add(CodeTTL)
	err = s.store.InTx(ctx, func(ctx context.Context) error {
		ok, err := s.store.ReplaceCode(ctx, tenant, c.IDHash, hashCode(s.codeKey, c.IDHash, code), exp, now, now.Add(-ResendCooldown), MaxAttempts, MaxCodes)
		if err != nil {
			return fmt.Errorf("replace code: %w", err)
		}
		if !ok {
			if c.CodesSent >= MaxCodes {
				return ErrTooManyCodes
			}
			wait := ResendCooldown
			if c.CodeSentAt != nil {
				wait = c.CodeSentAt.Add(ResendCooldown).Sub(now)
			}
			return &CooldownError{RetryAfter: max(wait, time.Second)}
		}
		return s.sendCode(ctx, tenant, email, c.CustomerID, code)
	})
	if err != nil {
		return nil, err
	}
	c.CodeExpiresAt, c.CodeSentAt, c.AttemptsLeft = &exp, &now, MaxAttempts
	return info(id, c), nil
}
