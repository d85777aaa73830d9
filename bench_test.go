package custodian_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/storage/storagetest"
)

// benchEnv builds a server on the first backend (SQLite, or PostgreSQL when
// CUSTODIAN_BENCH_POSTGRES is set) and calls its handler in-process, so the figures are
// Custodian's own cost per request without the network.
func benchEnv(b *testing.B) (*env, http.Handler) {
	b.Helper()
	backends := storagetest.Backends(b)
	be := backends[0]
	if len(backends) > 1 && os.Getenv("CUSTODIAN_BENCH_POSTGRES") != "" {
		be = backends[1]
	}
	e := newEnv(b, be)
	return e, e.srv.Handler()
}

func serveForm(b *testing.B, h http.Handler, path string, form url.Values, basic ...string) map[string]any {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if len(basic) == 2 {
		req.SetBasicAuth(basic[0], basic[1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		b.Fatalf("%s: %d %s", path, rec.Code, rec.Body.String())
	}
	var out map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		b.Fatal(err)
	}
	return out
}

func BenchmarkTokenClientCredentials(b *testing.B) {
	_, h := benchEnv(b)
	path := "/oauth2/" + testTenant + "/token"
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"orders"}}
	for b.Loop() {
		serveForm(b, h, path, form, backendID, backendSec)
	}
}

func BenchmarkTokenAnonymous(b *testing.B) {
	_, h := benchEnv(b)
	path := "/oauth2/" + testTenant + "/token"
	form := url.Values{"grant_type": {identity.GrantAnonymous}, "client_id": {spaClient}}
	for b.Loop() {
		serveForm(b, h, path, form)
	}
}

func BenchmarkTokenRefresh(b *testing.B) {
	_, h := benchEnv(b)
	path := "/oauth2/" + testTenant + "/token"
	rt := serveForm(b, h, path, url.Values{"grant_type": {identity.GrantAnonymous}, "client_id": {spaClient}})["refresh_token"].(string)
	for b.Loop() {
		out := serveForm(b, h, path, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {spaClient}})
		rt = out["refresh_token"].(string)
	}
}

// BenchmarkValidateJWTAccessToken is what a storefront API or Custodian's own
// customer APIs pay to accept a JWT access token (signature, claims, revocation check).
func BenchmarkValidateJWTAccessToken(b *testing.B) {
	e, h := benchEnv(b)
	out := serveForm(b, h, "/oauth2/"+testTenant+"/token", url.Values{"grant_type": {identity.GrantAnonymous}, "client_id": {spaClient}})
	jat := out["jwt_access_token"].(string)
	t, err := e.srv.OAuth.GetTenant(context.Background(), testTenant)
	if err != nil {
		b.Fatal(err)
	}
	ctx := identity.WithTenant(context.Background(), t)
	for b.Loop() {
		if _, err := e.srv.OAuth.ValidateAccessToken(ctx, jat); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValidateOpaqueAccessToken is the same for the opaque access token.
func BenchmarkValidateOpaqueAccessToken(b *testing.B) {
	e, h := benchEnv(b)
	out := serveForm(b, h, "/oauth2/"+testTenant+"/token", url.Values{"grant_type": {identity.GrantAnonymous}, "client_id": {spaClient}})
	at := out["access_token"].(string)
	t, err := e.srv.OAuth.GetTenant(context.Background(), testTenant)
	if err != nil {
		b.Fatal(err)
	}
	ctx := identity.WithTenant(context.Background(), t)
	for b.Loop() {
		if _, err := e.srv.OAuth.ValidateAccessToken(ctx, at); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTicketSignIn is a user ticket from username and password (argon2id
// dominates), without a second-factor policy, on a trusted device under the
// fingerprint+region policy (the policy's extra queries), and through a full TOTP
// second factor (challenge, then verify). The clock moves a minute per sign-in so the
// per-account rate limit does not trip.
func BenchmarkTicketSignIn(b *testing.B) {
	ticket := func(b *testing.B, e *env, h http.Handler, fp string) map[string]any {
		body, _ := json.Marshal(map[string]string{"username": shopperEmail, "password": shopperPass, "fingerprint": fp, "region": "eu"})
		req := httptest.NewRequest(http.MethodPost, "/api/commerce/customer/authtickets", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("x-vol-tenant", testTenant)
		req.SetBasicAuth(backendID, backendSec)
		return serveJSON(b, h, req)
	}
	verify := func(b *testing.B, h http.Handler, id, code string) map[string]any {
		body, _ := json.Marshal(map[string]any{"challengeId": id, "code": code, "rememberDevice": true})
		req := httptest.NewRequest(http.MethodPost, "/api/commerce/customer/authtickets/2fa/verify", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("x-vol-tenant", testTenant)
		req.SetBasicAuth(backendID, backendSec)
		return serveJSON(b, h, req)
	}
	b.Run("no-policy", func(b *testing.B) {
		e, h := benchEnv(b)
		for b.Loop() {
			e.clock.Advance(time.Minute)
			if ticket(b, e, h, "fp")["accessToken"] == "" {
				b.Fatal("no tokens")
			}
		}
	})
	b.Run("trusted-device", func(b *testing.B) {
		e, h := benchEnv(b)
		setTenant(b, e, "twofactor.triggers", "fingerprint,region")
		secret := enrollTOTP(b, e)
		e.clock.Advance(time.Minute) // the enrollment used the current step's code
		ch := ticket(b, e, h, "fp")["twoFactorChallenge"].(map[string]any)
		verify(b, h, ch["challengeId"].(string), totpCode(b, secret, e.clock.Now()))
		for b.Loop() {
			e.clock.Advance(time.Minute)
			if ticket(b, e, h, "fp")["requires2FA"] != false {
				b.Fatal("trusted device challenged")
			}
		}
	})
	b.Run("totp-challenge-and-verify", func(b *testing.B) {
		e, h := benchEnv(b)
		setTenant(b, e, "twofactor.triggers", "always")
		secret := enrollTOTP(b, e)
		for b.Loop() {
			e.clock.Advance(time.Minute)
			ch := ticket(b, e, h, "fp")["twoFactorChallenge"].(map[string]any)
			if verify(b, h, ch["challengeId"].(string), totpCode(b, secret, e.clock.Now()))["accessToken"] == "" {
				b.Fatal("no tokens")
			}
		}
	})
}

func serveJSON(b *testing.B, h http.Handler, req *http.Request) map[string]any {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		b.Fatalf("%s: %d %s", req.URL.Path, rec.Code, rec.Body.String())
	}
	var out map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		b.Fatal(err)
	}
	return out
}

// enrollTOTP enrolls an authenticator app for the test shopper and returns its secret.
func enrollTOTP(b *testing.B, e *env) string {
	ctx := context.Background()
	t, err := e.srv.OAuth.GetTenant(ctx, testTenant)
	if err != nil {
		b.Fatal(err)
	}
	acc, err := e.srv.Store().GetAccountByEmail(ctx, testTenant, shopperEmail)
	if err != nil {
		b.Fatal(err)
	}
	enr, err := e.srv.Customers.StartTOTP(ctx, t, acc.ID)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := e.srv.Customers.ConfirmTOTP(ctx, t, acc.ID, totpCode(b, enr.Secret, e.clock.Now())); err != nil {
		b.Fatal(err)
	}
	return enr.Secret
}

func totpCode(b *testing.B, secret string, at time.Time) string {
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkPasswordReset times POST /customer/{t}/password/reset for an address with an
// account and for one without: both paths count the rate limits and queue one job, so
// the answer does not tell which addresses have accounts (issue 10, item 7). The clock
// moves an hour between requests so the rate limits never answer instead.
func BenchmarkPasswordReset(b *testing.B) {
	for _, tc := range []struct{ name, email string }{{"known", shopperEmail}, {"unknown", "nobody@example.com"}} {
		b.Run(tc.name, func(b *testing.B) {
			e, h := benchEnv(b)
			e.clock.Advance(0)
			body := `{"email":"` + tc.email + `","site":"main"}`
			path := "/customer/" + testTenant + "/password/reset"
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				e.clock.Advance(time.Hour)
				anon := serveGet(b, h, "/customerlogin/auth/anonymous/login?tenant="+testTenant+"&client_id="+spaClient)["access_token"].(string)
				req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+anon)
				rec := httptest.NewRecorder()
				b.StartTimer()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusNoContent {
					b.Fatalf("reset: %d %s", rec.Code, rec.Body.String())
				}
			}
		})
	}
}

func serveGet(b *testing.B, h http.Handler, path string) map[string]any {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		b.Fatalf("%s: %d %s", path, rec.Code, rec.Body.String())
	}
	var out map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		b.Fatal(err)
	}
	return out
}

// customerSignIn signs the test shopper in through the login API and returns its
// answer: the opaque access token and the stored refresh token (one argon2id
// verification, before the timer).
func customerSignIn(b *testing.B, h http.Handler) map[string]any {
	b.Helper()
	anon := serveGet(b, h, "/customerlogin/auth/anonymous/login?tenant="+testTenant+"&client_id="+spaClient)["access_token"].(string)
	req := httptest.NewRequest(http.MethodPost, "/customer/"+testTenant+"/login",
		strings.NewReader(`{"email":"`+shopperEmail+`","password":"`+shopperPass+`"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+anon)
	return serveJSON(b, h, req)
}

// BenchmarkTokenRefreshCustomer is the rotation of a signed-in customer's stored refresh
// token (the load harness's refresh-customer): each answer's refresh token is the next
// request's, as a storefront uses them.
func BenchmarkTokenRefreshCustomer(b *testing.B) {
	_, h := benchEnv(b)
	rt := customerSignIn(b, h)["refresh_token"].(string)
	path := "/oauth2/" + testTenant + "/token"
	for b.Loop() {
		out := serveForm(b, h, path, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {spaClient}})
		rt = out["refresh_token"].(string)
	}
}

// BenchmarkIntrospect is POST /oauth2/{t}/introspect of a signed-in customer's opaque
// access token by the backend (HTTP Basic): the stored-token read path.
func BenchmarkIntrospect(b *testing.B) {
	_, h := benchEnv(b)
	form := url.Values{"token": {customerSignIn(b, h)["access_token"].(string)}}
	for b.Loop() {
		if out := serveForm(b, h, "/oauth2/"+testTenant+"/introspect", form, backendID, backendSec); out["active"] != true {
			b.Fatalf("inactive: %v", out)
		}
	}
}

// BenchmarkCustomerRead is what a signed-in customer's read costs with an opaque
// token: validateauthtoken and GET /me.
func BenchmarkCustomerRead(b *testing.B) {
	for _, path := range []string{"validateauthtoken", "me"} {
		b.Run(path, func(b *testing.B) {
			_, h := benchEnv(b)
			tok := customerSignIn(b, h)["access_token"].(string)
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, "/customer/"+testTenant+"/"+path, nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				serveJSON(b, h, req)
			}
		})
	}
}
