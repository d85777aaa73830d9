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

	"github.com/custodian-id/custodian/oauth"
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
	form := url.Values{"grant_type": {oauth.GrantAnonymous}, "client_id": {spaClient}}
	for b.Loop() {
		serveForm(b, h, path, form)
	}
}

func BenchmarkTokenRefresh(b *testing.B) {
	_, h := benchEnv(b)
	path := "/oauth2/" + testTenant + "/token"
	rt := serveForm(b, h, path, url.Values{"grant_type": {oauth.GrantAnonymous}, "client_id": {spaClient}})["refresh_token"].(string)
	for b.Loop() {
		out := serveForm(b, h, path, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {spaClient}})
		rt = out["refresh_token"].(string)
	}
}

// BenchmarkValidateJWTAccessToken is what a storefront API or Custodian's own
// customer APIs pay to accept a JWT access token (signature, claims, revocation check).
func BenchmarkValidateJWTAccessToken(b *testing.B) {
	e, h := benchEnv(b)
	out := serveForm(b, h, "/oauth2/"+testTenant+"/token", url.Values{"grant_type": {oauth.GrantAnonymous}, "client_id": {spaClient}})
	jat := out["jwt_access_token"].(string)
	t, err := e.srv.OAuth.GetTenant(context.Background(), testTenant)
	if err != nil {
		b.Fatal(err)
	}
	ctx := oauth.WithTenant(context.Background(), t)
	for b.Loop() {
		if _, err := e.srv.OAuth.ValidateAccessToken(ctx, jat); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValidateOpaqueAccessToken is the same for the opaque access token.
func BenchmarkValidateOpaqueAccessToken(b *testing.B) {
	e, h := benchEnv(b)
	out := serveForm(b, h, "/oauth2/"+testTenant+"/token", url.Values{"grant_type": {oauth.GrantAnonymous}, "client_id": {spaClient}})
	at := out["access_token"].(string)
	t, err := e.srv.OAuth.GetTenant(context.Background(), testTenant)
	if err != nil {
		b.Fatal(err)
	}
	ctx := oauth.WithTenant(context.Background(), t)
	for b.Loop() {
		if _, err := e.srv.OAuth.ValidateAccessToken(ctx, at); err != nil {
			b.Fatal(err)
		}
	}
}
