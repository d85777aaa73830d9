package custodian_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"image/png"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"golang.org/x/oauth2"

	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/notify/notifytest"
	"github.com/custodian-id/custodian/oauth"
	"github.com/custodian-id/custodian/storage/storagetest"
)

// Second factors (issue 4) end to end: codes come from a real SMTP capture or are
// generated independently with pquerna/otp, on a pinned clock.

var codeMailRE = regexp.MustCompile(`sign-in code is (\d{6})`)

// ResendWait is a little more than the resend cooldown.
const ResendWait = 31 * time.Second

// mailedCode flushes the outbox and reads the code of the newest mail to the address;
// it fails unless a new mail arrived since before (the count of messages then).
func mailedCode(t *testing.T, e *env, smtp *notifytest.SMTPServer, email string, before int) string {
	t.Helper()
	if _, err := e.srv.DeliverNotifications(context.Background()); err != nil {
		t.Fatalf("deliver notifications: %v", err)
	}
	if n := len(smtp.Messages()); n <= before {
		t.Fatalf("no new mail (still %d)", n)
	}
	m := codeMailRE.FindStringSubmatch(smtp.WaitFor(t, email, 10*time.Second).Body)
	if m == nil {
		t.Fatalf("no code in the newest mail to %s", email)
	}
	return m[1]
}

func setTenant(t testing.TB, e *env, kv ...string) {
	t.Helper()
	set := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		set[kv[i]] = kv[i+1]
	}
	if _, err := e.srv.OAuth.UpdateTenantSettings(context.Background(), testTenant, set); err != nil {
		t.Fatalf("tenant settings %v: %v", set, err)
	}
}

// jwtClaims decodes a JWT's payload without checking it (other tests check signatures).
func jwtClaims(t *testing.T, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", jwt)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func amrOf(c map[string]any) []string {
	var out []string
	for _, v := range c["amr"].([]any) {
		out = append(out, v.(string))
	}
	return out
}

// additional reads a ticket error's additionalApplicationErrorData.
func additional(r ticketReply) map[string]string {
	out := map[string]string{}
	for _, d := range asSlice(r.body["additionalApplicationErrorData"]) {
		m := d.(map[string]any)
		out[m["name"].(string)] = m["value"].(string)
	}
	return out
}

func asSlice(v any) []any { s, _ := v.([]any); return s }

// TestTwoFactorTickets drives the ticket API through every second-factor case of the
// issue with e-mailed codes read from SMTP.
func TestTwoFactorTickets(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			smtp := notifytest.StartSMTP(t)
			e := newEnv(t, b, withSMTP(smtp))
			e.clock.Advance(0) // pin
			setTenant(t, e, "twofactor.triggers", "fingerprint,region", "twofactor.reverify_after", "48h")
			app := []string{"x-vol-tenant", testTenant, "Authorization", basicAuth(backendID, backendSec)}
			ticket := func(fp, region string) ticketReply {
				t.Helper()
				body, _ := json.Marshal(map[string]any{"username": shopperEmail, "password": shopperPass, "fingerprint": fp, "region": region})
				return ticketCall(t, e, http.MethodPost, "/api/commerce/customer/authtickets", string(body), app...)
			}
			challenge := func(r ticketReply) (string, map[string]any) {
				t.Helper()
				if r.status != http.StatusOK || r.body["requires2FA"] != true {
					t.Fatalf("want a challenge, got %d %s", r.status, r.raw)
				}
				wantKeys(t, "pending ticket", r.body, "requires2FA", "twoFactorChallenge")
				ch := r.body["twoFactorChallenge"].(map[string]any)
				return ch["challengeId"].(string), ch
			}
			verify := func(id, code string, remember bool, hdr ...string) ticketReply {
				t.Helper()
				body, _ := json.Marshal(map[string]any{"challengeId": id, "code": code, "rememberDevice": remember})
				if hdr == nil {
					hdr = app
				}
				return ticketCall(t, e, http.MethodPost, "/api/commerce/customer/authtickets/2fa/verify", string(body), hdr...)
			}
			resend := func(id string) ticketReply {
				body, _ := json.Marshal(map[string]any{"challengeId": id})
				return ticketCall(t, e, http.MethodPost, "/api/commerce/customer/authtickets/2fa/resend", string(body), app...)
			}
			wantReason := func(what string, r ticketReply, status int, reason string) {
				t.Helper()
				wantTicketError(t, what, r, status, map[int]string{401: "UNAUTHORIZED", 429: "TOO_MANY_REQUESTS", 403: "ACCOUNT_LOCKED"}[status])
				if got := additional(r)["reason"]; reason != "" && got != reason {
					t.Errorf("%s: reason %q, want %q (%s)", what, got, reason, r.raw)
				}
				if r.body["accessToken"] != nil {
					t.Errorf("%s: tokens in an error", what)
				}
			}

			// First sign-in on a new fingerprint: a challenge, no tokens, a mailed code.
			sent := len(smtp.Messages())
			id, ch := challenge(ticket("fp-1", "eu"))
			if !slices.Equal(asStrings(ch["methods"]), []string{"email"}) || ch["attemptsRemaining"] != float64(3) {
				t.Errorf("challenge %v", ch)
			}
			exp, err := time.Parse(time.RFC3339Nano, ch["expiresAt"].(string))
			if err != nil || exp.Sub(e.clock.Now().Add(10*time.Minute)).Abs() > time.Second {
				t.Errorf("expiresAt %v (%v), want now+10m", ch["expiresAt"], err)
			}
			code := mailedCode(t, e, smtp, shopperEmail, sent)

			// A wrong code counts down; the right one gives the full ticket.
			wrong := verify(id, otherCode(code), true)
			wantReason("wrong code", wrong, 401, "wrong_code")
			if additional(wrong)["attemptsRemaining"] != "2" {
				t.Errorf("attemptsRemaining after one wrong code: %s", wrong.raw)
			}
			full := verify(id, code, true)
			if full.status != http.StatusOK || full.body["requires2FA"] != false || full.body["accessToken"] == "" {
				t.Fatalf("verify: %d %s", full.status, full.raw)
			}
			wantKeys(t, "verified ticket", full.body, seedTicketFields...)
			acct := full.body["customerAccount"].(map[string]any)
			if last, _ := time.Parse(time.RFC3339Nano, acct["last2FaDate"].(string)); !last.Equal(e.clock.Now().UTC().Truncate(time.Microsecond)) {
				t.Errorf("last2FaDate %v, want %v", acct["last2FaDate"], e.clock.Now())
			}
			at := jwtClaims(t, full.body["jwtAccessToken"].(string))
			if amr := amrOf(at); !slices.Contains(amr, "pwd") || !slices.Contains(amr, "otp") || at["acr"] != "2" {
				t.Errorf("jwt amr %v acr %v", at["amr"], at["acr"])
			}
			wantReason("the same challenge again", verify(id, code, true), 401, "invalid_challenge")

			// The trusted device and region pass; a new region or device does not.
			if r := ticket("fp-1", "eu"); r.status != http.StatusOK || r.body["requires2FA"] != false || r.body["accessToken"] == "" {
				t.Errorf("trusted device: %d %s", r.status, r.raw)
			} else if amr := amrOf(jwtClaims(t, r.body["jwtAccessToken"].(string))); !slices.Equal(amr, []string{"pwd"}) {
				t.Errorf("trusted device sign-in amr %v", amr)
			}
			challenge(ticket("fp-1", "us"))
			challenge(ticket("fp-2", "eu"))
			challenge(ticket("", "eu"))

			// Another application cannot answer the challenge.
			e.clock.Advance(time.Minute) // the per-account sign-in limit is 10 a minute
			other := &oauth.Client{Tenant: testTenant, ID: "pos", GrantTypes: []string{identity.GrantClientCredentials}}
			if _, err := e.srv.OAuth.CreateClient(context.Background(), other, "pos-secret-0123456789-0123456789-abcdef"); err != nil {
				t.Fatal(err)
			}
			sent = len(smtp.Messages())
			id, _ = challenge(ticket("fp-3", "eu"))
			code = mailedCode(t, e, smtp, shopperEmail, sent)
			posApp := []string{"x-vol-tenant", testTenant, "Authorization", basicAuth("pos", "pos-secret-0123456789-0123456789-abcdef")}
			wantReason("another app's challenge", verify(id, code, false, posApp...), 401, "invalid_challenge")

			// An expired code: a new one after the cooldown works.
			e.clock.Advance(3*time.Minute + time.Second)
			wantReason("expired code", verify(id, code, false), 401, "code_expired")
			sent = len(smtp.Messages())
			if r := resend(id); r.status != http.StatusOK || r.body["requires2FA"] != true {
				t.Fatalf("resend: %d %s", r.status, r.raw)
			}
			wantReason("resend within the cooldown", resend(id), 429, "resend_cooldown")
			code2 := mailedCode(t, e, smtp, shopperEmail, sent)
			wantReason("the replaced code", verify(id, code, false), 401, "wrong_code")

			// Three wrong tries use the code up: the fourth fails even with the right code.
			wantReason("wrong 2", verify(id, otherCode(code2), false), 401, "wrong_code")
			last := verify(id, otherCode(code2), false)
			wantReason("wrong 3", last, 401, "wrong_code")
			if additional(last)["attemptsRemaining"] != "0" {
				t.Errorf("attemptsRemaining after three tries: %s", last.raw)
			}
			wantReason("fourth try", verify(id, code2, false), 401, "no_attempts_left")
			// A challenge sends five codes at most (two so far), then a new sign-in is needed.
			for range 3 {
				e.clock.Advance(ResendWait)
				if r := resend(id); r.status != http.StatusOK {
					t.Fatalf("resend: %d %s", r.status, r.raw)
				}
			}
			e.clock.Advance(ResendWait)
			wantReason("sixth code", resend(id), 401, "too_many_codes")

			// A challenge of another customer does not take this customer's code.
			e.clock.Advance(time.Minute)
			if _, err := e.srv.Customers.CreateAccount(context.Background(), testTenant, customerNew("bob@example.com", shopperPass)); err != nil {
				t.Fatal(err)
			}
			sent = len(smtp.Messages())
			challenge(ticket("fp-4", "eu"))
			janeCode := mailedCode(t, e, smtp, shopperEmail, sent)
			body, _ := json.Marshal(map[string]any{"username": "bob@example.com", "password": shopperPass, "fingerprint": "fp-4", "region": "eu"})
			bobID, _ := challenge(ticketCall(t, e, http.MethodPost, "/api/commerce/customer/authtickets", string(body), app...))
			if janeCode != mailedCode(t, e, smtp, "bob@example.com", sent+1) {
				wantReason("jane's code on bob's challenge", verify(bobID, janeCode, false), 401, "wrong_code")
			}

			// After the re-verification age a trusted device is asked again (it is still
			// trusted: twofactor.device_ttl is 30 days).
			e.clock.Advance(49 * time.Hour)
			if _, ch := challenge(ticket("fp-1", "eu")); ch["attemptsRemaining"] != float64(3) {
				t.Errorf("reverify challenge %v", ch)
			}

			// always: every sign-in.
			setTenant(t, e, "twofactor.triggers", "always")
			sent = len(smtp.Messages())
			id, _ = challenge(ticket("fp-1", "eu"))
			code = mailedCode(t, e, smtp, shopperEmail, sent)
			if r := verify(id, code, true); r.status != http.StatusOK {
				t.Fatalf("verify: %d %s", r.status, r.raw)
			}
			challenge(ticket("fp-1", "eu"))

			// off: never.
			setTenant(t, e, "twofactor.triggers", "off")
			if r := ticket("fp-9", "mars"); r.status != http.StatusOK || r.body["requires2FA"] != false {
				t.Errorf("off: %d %s", r.status, r.raw)
			}
		})
	}
}

// otherCode is a 6-digit code that is not code.
func otherCode(code string) string {
	b := []byte(code)
	b[0] = '0' + (b[0]-'0'+1)%10
	return string(b)
}

func asStrings(v any) []string {
	var out []string
	for _, x := range asSlice(v) {
		out = append(out, x.(string))
	}
	return out
}

// TestTwoFactorLockout: wrong codes count towards the account lockout, and a right
// password does not reset the count while its second factor is outstanding (nor is it
// recorded as a sign-in).
func TestTwoFactorLockout(t *testing.T) {
	b := storagetest.Backends(t)[0]
	smtp := notifytest.StartSMTP(t)
	e := newEnv(t, b, withSMTP(smtp))
	e.clock.Advance(0)
	setTenant(t, e, "twofactor.triggers", "always", "lockout.threshold", "3")
	anon := anonymousLogin(t, e)["access_token"].(string)
	wantLoginError(t, "wrong password", loginWith(t, e, anon, shopperEmail, "wrong password!"), http.StatusUnauthorized, "unauthorized")
	r := loginWith(t, e, anon, shopperEmail, shopperPass)
	id := r.body["twoFactorChallenge"].(map[string]any)["challengeId"].(string)
	acc, err := e.srv.Store().GetAccountByEmail(context.Background(), testTenant, shopperEmail)
	if err != nil {
		t.Fatal(err)
	}
	events, _ := e.srv.Store().ListEvents(context.Background(), testTenant, &acc.ID, 100)
	for _, ev := range events {
		if ev.Kind == identity.EventLoginSucceeded {
			t.Error("a password awaiting its second factor was recorded as a sign-in")
		}
	}
	for range 2 {
		got := loginCall(t, e, http.MethodPost, "/customer/"+testTenant+"/login/2fa", `{"challengeId":"`+id+`","code":"000000"}`, jsonBearer(anon)...)
		wantLoginError(t, "wrong code", got, http.StatusUnauthorized, "unauthorized", "code")
	}
	if got := loginWith(t, e, anon, shopperEmail, shopperPass); got.status != http.StatusForbidden {
		t.Errorf("after a wrong password and two wrong codes the right password: %d %s, want 403 (locked)", got.status, got.raw)
	}
}

// TestTwoFactorTOTP: enrollment, sign-in with the app, replay, recovery codes, devices
// and removal, through the customer login API.
func TestTwoFactorTOTP(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			smtp := notifytest.StartSMTP(t)
			e := newEnv(t, b, withSMTP(smtp))
			e.clock.Advance(0)
			anon := anonymousLogin(t, e)["access_token"].(string)
			login := func(fp string) loginReply {
				t.Helper()
				body, _ := json.Marshal(map[string]string{"email": shopperEmail, "password": shopperPass, "fingerprint": fp, "region": "de"})
				return loginCall(t, e, http.MethodPost, "/customer/"+testTenant+"/login", string(body), jsonBearer(anon)...)
			}
			second := func(id, method, code string, remember bool) loginReply {
				t.Helper()
				body, _ := json.Marshal(map[string]any{"challengeId": id, "method": method, "code": code, "rememberDevice": remember})
				return loginCall(t, e, http.MethodPost, "/customer/"+testTenant+"/login/2fa", string(body), jsonBearer(anon)...)
			}
			pending := func(r loginReply) (string, []string) {
				t.Helper()
				if r.status != http.StatusOK || r.body["requires2FA"] != true || r.body["access_token"] != nil {
					t.Fatalf("want a challenge, got %d %s", r.status, r.raw)
				}
				ch := r.body["twoFactorChallenge"].(map[string]any)
				return ch["challengeId"].(string), asStrings(ch["methods"])
			}
			first := login("laptop")
			if first.status != http.StatusOK || first.body["access_token"] == nil {
				t.Fatalf("login without a second factor: %d %s", first.status, first.raw)
			}
			me := first.body["access_token"].(string)

			// Enrollment: URI, secret and a PNG QR code; confirmed with a first code.
			enr := loginCall(t, e, http.MethodPost, "/customer/"+testTenant+"/me/2fa/totp", "", jsonBearer(me)...)
			if enr.status != http.StatusOK {
				t.Fatalf("enroll: %d %s", enr.status, enr.raw)
			}
			wantKeys(t, "enrollment", enr.body, "secret", "otpauthUri", "qrCodePng")
			key, err := otp.NewKeyFromURL(enr.body["otpauthUri"].(string))
			if err != nil || key.Secret() != enr.body["secret"] || key.Issuer() != testTenant || key.AccountName() != shopperEmail {
				t.Fatalf("otpauth URI %v: %v", enr.body["otpauthUri"], err)
			}
			pngBytes, _ := base64.StdEncoding.DecodeString(enr.body["qrCodePng"].(string))
			if img, err := png.Decode(bytes.NewReader(pngBytes)); err != nil || img.Bounds().Dx() < 100 {
				t.Errorf("QR code is not a PNG: %v", err)
			}
			codeAt := func(at time.Time) string {
				c, err := totp.GenerateCodeCustom(key.Secret(), at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
				if err != nil {
					t.Fatal(err)
				}
				return c
			}
			confirm := func(code string) loginReply {
				return loginCall(t, e, http.MethodPost, "/customer/"+testTenant+"/me/2fa/totp/confirm", `{"code":"`+code+`"}`, jsonBearer(me)...)
			}
			wantLoginError(t, "confirm with a wrong code", confirm(otherCode(codeAt(e.clock.Now()))), http.StatusUnauthorized, "unauthorized", "code")
			conf := confirm(codeAt(e.clock.Now()))
			if conf.status != http.StatusOK {
				t.Fatalf("confirm: %d %s", conf.status, conf.raw)
			}
			recovery := asStrings(conf.body["recoveryCodes"])
			if len(recovery) != 10 {
				t.Fatalf("recovery codes %v", recovery)
			}
			wantLoginError(t, "confirm twice", confirm(codeAt(e.clock.Now())), http.StatusConflict, "conflict_resource")

			// The app now guards new devices even though the tenant's triggers are off;
			// no code goes out by mail.
			e.clock.Advance(30 * time.Second)
			sent := len(smtp.Messages())
			id, methods := pending(login("phone"))
			if !slices.Equal(methods, []string{"totp", "recovery"}) {
				t.Errorf("methods %v", methods)
			}
			if _, err := e.srv.DeliverNotifications(context.Background()); err != nil {
				t.Fatal(err)
			}
			if len(smtp.Messages()) != sent {
				t.Error("a code was mailed to a customer with an authenticator app")
			}
			now := codeAt(e.clock.Now())
			ok := second(id, "", now, true)
			if ok.status != http.StatusOK || ok.body["access_token"] == nil {
				t.Fatalf("TOTP sign-in: %d %s", ok.status, ok.raw)
			}
			phoneToken := ok.body["access_token"].(string)
			// The same code again, in the same time step, on a new challenge: refused.
			id, _ = pending(login("tablet"))
			replay := second(id, "totp", now, false)
			wantLoginError(t, "replayed code", replay, http.StatusUnauthorized, "unauthorized", "code")
			if !strings.Contains(replay.raw, "code_already_used") {
				t.Errorf("replay reason: %s", replay.raw)
			}
			e.clock.Advance(30 * time.Second)
			if r := second(id, "totp", codeAt(e.clock.Now()), false); r.status != http.StatusOK {
				t.Fatalf("next step's code: %d %s", r.status, r.raw)
			}

			// A recovery code works once.
			e.clock.Advance(time.Minute)
			id, _ = pending(login("kiosk"))
			if r := second(id, "recovery", strings.ToUpper(recovery[0]), false); r.status != http.StatusOK {
				t.Fatalf("recovery code: %d %s", r.status, r.raw)
			}
			id, _ = pending(login("kiosk-2"))
			wantLoginError(t, "used recovery code", second(id, "recovery", recovery[0], false), http.StatusUnauthorized, "unauthorized", "code")
			if r := second(id, "email", "123456", false); r.status != http.StatusBadRequest {
				t.Errorf("e-mail method on a TOTP challenge: %d %s", r.status, r.raw)
			}

			// Devices: the phone is trusted; forgetting it revokes its tokens only.
			e.clock.Advance(time.Minute)
			if r := login("phone"); r.status != http.StatusOK || r.body["access_token"] == nil {
				t.Fatalf("trusted phone: %d %s", r.status, r.raw)
			}
			list := loginCall(t, e, http.MethodGet, "/customer/"+testTenant+"/me/devices", "", jsonBearer(me)...)
			var devices []map[string]any
			_ = json.Unmarshal([]byte(list.raw), &devices)
			var phoneID string
			trusted := 0
			for _, d := range devices {
				if d["trusted"] == true {
					trusted++
					phoneID = d["id"].(string)
				}
			}
			if list.status != http.StatusOK || trusted != 1 || len(devices) < 4 {
				t.Fatalf("devices: %d %s", list.status, list.raw)
			}
			del := loginCall(t, e, http.MethodDelete, "/customer/"+testTenant+"/me/devices/"+phoneID, "", jsonBearer(me)...)
			if del.status != http.StatusNoContent {
				t.Fatalf("forget device: %d %s", del.status, del.raw)
			}
			if r := loginCall(t, e, http.MethodGet, "/customer/"+testTenant+"/validateauthtoken", "", jsonBearer(phoneToken)...); r.status != http.StatusUnauthorized {
				t.Errorf("token of the forgotten device: %d", r.status)
			}
			if r := loginCall(t, e, http.MethodGet, "/customer/"+testTenant+"/validateauthtoken", "", jsonBearer(me)...); r.status != http.StatusOK {
				t.Errorf("token of another device: %d %s", r.status, r.raw)
			}
			if r := loginCall(t, e, http.MethodDelete, "/customer/"+testTenant+"/me/devices/"+phoneID, "", jsonBearer(me)...); r.status != http.StatusNotFound {
				t.Errorf("forget twice: %d %s", r.status, r.raw)
			}
			e.clock.Advance(time.Minute)
			pending(login("phone")) // no longer trusted

			// New recovery codes with a current authenticator code; the old ones stop working.
			e.clock.Advance(30 * time.Second)
			regen := loginCall(t, e, http.MethodPost, "/customer/"+testTenant+"/me/2fa/recovery-codes", `{"code":"`+codeAt(e.clock.Now())+`"}`, jsonBearer(me)...)
			fresh := asStrings(regen.body["recoveryCodes"])
			if regen.status != http.StatusOK || len(fresh) != 10 || fresh[0] == recovery[1] {
				t.Fatalf("regenerate: %d %s", regen.status, regen.raw)
			}
			if st := loginCall(t, e, http.MethodGet, "/customer/"+testTenant+"/me/2fa", "", jsonBearer(me)...); st.body["recoveryCodesRemaining"] != float64(10) {
				t.Errorf("after regenerating: %s", st.raw)
			}
			e.clock.Advance(time.Minute)
			id, _ = pending(login("kiosk-3"))
			wantLoginError(t, "an old recovery code", second(id, "recovery", recovery[1], false), http.StatusUnauthorized, "unauthorized", "code")

			// Removal needs the password and a code.
			remove := func(password, code string) loginReply {
				body, _ := json.Marshal(map[string]string{"password": password, "code": code})
				return loginCall(t, e, http.MethodDelete, "/customer/"+testTenant+"/me/2fa/totp", string(body), jsonBearer(me)...)
			}
			e.clock.Advance(30 * time.Second)
			wantLoginError(t, "remove with a wrong password", remove("wrong password!", codeAt(e.clock.Now())), http.StatusUnauthorized, "unauthorized")
			if r := remove(shopperPass, codeAt(e.clock.Now())); r.status != http.StatusNoContent {
				t.Fatalf("remove: %d %s", r.status, r.raw)
			}
			st := loginCall(t, e, http.MethodGet, "/customer/"+testTenant+"/me/2fa", "", jsonBearer(me)...)
			if st.body["totp"] != false || st.body["enabled"] != false || st.body["recoveryCodesRemaining"] != float64(0) {
				t.Errorf("status after removal: %s", st.raw)
			}
		})
	}
}

var notMeRE = regexp.MustCompile(`/customer/` + testTenant + `/security/not-me/([A-Za-z0-9_-]+)`)

// TestNewDeviceNotice: a sign-in from a second device mails a "this was not me" link
// that, once confirmed, ends every session and forgets every device.
func TestNewDeviceNotice(t *testing.T) {
	b := storagetest.Backends(t)[0]
	smtp := notifytest.StartSMTP(t)
	e := newEnv(t, b, withSMTP(smtp))
	e.clock.Advance(0)
	anon := anonymousLogin(t, e)["access_token"].(string)
	login := func(fp string) string {
		t.Helper()
		body, _ := json.Marshal(map[string]string{"email": shopperEmail, "password": shopperPass, "fingerprint": fp})
		r := loginCall(t, e, http.MethodPost, "/customer/"+testTenant+"/login", string(body), jsonBearer(anon)...)
		if r.status != http.StatusOK {
			t.Fatalf("login: %d %s", r.status, r.raw)
		}
		return r.body["access_token"].(string)
	}
	first := login("home")
	_ = login("home")
	if _, err := e.srv.DeliverNotifications(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(smtp.Messages()); n != 0 {
		t.Fatalf("%d mails for the first device", n)
	}
	login("elsewhere")
	if _, err := e.srv.DeliverNotifications(context.Background()); err != nil {
		t.Fatal(err)
	}
	m := notMeRE.FindStringSubmatch(smtp.WaitFor(t, shopperEmail, 10*time.Second).Body)
	if m == nil {
		t.Fatal("no not-me link in the new-device mail")
	}
	status, page := confirmNotMe(t, e, browser(t), m[1])
	if status != http.StatusOK || !strings.Contains(page, "signed out") {
		t.Errorf("not-me: %d %s", status, page)
	}
	if r := loginCall(t, e, http.MethodGet, "/customer/"+testTenant+"/validateauthtoken", "", jsonBearer(first)...); r.status != http.StatusUnauthorized {
		t.Errorf("a session survived the not-me link: %d", r.status)
	}
	fresh := login("home")
	list := loginCall(t, e, http.MethodGet, "/customer/"+testTenant+"/me/devices", "", jsonBearer(fresh)...)
	var devices []map[string]any
	_ = json.Unmarshal([]byte(list.raw), &devices)
	if len(devices) != 1 {
		t.Errorf("devices after not-me and one sign-in: %s", list.raw)
	}
	resp, _ := http.Get(e.url + "/customer/" + testTenant + "/security/not-me/" + m[1])
	if readBody(t, resp); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("not-me link used twice: %d", resp.StatusCode)
	}
}

// TestTwoFactorLoginPages: the authorization-code login pages ask for the code the same
// way; the ID token and JWT access token carry amr and acr.
func TestTwoFactorLoginPages(t *testing.T) {
	b := storagetest.Backends(t)[0]
	smtp := notifytest.StartSMTP(t)
	e := newEnv(t, b, withSMTP(smtp))
	setTenant(t, e, "twofactor.triggers", "always")
	ctx := context.Background()
	provider, err := oidc.NewProvider(ctx, e.issuer())
	if err != nil {
		t.Fatal(err)
	}
	conf := spaConfig(e, provider)
	c := browser(t)
	verifier := oauth2.GenerateVerifier()
	authURL := conf.AuthCodeURL("state-123456", oauth2.S256ChallengeOption(verifier), oidc.Nonce("nonce-abcdef"))
	action, csrf := loginForm(t, c, authURL)
	sent := len(smtp.Messages())
	resp := postForm(t, c, action, url.Values{"email": {shopperEmail}, "password": {shopperPass}, "csrf_token": {csrf}, "step": {"password"}})
	page := readBody(t, resp)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `name="code"`) {
		t.Fatalf("second-factor page: %d %s", resp.StatusCode, page)
	}
	challengeID := regexp.MustCompile(`name="challenge_id" value="([^"]+)"`).FindStringSubmatch(page)[1]
	action, csrf = formParts(t, resp.Request.URL, page)
	code := mailedCode(t, e, smtp, shopperEmail, sent)
	form := url.Values{"csrf_token": {csrf}, "step": {"2fa"}, "challenge_id": {challengeID}, "methods": {"email"}, "method": {"email"}}

	form.Set("code", otherCode(code))
	resp = postForm(t, c, action, form)
	if page = readBody(t, resp); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(page, "tries left") {
		t.Errorf("wrong code page: %d %s", resp.StatusCode, page)
	}
	form.Set("code", code)
	form.Set("csrf_token", "forged")
	if resp = postForm(t, c, action, form); resp.StatusCode != http.StatusForbidden {
		t.Errorf("forged CSRF token: %d", resp.StatusCode)
	}
	readBody(t, resp)
	form.Set("csrf_token", csrf)
	form.Set("remember_device", "on")
	resp = postForm(t, c, action, form)
	readBody(t, resp)
	if resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusFound {
		t.Fatalf("code POST: %d", resp.StatusCode)
	}
	loc, _ := url.Parse(resp.Header.Get("Location"))
	tok, err := conf.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	idt, err := provider.Verifier(&oidc.Config{ClientID: spaClient}).Verify(ctx, tok.Extra("id_token").(string))
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		AMR []string `json:"amr"`
		ACR string   `json:"acr"`
	}
	if err := idt.Claims(&claims); err != nil || !slices.Contains(claims.AMR, "otp") || !slices.Contains(claims.AMR, "mfa") || claims.ACR != "2" {
		t.Errorf("ID token amr %v acr %q (%v)", claims.AMR, claims.ACR, err)
	}
	at := jwtClaims(t, tok.Extra("jwt_access_token").(string))
	if !slices.Contains(amrOf(at), "otp") || at["acr"] != "2" {
		t.Errorf("JWT access token amr %v acr %v", at["amr"], at["acr"])
	}

	// The password grant cannot ask for a second factor, so it refuses.
	setTenant(t, e, "grants.password", "true", "grants.allowed", "authorization_code,refresh_token,client_credentials,password,"+identity.GrantAnonymous)
	if _, err := e.srv.OAuth.CreateClient(ctx, &oauth.Client{Tenant: testTenant, ID: "kiosk", FirstParty: true,
		GrantTypes: []string{identity.GrantPassword}}, "kiosk-secret-0123456789-0123456789-abc"); err != nil {
		t.Fatal(err)
	}
	status, body := tokenRequest(t, e, url.Values{"grant_type": {"password"}, "username": {shopperEmail}, "password": {shopperPass}},
		"kiosk", "kiosk-secret-0123456789-0123456789-abc")
	if status != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Errorf("password grant under always: %d %v", status, body)
	}
	// Without a second factor due, the first-party password grant signs in.
	setTenant(t, e, "twofactor.triggers", "off")
	status, body = tokenRequest(t, e, url.Values{"grant_type": {"password"}, "username": {shopperEmail}, "password": {shopperPass}},
		"kiosk", "kiosk-secret-0123456789-0123456789-abc")
	if status != http.StatusOK || body["access_token"] == nil {
		t.Fatalf("password grant: %d %v", status, body)
	}
	if amr := amrOf(jwtClaims(t, body["jwt_access_token"].(string))); !slices.Equal(amr, []string{"pwd"}) {
		t.Errorf("password grant amr %v", amr)
	}
}

// TestTwoFactorEnforcedAccounts: B2B buyers under twofactor.b2b_required, and shoppers who
// opted in, are asked on new devices even when the triggers are off.
func TestTwoFactorEnforcedAccounts(t *testing.T) {
	b := storagetest.Backends(t)[0]
	smtp := notifytest.StartSMTP(t)
	e := newEnv(t, b, withSMTP(smtp))
	e.clock.Advance(0)
	ctx := context.Background()
	setTenant(t, e, "twofactor.b2b_required", "true")
	if _, err := e.srv.Customers.CreateAccount(ctx, testTenant, customerNew("buyer@example.com", shopperPass)); err != nil {
		t.Fatal(err)
	}
	buyer, err := e.srv.Store().GetAccountByEmail(ctx, testTenant, "buyer@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Customers.AddMembership(ctx, testTenant, buyer.ID, customer.Membership{AccountID: "acme"}); err != nil {
		t.Fatal(err)
	}
	anon := anonymousLogin(t, e)["access_token"].(string)
	login := func(email, fp string) loginReply {
		t.Helper()
		body, _ := json.Marshal(map[string]string{"email": email, "password": shopperPass, "fingerprint": fp, "region": "de"})
		return loginCall(t, e, http.MethodPost, "/customer/"+testTenant+"/login", string(body), jsonBearer(anon)...)
	}
	if r := login("buyer@example.com", "office"); r.body["requires2FA"] != true {
		t.Errorf("B2B buyer on a new device: %d %s", r.status, r.raw)
	}
	r := login(shopperEmail, "home")
	if r.body["requires2FA"] == true || r.body["access_token"] == nil {
		t.Fatalf("B2C shopper: %d %s", r.status, r.raw)
	}
	me := r.body["access_token"].(string)

	// The shopper opts in: a device is asked until it is trusted; opting out needs the
	// password.
	on := loginCall(t, e, http.MethodPut, "/customer/"+testTenant+"/me/2fa", `{"enabled":true}`, jsonBearer(me)...)
	if on.status != http.StatusOK || on.body["enabled"] != true || !slices.Equal(asStrings(on.body["methods"]), []string{"email"}) {
		t.Fatalf("opt in: %d %s", on.status, on.raw)
	}
	sent := len(smtp.Messages())
	r = login(shopperEmail, "phone")
	if r.body["requires2FA"] != true {
		t.Fatalf("opted-in shopper on a new device: %d %s", r.status, r.raw)
	}
	code := mailedCode(t, e, smtp, shopperEmail, sent)
	id := r.body["twoFactorChallenge"].(map[string]any)["challengeId"].(string)
	ok := loginCall(t, e, http.MethodPost, "/customer/"+testTenant+"/login/2fa",
		`{"challengeId":"`+id+`","code":"`+code+`","rememberDevice":true}`, jsonBearer(anon)...)
	if ok.status != http.StatusOK || ok.body["access_token"] == nil {
		t.Fatalf("verify: %d %s", ok.status, ok.raw)
	}
	if r := login(shopperEmail, "phone"); r.body["requires2FA"] == true {
		t.Errorf("trusted phone asked again: %s", r.raw)
	}
	st := loginCall(t, e, http.MethodGet, "/customer/"+testTenant+"/me/2fa", "", jsonBearer(me)...)
	if st.body["last2FaDate"] == nil {
		t.Errorf("status without last2FaDate: %s", st.raw)
	}
	wantLoginError(t, "opt out without password", loginCall(t, e, http.MethodPut, "/customer/"+testTenant+"/me/2fa", `{"enabled":false}`, jsonBearer(me)...),
		http.StatusBadRequest, "bad_request", "password")
	if off := loginCall(t, e, http.MethodPut, "/customer/"+testTenant+"/me/2fa", `{"enabled":false,"password":"`+shopperPass+`"}`, jsonBearer(me)...); off.status != http.StatusOK || off.body["enabled"] != false {
		t.Errorf("opt out: %d %s", off.status, off.raw)
	}
	if r := login(shopperEmail, "laptop"); r.body["requires2FA"] == true {
		t.Errorf("opted-out shopper asked: %s", r.raw)
	}
}

// TestSecondFactorBadInput: every malformed or misdirected second-factor, device, link
// and connector request gets a clear error in its API's shape and changes nothing.
func TestSecondFactorBadInput(t *testing.T) {
	smtp := notifytest.StartSMTP(t)
	e := newEnv(t, storagetest.Backends(t)[0], withSMTP(smtp))
	e.clock.Advance(0)
	base := "/customer/" + testTenant
	anon := anonymousLogin(t, e)["access_token"].(string)
	me := loginWith(t, e, anon, shopperEmail, shopperPass).body["access_token"].(string)
	setTenant(t, e, "twofactor.triggers", "always")
	sent := len(smtp.Messages())
	challenge := loginWith(t, e, anon, shopperEmail, shopperPass).body["twoFactorChallenge"].(map[string]any)["challengeId"].(string)
	code := mailedCode(t, e, smtp, shopperEmail, sent)
	before := loginCall(t, e, http.MethodGet, base+"/me/2fa", "", jsonBearer(me)...).raw

	cases := []struct {
		name, method, path, body, token string
		status                          int
		typ                             string
		fields                          []string
	}{
		{"2fa: empty", http.MethodPost, "/login/2fa", `{}`, anon, 400, "bad_request", []string{"challengeId", "code"}},
		{"2fa: unknown field", http.MethodPost, "/login/2fa", `{"challengeId":"x","code":"1","otp":"1"}`, anon, 400, "bad_request", []string{"otp"}},
		{"2fa: wrong type", http.MethodPost, "/login/2fa", `{"challengeId":"x","code":123456}`, anon, 400, "bad_request", []string{"code"}},
		{"2fa: unknown challenge", http.MethodPost, "/login/2fa", `{"challengeId":"nope","code":"123456"}`, anon, 401, "unauthorized", []string{"code"}},
		{"2fa: unknown method", http.MethodPost, "/login/2fa", `{"challengeId":"` + challenge + `","code":"` + code + `","method":"sms"}`, anon, 400, "bad_request", []string{"code"}},
		{"2fa: customer token", http.MethodPost, "/login/2fa", `{"challengeId":"` + challenge + `","code":"` + code + `"}`, me, 401, "unauthorized", nil},
		{"2fa resend: empty", http.MethodPost, "/login/2fa/resend", `{}`, anon, 400, "bad_request", []string{"challengeId"}},
		{"totp confirm: nothing enrolled", http.MethodPost, "/me/2fa/totp/confirm", `{"code":"123456"}`, me, 409, "conflict_resource", []string{"code"}},
		{"totp confirm: wrong type", http.MethodPost, "/me/2fa/totp/confirm", `{"code":5}`, me, 400, "bad_request", []string{"code"}},
		{"totp confirm: too long", http.MethodPost, "/me/2fa/totp/confirm", `{"code":"` + strings.Repeat("1", 65) + `"}`, me, 400, "bad_request", []string{"code"}},
		{"totp remove: nothing enrolled", http.MethodDelete, "/me/2fa/totp", `{"password":"` + shopperPass + `","code":"123456"}`, me, 409, "conflict_resource", []string{"code"}},
		{"totp remove: no password", http.MethodDelete, "/me/2fa/totp", `{"code":"123456"}`, me, 400, "bad_request", []string{"password"}},
		{"opt-in: wrong type", http.MethodPut, "/me/2fa", `{"enabled":"yes"}`, me, 400, "bad_request", []string{"enabled"}},
		{"opt-in: missing", http.MethodPut, "/me/2fa", `{}`, me, 400, "bad_request", []string{"enabled"}},
		{"opt-in: anonymous token", http.MethodPut, "/me/2fa", `{"enabled":true}`, anon, 401, "unauthorized", nil},
		{"device: unknown", http.MethodDelete, "/me/devices/nope", "", me, 404, "resource_not_found", nil},
		{"unlink: no such link", http.MethodDelete, "/me/accounts/nope", "", me, 404, "resource_not_found", nil},
		{"socialLogin: unknown code", http.MethodPost, "/socialLogin?code=nope&redirect_uri=" + url.QueryEscape(spaRedirect) + "&code_verifier=" + strings.Repeat("v", 43), "", anon, 400, "bad_request", nil},
		{"exchange: no token", http.MethodPost, "/exchangeauthtoken", "", anon, 400, "bad_request", []string{"subjectAccessToken"}},
		{"exchange: a client without the grant", http.MethodPost, "/exchangeauthtoken?subjectAccessToken=nope", "", anon, 403, "forbidden", nil},
	}
	for _, tc := range cases {
		got := loginCall(t, e, tc.method, base+tc.path, tc.body, jsonBearer(tc.token)...)
		wantLoginError(t, tc.name, got, tc.status, tc.typ, tc.fields...)
	}

	app := []string{"x-vol-tenant", testTenant, "Authorization", basicAuth(backendID, backendSec)}
	for _, tc := range []struct {
		name, path, body string
		status           int
		code             string
	}{
		{"ticket verify: empty", "/2fa/verify", `{}`, 400, "MISSING_OR_INVALID_PARAMETER"},
		{"ticket verify: unknown field", "/2fa/verify", `{"challengeId":"x","code":"1","x":1}`, 400, "MISSING_OR_INVALID_PARAMETER"},
		{"ticket verify: another client's challenge", "/2fa/verify", `{"challengeId":"` + challenge + `","code":"` + code + `"}`, 401, "UNAUTHORIZED"},
		{"ticket resend: empty", "/2fa/resend", `{}`, 400, "MISSING_OR_INVALID_PARAMETER"},
	} {
		got := ticketCall(t, e, http.MethodPost, "/api/commerce/customer/authtickets"+tc.path, tc.body, app...)
		wantTicketError(t, tc.name, got, tc.status, tc.code)
	}

	for name, body := range map[string]string{
		"connector: bad issuer": `{"id":"g","issuer":"http://accounts.example","clientId":"c","clientSecret":"s"}`,
		"connector: bad id":     `{"id":"G!","issuer":"https://accounts.example","clientId":"c","clientSecret":"s"}`,
		"connector: no secret":  `{"id":"g","issuer":"https://accounts.example","clientId":"c"}`,
	} {
		if status, out := adminDo(t, e, http.MethodPost, "/admin/tenants/"+testTenant+"/connectors", body); status != http.StatusBadRequest {
			t.Errorf("%s: %d %v", name, status, out)
		}
	}
	if status, _ := adminDo(t, e, http.MethodPost, "/admin/tenants/"+testTenant+"/connectors",
		`{"id":"g","issuer":"https://accounts.example","clientId":"c","clientSecret":"s"}`); status != http.StatusCreated {
		t.Fatalf("connector: %d", status)
	}
	if status, _ := adminDo(t, e, http.MethodPost, "/admin/tenants/"+testTenant+"/connectors",
		`{"id":"g","issuer":"https://accounts.example","clientId":"c","clientSecret":"s"}`); status != http.StatusConflict {
		t.Errorf("duplicate connector: %d", status)
	}
	if status, _ := adminDo(t, e, http.MethodDelete, "/admin/tenants/"+testTenant+"/connectors/nope", ""); status != http.StatusNotFound {
		t.Errorf("delete unknown connector: %d", status)
	}

	// Nothing changed: the setup is the same, and the challenge still takes its code
	// (an unknown method spends no try; another client's attempt cannot touch it).
	if after := loginCall(t, e, http.MethodGet, base+"/me/2fa", "", jsonBearer(me)...).raw; after != before {
		t.Errorf("bad requests changed the second-factor setup:\n%s\n%s", before, after)
	}
	if r := loginCall(t, e, http.MethodPost, base+"/login/2fa", `{"challengeId":"`+challenge+`","code":"`+code+`"}`, jsonBearer(anon)...); r.status != http.StatusOK {
		t.Errorf("the challenge after the bad requests: %d %s", r.status, r.raw)
	}
}
