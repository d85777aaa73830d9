package customer_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/egress"
	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/notify"
	"github.com/custodian-id/custodian/notify/notifytest"
	"github.com/custodian-id/custodian/storage"
	"github.com/custodian-id/custodian/storage/storagetest"
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
	svc    *customer.Service
	store  *storage.Store
	tenant *identity.Tenant
	clock  *clock
	smtp   *notifytest.SMTPServer
	outbox *notify.Outbox
}

func newFixture(t testing.TB, b storagetest.Backend, limits customer.Limits) *fixture {
	t.Helper()
	clk := &clock{t: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)}
	st := storagetest.Open(t, b, storage.Options{Now: clk.Now})
	smtp := notifytest.StartSMTP(t)
	sender, err := notify.NewSMTPSender(smtp.URL(), "shop@example.com")
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("a test server secret of at least thirty-two bytes")
	ws, err := identity.NewWebhookSecrets(secret)
	if err != nil {
		t.Fatal(err)
	}
	ob := notify.New(notify.Config{Store: st, Mail: sender, Webhook: notify.WebhookSender{Now: clk.Now, OpenSecret: ws.Open,
		Client: egress.Policy{AllowPrivate: true}.Client(10 * time.Second)}, Now: clk.Now})
	tfc, err := customer.TwoFactorConfig(st, secret)
	if err != nil {
		t.Fatal(err)
	}
	ss, err := identity.NewSettingSecrets(secret)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := customer.NewService(customer.Config{Store: st, Tenants: st, Tokens: st, Guard: st, Events: st, Outbox: ob,
		TwoFactor: tfc, WebhookSecrets: ws, SettingSecrets: ss, Hasher: &customer.PasswordHasher{Memory: 1024, Time: 1, Threads: 1}, PublicURL: "https://id.example",
		Limits: limits, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	tn := &identity.Tenant{Name: "shop", Settings: identity.DefaultSettings()}
	if err := st.CreateTenant(context.Background(), tn); err != nil {
		t.Fatal(err)
	}
	return &fixture{svc: svc, store: st, tenant: tn, clock: clk, smtp: smtp, outbox: ob}
}

func noLimits() customer.Limits {
	return customer.Limits{PerIP: customer.Limit{Max: 1 << 20, Window: time.Minute}, PerAccount: customer.Limit{Max: 1 << 20, Window: time.Minute}}
}

func (f *fixture) account(t *testing.T, email, password string) *customer.Account {
	t.Helper()
	a, err := f.svc.CreateAccount(context.Background(), "shop", customer.NewAccount{Email: email, Password: password, Active: true})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestLockoutConcurrent: 20 parallel wrong passwords count exactly 20 and lock each
// side exactly once; afterwards the right password says locked, and the lock runs out by itself.
func TestLockoutConcurrent(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			f := newFixture(t, b, noLimits())
			ctx := context.Background()
			a := f.account(t, "jane@example.com", "correct horse battery")
			var wg sync.WaitGroup
			errs := make(chan error, 20)
			for range 20 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := f.svc.Login(ctx, f.tenant, "jane@example.com", "wrong password!")
					errs <- err
				}()
			}
			wg.Wait()
			close(errs)
			// Each answer is a wrong password, or locked for a guess that arrived once
			// its side had locked; every one counts.
			for err := range errs {
				if !errors.Is(err, customer.ErrInvalidCredentials) && !errors.Is(err, customer.ErrLocked) {
					t.Fatalf("wrong password answered %v", err)
				}
			}
			st, err := f.svc.LoginState(ctx, f.tenant, a.ID)
			if err != nil {
				t.Fatal(err)
			}
			if st.FailedLoginAttemptCount != 20 || !st.IsLocked || st.LastLockedOn == nil || st.RemainingLoginAttempts != 0 {
				t.Errorf("login state %+v", st)
			}
			evs, _ := f.store.ListEvents(ctx, "shop", &a.ID, 100)
			// Smart lockout: one address with no known device locks its address at 5
			// and the unfamiliar side as a whole at 10, each exactly once.
			locks := map[any]int{}
			for _, e := range evs {
				if e.Kind == identity.EventAccountLocked {
					locks[e.Detail["side"]]++
				}
			}
			if len(locks) != 2 || locks["address"] != 1 || locks["unfamiliar"] != 1 {
				t.Errorf("locks %v, want the address and the unfamiliar side once each", locks)
			}
			if _, err := f.svc.Login(ctx, f.tenant, "jane@example.com", "correct horse battery"); !errors.Is(err, customer.ErrLocked) {
				t.Errorf("correct password while locked: %v", err)
			}
			// Locked, a wrong password answers as the right one does: the lock confirms no password.
			if _, err := f.svc.Login(ctx, f.tenant, "jane@example.com", "another wrong one"); !errors.Is(err, customer.ErrLocked) {
				t.Errorf("a wrong password while locked: %v, want locked", err)
			}
			// The lock runs out by itself (default 15 minutes); a success resets the count.
			f.clock.Advance(16 * time.Minute)
			if _, err := f.svc.Login(ctx, f.tenant, "jane@example.com", "correct horse battery"); err != nil {
				t.Fatalf("after the lock ran out: %v", err)
			}
			st, _ = f.svc.LoginState(ctx, f.tenant, a.ID)
			if st.FailedLoginAttemptCount != 0 || st.IsLocked || st.LastLoginOn == nil || st.RemainingLoginAttempts != 5 {
				t.Errorf("after success: %+v", st)
			}
		})
	}
}

// TestLockoutRestartsAfterExpiry: after a lock runs out, the count starts again and the
// threshold locks again.
func TestLockoutRestartsAfterExpiry(t *testing.T) {
	f := newFixture(t, storagetest.Backends(t)[0], noLimits())
	ctx := context.Background()
	a := f.account(t, "jane@example.com", "correct horse battery")
	wrong := func(n int) {
		for range n {
			_, _ = f.svc.Login(ctx, f.tenant, "jane@example.com", "nope nope nope")
		}
	}
	wrong(5)
	if st, _ := f.svc.LoginState(ctx, f.tenant, a.ID); !st.IsLocked {
		t.Fatal("not locked after 5 failures")
	}
	f.clock.Advance(16 * time.Minute)
	wrong(1)
	if st, _ := f.svc.LoginState(ctx, f.tenant, a.ID); st.IsLocked || st.FailedLoginAttemptCount != 1 {
		t.Fatalf("count did not restart: %+v", st)
	}
	wrong(4)
	if st, _ := f.svc.LoginState(ctx, f.tenant, a.ID); !st.IsLocked {
		t.Errorf("not locked again: %+v", st)
	}
	// Admin unlock.
	if err := f.svc.SetLock(ctx, f.tenant, a.ID, false); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Login(ctx, f.tenant, "jane@example.com", "correct horse battery"); err != nil {
		t.Errorf("after admin unlock: %v", err)
	}
}

// TestNoEnumeration: an unknown e-mail and a wrong password read the same; a locked or
// inactive account is only revealed with the right password.
func TestNoEnumeration(t *testing.T) {
	f := newFixture(t, storagetest.Backends(t)[0], noLimits())
	ctx := context.Background()
	a := f.account(t, "jane@example.com", "correct horse battery")
	_, e1 := f.svc.Login(ctx, f.tenant, "nobody@example.com", "whatever123")
	_, e2 := f.svc.Login(ctx, f.tenant, "jane@example.com", "whatever123")
	if !errors.Is(e1, customer.ErrInvalidCredentials) || e1.Error() != e2.Error() {
		t.Errorf("unknown e-mail %v vs wrong password %v", e1, e2)
	}
	if _, err := f.svc.SetStatus(ctx, "shop", a.ID, ptr(false), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Login(ctx, f.tenant, "jane@example.com", "whatever123"); !errors.Is(err, customer.ErrInvalidCredentials) {
		t.Errorf("inactive account revealed without the password: %v", err)
	}
	if _, err := f.svc.Login(ctx, f.tenant, "jane@example.com", "correct horse battery"); !errors.Is(err, customer.ErrInactive) {
		t.Errorf("inactive account with the password: %v", err)
	}
	if _, err := f.svc.SetStatus(ctx, "shop", a.ID, ptr(true), ptr(true)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Login(ctx, f.tenant, "jane@example.com", "correct horse battery"); !errors.Is(err, customer.ErrInactive) {
		t.Errorf("account on hold: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

// TestRateLimits: past the per-account limit the answer is a RateLimitError with the
// wait, whatever the password; the next window lets the shopper in again.
func TestRateLimits(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			f := newFixture(t, b, customer.Limits{PerIP: customer.Limit{Max: 100, Window: time.Minute}, PerAccount: customer.Limit{Max: 3, Window: time.Minute}})
			ctx := identity.WithRequestMeta(context.Background(), identity.RequestMeta{IP: "127.0.0.1"})
			f.account(t, "jane@example.com", "correct horse battery")
			for range 3 {
				if _, err := f.svc.Login(ctx, f.tenant, "jane@example.com", "correct horse battery"); err != nil {
					t.Fatal(err)
				}
			}
			_, err := f.svc.Login(ctx, f.tenant, "jane@example.com", "correct horse battery")
			var rl *identity.RateLimitError
			if !errors.As(err, &rl) || !errors.Is(err, customer.ErrRateLimited) || rl.RetryAfter <= 0 || rl.RetryAfter > time.Minute {
				t.Fatalf("over the limit: %v", err)
			}
			f.clock.Advance(time.Minute)
			if _, err := f.svc.Login(ctx, f.tenant, "jane@example.com", "correct horse battery"); err != nil {
				t.Errorf("next window: %v", err)
			}
		})
	}
}

var optinLink = regexp.MustCompile(`https://id\.example/customer/shop/signup/optin/([A-Za-z0-9_-]+)`)

// TestSignupOptIn: with double opt-in the account starts inactive, the link arrives by
// mail through the outbox, works once, and a resend replaces the old link.
func TestSignupOptIn(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			f := newFixture(t, b, noLimits())
			ctx := context.Background()
			f.tenant.Settings.SignupOptIn = true
			a, err := f.svc.Signup(ctx, f.tenant, customer.SignupRequest{Email: "new@example.com", Password: "password123",
				Details: customer.SignupDetails{FirstName: "John", LastName: "Doe",
					B2B: &customer.B2B{CompanyRegistrationID: "123-456-789", LegalEntities: []customer.Membership{{AccountID: "le-1", Name: "ABC", ContactAssignmentID: "91033918"}}}},
				Address: &customer.Address{Street: "Platz der Republik", StreetNumber: "1", ZipCode: "11011", City: "Berlin", Country: "DE", Tags: []string{"BILLING"}}})
			if err != nil {
				t.Fatal(err)
			}
			// The company registration id is the shopper's word: it is kept, and makes
			// the account B2B only under b2b.self_declared.
			if a.Active || a.CompanyRegistrationID != "123-456-789" || a.AccountType(f.tenant.Settings) != "B2C" {
				t.Errorf("new opt-in account: active %v registration %q type %s", a.Active, a.CompanyRegistrationID, a.AccountType(f.tenant.Settings))
			}
			selfDeclared := f.tenant.Settings
			selfDeclared.B2BSelfDeclared = true
			if a.AccountType(selfDeclared) != "B2B" {
				t.Errorf("b2b.self_declared: type %s", a.AccountType(selfDeclared))
			}
			// A signup cannot make itself a member of a B2B account.
			if ok, _ := f.svc.IsMember(ctx, "shop", a.ID, "le-1"); ok {
				t.Errorf("signup claimed a legal entity")
			}
			if _, err := f.svc.Login(ctx, f.tenant, "new@example.com", "password123"); !errors.Is(err, customer.ErrInactive) {
				t.Errorf("login before opt-in: %v", err)
			}
			if n, err := f.outbox.DeliverDue(ctx); n != 1 || err != nil {
				t.Fatalf("delivered %d: %v", n, err)
			}
			first := optinLink.FindStringSubmatch(f.smtp.WaitFor(t, "new@example.com", 5*time.Second).Body)
			if first == nil {
				t.Fatal("no opt-in link in the mail")
			}
			// A resend invalidates the first link.
			if err := f.svc.ResendOptIn(ctx, f.tenant, "new@example.com"); err != nil {
				t.Fatal(err)
			}
			if err := f.svc.ResendOptIn(ctx, f.tenant, "unknown@example.com"); err != nil {
				t.Errorf("resend for an unknown address: %v", err)
			}
			_, _ = f.outbox.DeliverDue(ctx)
			var second []string
			for _, m := range f.smtp.Messages() {
				if s := optinLink.FindStringSubmatch(m.Body); s != nil && s[1] != first[1] {
					second = s
				}
			}
			if second == nil {
				t.Fatal("no second link")
			}
			if _, err := f.svc.ConfirmOptIn(ctx, f.tenant, first[1]); !errors.Is(err, customer.ErrInvalidToken) {
				t.Errorf("superseded link: %v", err)
			}
			got, err := f.svc.ConfirmOptIn(ctx, f.tenant, second[1])
			if err != nil || !got.Active {
				t.Fatalf("confirm: %v %+v", err, got)
			}
			if _, err := f.svc.ConfirmOptIn(ctx, f.tenant, second[1]); !errors.Is(err, customer.ErrInvalidToken) {
				t.Errorf("link used twice: %v", err)
			}
			if _, err := f.svc.Login(ctx, f.tenant, "new@example.com", "password123"); err != nil {
				t.Errorf("login after opt-in: %v", err)
			}
		})
	}
}

func TestSignupValidation(t *testing.T) {
	f := newFixture(t, storagetest.Backends(t)[0], noLimits())
	ctx := context.Background()
	_, err := f.svc.Signup(ctx, f.tenant, customer.SignupRequest{Email: "not-an-email", Password: "short",
		Details: customer.SignupDetails{ContactEmail: "also bad"},
		Address: &customer.Address{Country: "Germany"}})
	var ve *identity.ValidationError
	if !errors.As(err, &ve) || !errors.Is(err, customer.ErrInvalid) {
		t.Fatalf("got %v", err)
	}
	want := map[string]bool{"email": true, "password": true, "customerDetails.contactEmail": true, "customerAddress.country": true,
		"customerAddress.street": true, "customerAddress.zipCode": true, "customerAddress.city": true}
	for _, fe := range ve.Fields {
		delete(want, fe.Field)
	}
	if len(want) != 0 {
		t.Errorf("fields not reported: %v (got %+v)", want, ve.Fields)
	}
	if _, err := f.svc.Signup(ctx, f.tenant, customer.SignupRequest{Email: "a@example.com", Password: "password123"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Signup(ctx, f.tenant, customer.SignupRequest{Email: "A@example.com", Password: "password123"}); !errors.Is(err, customer.ErrConflict) {
		t.Errorf("duplicate: %v", err)
	}
}

// TestWebhookChannel: a tenant with a webhook gets its notifications as signed posts.
func TestWebhookChannel(t *testing.T) {
	const secret = "tenant-webhook-secret-0123456789-abcdef"
	got := make(chan *http.Request, 1)
	bodies := make(chan []byte, 1)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- r
		bodies <- b
	}))
	defer hook.Close()
	f := newFixture(t, storagetest.Backends(t)[0], noLimits())
	ctx := context.Background()
	for k, v := range map[string]string{"signup.optin": "true", "notify.webhook_url": hook.URL, "notify.webhook_secret": secret} {
		if err := f.tenant.Settings.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.svc.Signup(ctx, f.tenant, customer.SignupRequest{Email: "hook@example.com", Password: "password123"}); err != nil {
		t.Fatal(err)
	}
	if n, err := f.outbox.DeliverDue(ctx); n != 1 || err != nil {
		t.Fatalf("delivered %d: %v", n, err)
	}
	r, body := <-got, <-bodies
	if r.Header.Get("X-Custodian-Signature") != notify.Sign(secret, f.clock.Now(), body) || r.Header.Get("X-Custodian-Event") != notify.KindSignupOptIn {
		t.Errorf("webhook headers %v", r.Header)
	}
	if !optinLink.Match(body) || len(f.smtp.Messages()) != 0 {
		t.Errorf("webhook body %s, mails %d", body, len(f.smtp.Messages()))
	}
}
