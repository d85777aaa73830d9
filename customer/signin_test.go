package customer_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/storage/storagetest"
	"github.com/custodian-id/custodian/twofactor"
)

var signInCode = regexp.MustCompile(`Your sign-in code: (\d{6})`)

// code delivers the outbox and reads the last sign-in code mailed to an address.
func (f *fixture) code(t *testing.T, to string) string {
	t.Helper()
	if _, err := f.outbox.DeliverDue(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.smtp.WaitFor(t, to, 5*time.Second)
	var code string
	for _, m := range f.smtp.Messages() {
		if slices.Contains(m.To, to) {
			if s := signInCode.FindStringSubmatch(m.Subject); s != nil {
				code = s[1]
			}
		}
	}
	if code == "" {
		t.Fatalf("no sign-in code mailed to %s", to)
	}
	return code
}

// TestSignInSecondFactorDecision: after a correct password, SignIn asks the tenant's
// policy, and opens a challenge (and no account for tokens) exactly when it says so.
func TestSignInSecondFactorDecision(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			f := newFixture(t, b, noLimits())
			for i, tc := range []struct {
				name      string
				triggers  string
				b2b       bool // the tenant requires a second factor of B2B accounts
				member    bool // the account is a member of a B2B account
				optIn     bool // the customer opted in to second factors
				in        customer.SignIn
				challenge bool
				err       error
			}{
				{name: "policy off", triggers: "off"},
				{name: "always", triggers: "always", challenge: true},
				{name: "new device", triggers: "fingerprint", in: customer.SignIn{Fingerprint: "browser-1"}, challenge: true},
				{name: "B2B required for a member", triggers: "off", b2b: true, member: true, challenge: true},
				{name: "B2B required, not a member", triggers: "off", b2b: true},
				{name: "opted in", triggers: "off", optIn: true, challenge: true},
				{name: "entry point that cannot ask", triggers: "always", in: customer.SignIn{NoChallenge: true},
					err: identity.ErrSecondFactorRequired},
				{name: "member of the named account", triggers: "off", member: true, in: customer.SignIn{Member: "acct-1"}},
				{name: "not a member of the named account", triggers: "always", in: customer.SignIn{Member: "acct-9"},
					err: customer.ErrNotMember},
				{name: "wrong password", triggers: "always", in: customer.SignIn{Password: "wrong password"},
					err: customer.ErrInvalidCredentials},
			} {
				t.Run(tc.name, func(t *testing.T) {
					ctx := context.Background()
					f.tenant.Settings = identity.DefaultSettings()
					if err := f.tenant.Settings.Set("twofactor.triggers", tc.triggers); err != nil {
						t.Fatal(err)
					}
					f.tenant.Settings.TwoFactorB2BRequired = tc.b2b
					email := fmt.Sprintf("case%d@example.com", i)
					a := f.account(t, email, "correct horse battery")
					if tc.member {
						if err := f.svc.AddMembership(ctx, "shop", a.ID, customer.Membership{AccountID: "acct-1"}); err != nil {
							t.Fatal(err)
						}
					}
					if tc.optIn {
						if err := f.svc.SetTwoFactorOptIn(ctx, f.tenant, a.ID, true, ""); err != nil {
							t.Fatal(err)
						}
					}
					in := tc.in
					in.Email, in.ClientID = email, "web"
					if in.Password == "" {
						in.Password = "correct horse battery"
					}
					res, err := f.svc.SignIn(ctx, f.tenant, in)
					if tc.err != nil {
						if !errors.Is(err, tc.err) {
							t.Fatalf("got %v, want %v", err, tc.err)
						}
						return
					}
					if err != nil {
						t.Fatal(err)
					}
					if (res.Challenge != nil) != tc.challenge {
						t.Fatalf("challenge %+v, want one: %v", res.Challenge, tc.challenge)
					}
					if tc.challenge {
						if res.AMR != nil || res.Challenge.ID == "" || !slices.Contains(res.Challenge.Methods, twofactor.MethodEmail) {
							t.Errorf("pending sign-in: %+v", res)
						}
						st, _ := f.svc.LoginState(ctx, f.tenant, a.ID)
						if st.LastLoginOn != nil {
							t.Error("a sign-in that owes a second factor counted as a login")
						}
						return
					}
					if !slices.Equal(res.AMR, []string{"pwd"}) || res.Account.ID != a.ID {
						t.Errorf("signed in: %+v", res)
					}
				})
			}
		})
	}
}

// TestCompleteSecondFactor: a wrong code counts towards the lockout like a wrong
// password; the right one finishes the sign-in once, stamps last2FaDate and, with
// rememberDevice, trusts the device so that it is not asked again.
func TestCompleteSecondFactor(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			f := newFixture(t, b, noLimits())
			ctx := context.Background()
			if err := f.tenant.Settings.Set("twofactor.triggers", "fingerprint"); err != nil {
				t.Fatal(err)
			}
			a := f.account(t, "jane@example.com", "correct horse battery")
			in := customer.SignIn{Email: "jane@example.com", Password: "correct horse battery", ClientID: "web", Fingerprint: "browser-1",
				Payload: map[string]string{"accountId": "7"}}
			res, err := f.svc.SignIn(ctx, f.tenant, in)
			if err != nil || res.Challenge == nil {
				t.Fatalf("sign in: %v %+v", err, res)
			}
			code := f.code(t, "jane@example.com")
			answer := customer.SecondFactor{ChallengeID: res.Challenge.ID, ClientID: "web", Code: "000000", RememberDevice: true}
			if code == answer.Code {
				answer.Code = "111111"
			}
			var wrong *twofactor.WrongCodeError
			if _, err := f.svc.CompleteSecondFactor(ctx, f.tenant, answer); !errors.As(err, &wrong) || wrong.Remaining != twofactor.MaxAttempts-1 {
				t.Fatalf("wrong code: %v", err)
			}
			if st, _ := f.svc.LoginState(ctx, f.tenant, a.ID); st.FailedLoginAttemptCount != 1 {
				t.Errorf("a wrong code did not count: %+v", st)
			}
			other := answer
			other.ClientID, other.Code = "another-client", code
			if _, err := f.svc.CompleteSecondFactor(ctx, f.tenant, other); !errors.Is(err, twofactor.ErrChallenge) {
				t.Errorf("another client's challenge: %v", err)
			}
			answer.Code = code
			done, err := f.svc.CompleteSecondFactor(ctx, f.tenant, answer)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(done.AMR, []string{"pwd", "otp", "mfa"}) || done.Account.Last2FAAt == nil || done.DeviceID == "" ||
				done.Payload["accountId"] != "7" {
				t.Errorf("completed: %+v", done)
			}
			if st, _ := f.svc.LoginState(ctx, f.tenant, a.ID); st.FailedLoginAttemptCount != 0 || st.LastLoginOn == nil {
				t.Errorf("a completed sign-in leaves %+v", st)
			}
			if _, err := f.svc.CompleteSecondFactor(ctx, f.tenant, answer); !errors.Is(err, twofactor.ErrChallenge) {
				t.Errorf("a challenge answered twice: %v", err)
			}
			// The remembered device is not asked again.
			again, err := f.svc.SignIn(ctx, f.tenant, in)
			if err != nil || again.Challenge != nil || again.DeviceID != done.DeviceID {
				t.Errorf("remembered device: %v %+v", err, again)
			}
			devices, err := f.svc.Devices(ctx, "shop", a.ID)
			if err != nil || len(devices) != 1 || !devices[0].TrustedAt(f.clock.Now()) {
				t.Errorf("devices: %v %+v", err, devices)
			}
		})
	}
}

// TestWrongCodesLock: wrong second factors lock the account as wrong passwords do.
func TestWrongCodesLock(t *testing.T) {
	f := newFixture(t, storagetest.Backends(t)[0], noLimits())
	ctx := context.Background()
	if err := f.tenant.Settings.Set("twofactor.triggers", "always"); err != nil {
		t.Fatal(err)
	}
	f.tenant.Settings.LockoutThreshold = 2
	f.account(t, "jane@example.com", "correct horse battery")
	in := customer.SignIn{Email: "jane@example.com", Password: "correct horse battery", ClientID: "web"}
	for i := range 2 {
		res, err := f.svc.SignIn(ctx, f.tenant, in)
		if err != nil {
			t.Fatalf("sign in %d: %v", i, err)
		}
		var wrong *twofactor.WrongCodeError
		if _, err := f.svc.CompleteSecondFactor(ctx, f.tenant, customer.SecondFactor{ChallengeID: res.Challenge.ID, ClientID: "web",
			Code: "not-a-code"}); !errors.As(err, &wrong) {
			t.Fatalf("wrong code %d: %v", i, err)
		}
	}
	if _, err := f.svc.SignIn(ctx, f.tenant, in); !errors.Is(err, customer.ErrLocked) {
		t.Errorf("after two wrong codes: %v, want locked", err)
	}
}
