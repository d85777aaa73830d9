package customer_test

import (
	"context"
	"errors"
	"regexp"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/storage/storagetest"
	"github.com/custodian-id/custodian/twofactor"
)

// TestAuthenticatorApp: enrolling an app needs a first code and answers recovery
// codes once; an app turns second factors on; a code cannot be used twice; removing
// the app needs the password and a current code; a recovery code signs in once.
func TestAuthenticatorApp(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			f := newFixture(t, b, noLimits())
			ctx := context.Background()
			a := f.account(t, "jane@example.com", "correct horse battery")
			e, err := f.svc.StartTOTP(ctx, f.tenant, a.ID)
			if err != nil || e.Secret == "" || len(e.QRCodePNG) == 0 {
				t.Fatalf("start: %v %+v", err, e)
			}
			now := func() string {
				code, err := totp.GenerateCode(e.Secret, f.clock.Now())
				if err != nil {
					t.Fatal(err)
				}
				return code
			}
			if _, err := f.svc.ConfirmTOTP(ctx, f.tenant, a.ID, "000000"); !errors.As(err, new(*twofactor.WrongCodeError)) {
				t.Errorf("confirm with a wrong code: %v", err)
			}
			codes, err := f.svc.ConfirmTOTP(ctx, f.tenant, a.ID, now())
			if err != nil || len(codes) == 0 {
				t.Fatalf("confirm: %v %v", err, codes)
			}
			st, err := f.svc.TwoFactor(ctx, "shop", a.ID)
			if err != nil || !st.TOTP || !st.OptedIn || st.RecoveryRemaining != len(codes) {
				t.Errorf("status: %v %+v", err, st)
			}
			// The app turns second factors on: a sign-in owes one now, even with the policy off.
			res, err := f.svc.SignIn(ctx, f.tenant, customer.SignIn{Email: "jane@example.com", Password: "correct horse battery", ClientID: "web",
				Fingerprint: "browser-1"})
			if err != nil || res.Challenge == nil {
				t.Fatalf("sign in with an app: %v %+v", err, res)
			}
			f.clock.Advance(twofactor.TOTPPeriod)
			done, err := f.svc.CompleteSecondFactor(ctx, f.tenant, customer.SecondFactor{ChallengeID: res.Challenge.ID, ClientID: "web",
				Method: twofactor.MethodTOTP, Code: now()})
			if err != nil || done.Account.ID != a.ID {
				t.Fatalf("answer with the app: %v", err)
			}
			// The same code again (same time step): refused as replayed.
			if err := f.svc.RemoveTOTP(ctx, f.tenant, a.ID, "correct horse battery", now()); !errors.As(err, new(*twofactor.WrongCodeError)) {
				t.Errorf("a code used twice: %v", err)
			}
			f.clock.Advance(twofactor.TOTPPeriod)
			if err := f.svc.RemoveTOTP(ctx, f.tenant, a.ID, "wrong password", now()); !errors.Is(err, customer.ErrInvalidCredentials) {
				t.Errorf("remove with a wrong password: %v", err)
			}
			// A recovery code answers a challenge once.
			res, err = f.svc.SignIn(ctx, f.tenant, customer.SignIn{Email: "jane@example.com", Password: "correct horse battery", ClientID: "web",
				Fingerprint: "browser-2"})
			if err != nil || res.Challenge == nil {
				t.Fatalf("second sign-in: %v %+v", err, res)
			}
			answer := customer.SecondFactor{ChallengeID: res.Challenge.ID, ClientID: "web", Method: twofactor.MethodRecovery, Code: codes[0]}
			if _, err := f.svc.CompleteSecondFactor(ctx, f.tenant, answer); err != nil {
				t.Fatalf("recovery code: %v", err)
			}
			if st, _ := f.svc.TwoFactor(ctx, "shop", a.ID); st.RecoveryRemaining != len(codes)-1 {
				t.Errorf("recovery codes left: %d", st.RecoveryRemaining)
			}
			f.clock.Advance(twofactor.TOTPPeriod)
			if err := f.svc.RemoveTOTP(ctx, f.tenant, a.ID, "correct horse battery", now()); err != nil {
				t.Fatalf("remove: %v", err)
			}
			if st, _ := f.svc.TwoFactor(ctx, "shop", a.ID); st.TOTP {
				t.Errorf("still enrolled: %+v", st)
			}
		})
	}
}

var notMeLink = regexp.MustCompile(`/security/not-me/([A-Za-z0-9_-]+)`)

// TestNewDeviceAndNotMe: a sign-in from a new device of an account that has others is
// announced by mail; its "this was not me" link forgets every device, works once.
func TestNewDeviceAndNotMe(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			f := newFixture(t, b, noLimits())
			ctx := context.Background()
			a := f.account(t, "jane@example.com", "correct horse battery")
			in := customer.SignIn{Email: "jane@example.com", Password: "correct horse battery", ClientID: "web", Fingerprint: "browser-1"}
			if _, err := f.svc.SignIn(ctx, f.tenant, in); err != nil {
				t.Fatal(err)
			}
			in.Fingerprint = "browser-2"
			if _, err := f.svc.SignIn(ctx, f.tenant, in); err != nil {
				t.Fatal(err)
			}
			if _, err := f.outbox.DeliverDue(ctx); err != nil {
				t.Fatal(err)
			}
			m := notMeLink.FindStringSubmatch(f.smtp.WaitFor(t, "jane@example.com", 5*time.Second).Body)
			if m == nil || len(f.smtp.Messages()) != 1 {
				t.Fatalf("one new-device mail with a link: %d mails", len(f.smtp.Messages()))
			}
			if ds, _ := f.svc.Devices(ctx, "shop", a.ID); len(ds) != 2 {
				t.Fatalf("devices: %+v", ds)
			}
			if err := f.svc.CheckNotMe(ctx, f.tenant, m[1]); err != nil {
				t.Errorf("the link before it is used: %v", err)
			}
			if err := f.svc.NotMe(ctx, f.tenant, m[1]); err != nil {
				t.Fatal(err)
			}
			if ds, _ := f.svc.Devices(ctx, "shop", a.ID); len(ds) != 0 {
				t.Errorf("devices after not-me: %+v", ds)
			}
			if err := f.svc.NotMe(ctx, f.tenant, m[1]); !errors.Is(err, customer.ErrInvalidToken) {
				t.Errorf("the link used twice: %v", err)
			}
		})
	}
}

// TestExportAndErase: the export holds the account, addresses, devices and audit trail;
// erasure needs the password and leaves nothing personal behind.
func TestExportAndErase(t *testing.T) {
	f := newFixture(t, storagetest.Backends(t)[0], noLimits())
	ctx := context.Background()
	a := f.account(t, "jane@example.com", "correct horse battery")
	if _, err := f.svc.SignIn(ctx, f.tenant, customer.SignIn{Email: "jane@example.com", Password: "correct horse battery", Fingerprint: "b-1"}); err != nil {
		t.Fatal(err)
	}
	x, err := f.svc.Export(ctx, "shop", a.ID)
	if err != nil || x.Account.Email != "jane@example.com" || len(x.Devices) != 1 || len(x.Events) == 0 {
		t.Fatalf("export: %v %+v", err, x)
	}
	if err := f.svc.Erase(ctx, f.tenant, a.ID, "wrong password", ""); !errors.Is(err, customer.ErrInvalidCredentials) {
		t.Errorf("erase with a wrong password: %v", err)
	}
	if err := f.svc.Erase(ctx, f.tenant, a.ID, "correct horse battery", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Login(ctx, f.tenant, "jane@example.com", "correct horse battery"); !errors.Is(err, customer.ErrInvalidCredentials) {
		t.Errorf("sign in after erasure: %v", err)
	}
}
