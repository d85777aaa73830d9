package twofactor_test

import (
	"context"
	"errors"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/notify"
	"github.com/custodian-id/custodian/storage"
	"github.com/custodian-id/custodian/storage/storagetest"
	"github.com/custodian-id/custodian/twofactor"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type fixture struct {
	svc   *twofactor.Service
	clock *clock
	id    int64 // a customer of tenant "shop"
	mu    sync.Mutex
	codes []string // e-mailed codes, oldest first
}

var codeIn = regexp.MustCompile(`\d{6}`)

func newFixture(t *testing.T, b storagetest.Backend) *fixture {
	t.Helper()
	clk := &clock{t: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)}
	st := storagetest.Open(t, b, storage.Options{Now: clk.Now})
	ctx := context.Background()
	if err := st.CreateTenant(ctx, &identity.Tenant{Name: "shop", Settings: identity.DefaultSettings()}); err != nil {
		t.Fatal(err)
	}
	a := &customer.Account{Tenant: "shop", Email: "jane@example.com", Active: true}
	if err := st.CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	secret := []byte("a test server secret of at least thirty-two bytes")
	sealer, err := identity.NewSealerFor(secret, "test/totp")
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{clock: clk, id: a.ID}
	f.svc, err = twofactor.NewService(twofactor.Config{Store: st, Sealer: sealer, CodeKey: identity.DeriveKey(secret, "test/code"),
		DeviceKey: identity.DeriveKey(secret, "test/device"), Now: clk.Now,
		Notify: func(_ context.Context, m *notify.Message) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.codes = append(f.codes, codeIn.FindString(m.Subject))
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) lastCode() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.codes[len(f.codes)-1]
}

func (f *fixture) begin(t *testing.T) *twofactor.Info {
	t.Helper()
	info, err := f.svc.Begin(context.Background(), twofactor.Begin{Tenant: "shop", CustomerID: f.id, Email: "jane@example.com",
		ClientID: "web", Methods: []string{twofactor.MethodEmail}, Payload: map[string]string{"k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func wrongOf(code string) string {
	if code == "000000" {
		return "111111"
	}
	return "000000"
}

// TestEmailedCodes: a challenge's e-mailed code works once, for the client that opened
// it, within its lifetime and a few tries; new codes come after a cooldown, and only a
// few of them.
func TestEmailedCodes(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			f := newFixture(t, b)
			ctx := context.Background()
			info := f.begin(t)
			if info.AttemptsRemaining != twofactor.MaxAttempts || info.CodeExpiresAt == nil || info.ExpiresAt.Location() != time.UTC {
				t.Errorf("opened challenge: %+v", info)
			}
			code := f.lastCode()
			var wrong *twofactor.WrongCodeError
			if _, _, err := f.svc.Verify(ctx, "shop", info.ID, "web", "", wrongOf(code)); !errors.As(err, &wrong) ||
				wrong.Remaining != twofactor.MaxAttempts-1 || wrong.CustomerID != f.id {
				t.Errorf("wrong code: %v", err)
			}
			if _, _, err := f.svc.Verify(ctx, "shop", info.ID, "other-client", "", code); !errors.Is(err, twofactor.ErrChallenge) {
				t.Errorf("another client: %v", err)
			}
			if _, _, err := f.svc.Verify(ctx, "shop", info.ID, "web", twofactor.MethodTOTP, code); !errors.Is(err, twofactor.ErrMethod) {
				t.Errorf("a method the challenge does not offer: %v", err)
			}
			emailOf := func(context.Context, int64) (string, error) { return "jane@example.com", nil }
			var cool *twofactor.CooldownError
			if _, err := f.svc.Resend(ctx, "shop", info.ID, "web", emailOf); !errors.As(err, &cool) || cool.RetryAfter <= 0 {
				t.Errorf("resend at once: %v", err)
			}
			f.clock.Advance(twofactor.CodeTTL + time.Second)
			if _, _, err := f.svc.Verify(ctx, "shop", info.ID, "web", "", code); !errors.Is(err, twofactor.ErrCodeExpired) {
				t.Errorf("an expired code: %v", err)
			}
			again, err := f.svc.Resend(ctx, "shop", info.ID, "web", emailOf)
			if err != nil || again.AttemptsRemaining != twofactor.MaxAttempts {
				t.Fatalf("resend after the cooldown: %v %+v", err, again)
			}
			if f.lastCode() == code && len(f.codes) != 2 {
				t.Errorf("no new code mailed: %v", f.codes)
			}
			c, method, err := f.svc.Verify(ctx, "shop", info.ID, "web", "", f.lastCode())
			if err != nil || method != twofactor.MethodEmail || c.CustomerID != f.id || c.Payload["k"] != "v" {
				t.Fatalf("the right code: %v %s %+v", err, method, c)
			}
			if _, _, err := f.svc.Verify(ctx, "shop", info.ID, "web", "", f.lastCode()); !errors.Is(err, twofactor.ErrChallenge) {
				t.Errorf("a challenge answered twice: %v", err)
			}
		})
	}
}

func TestCodeLimits(t *testing.T) {
	f := newFixture(t, storagetest.Backends(t)[0])
	ctx := context.Background()
	info := f.begin(t)
	for i := range twofactor.MaxAttempts {
		if _, _, err := f.svc.Verify(ctx, "shop", info.ID, "web", "", wrongOf(f.lastCode())); !errors.As(err, new(*twofactor.WrongCodeError)) {
			t.Fatalf("wrong code %d: %v", i, err)
		}
	}
	if _, _, err := f.svc.Verify(ctx, "shop", info.ID, "web", "", f.lastCode()); !errors.Is(err, twofactor.ErrNoAttempts) {
		t.Errorf("after the last try: %v", err)
	}
	emailOf := func(context.Context, int64) (string, error) { return "jane@example.com", nil }
	var err error
	for range twofactor.MaxCodes {
		f.clock.Advance(twofactor.ResendCooldown)
		if _, err = f.svc.Resend(ctx, "shop", info.ID, "web", emailOf); err != nil {
			break
		}
	}
	if !errors.Is(err, twofactor.ErrTooManyCodes) {
		t.Errorf("past the last code: %v", err)
	}
	f.clock.Advance(twofactor.ChallengeTTL)
	if _, _, err := f.svc.Verify(ctx, "shop", info.ID, "web", "", f.lastCode()); !errors.Is(err, twofactor.ErrChallenge) {
		t.Errorf("an expired challenge: %v", err)
	}
}

// TestDevices: a device is recorded once per fingerprint, trusted for the time asked,
// and forgotten one by one or all at once.
func TestDevices(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			f := newFixture(t, b)
			ctx := context.Background()
			seen := twofactor.Seen{Tenant: "shop", CustomerID: f.id, UserAgent: "Firefox",
				Attempt: twofactor.Attempt{FingerprintHash: f.svc.DeviceHash("shop", "browser-1"), Region: "DE"}}
			d, created, err := f.svc.Touch(ctx, seen)
			if err != nil || !created || d.TrustedAt(f.clock.Now()) {
				t.Fatalf("first sight: %v %v %+v", err, created, d)
			}
			seen.TrustFor = time.Hour
			again, created, err := f.svc.Touch(ctx, seen)
			if err != nil || created || again.ID != d.ID || !again.TrustedAt(f.clock.Now()) || again.TrustedAt(f.clock.Now().Add(2*time.Hour)) {
				t.Fatalf("trusted for an hour: %v %v %+v", err, created, again)
			}
			if f.svc.DeviceHash("shop", "browser-1") == f.svc.DeviceHash("other", "browser-1") || f.svc.DeviceHash("shop", "") != "" {
				t.Error("a fingerprint's hash must depend on the tenant, and none for no fingerprint")
			}
			seen.Attempt.FingerprintHash, seen.TrustFor = f.svc.DeviceHash("shop", "browser-2"), 0
			if _, _, err := f.svc.Touch(ctx, seen); err != nil {
				t.Fatal(err)
			}
			if err := f.svc.Forget(ctx, "shop", f.id, d.ID); err != nil {
				t.Fatal(err)
			}
			if err := f.svc.Forget(ctx, "shop", f.id, d.ID); !errors.Is(err, twofactor.ErrNotFound) || !errors.Is(err, identity.ErrNotFound) {
				t.Errorf("forget twice: %v", err)
			}
			ids, err := f.svc.ForgetAll(ctx, "shop", f.id)
			if err != nil || len(ids) != 1 {
				t.Errorf("forget all: %v %v", err, ids)
			}
		})
	}
}
