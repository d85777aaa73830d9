package oauth

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/custodian-id/custodian/api"
)

// TestGuardAnswersInOAuthShape: an oversized body and a panic on the OAuth routes are
// answered in the OAuth error shape (RFC 6749 §5.2), not another dialect's.
func TestGuardAnswersInOAuthShape(t *testing.T) {
	p := &Provider{log: slog.New(slog.DiscardHandler), maxBody: 16}
	guard := api.Dialect(p.failRoute).Guard(p.maxBody, p.log)
	for _, tc := range []struct {
		name    string
		body    string
		handler http.Handler
		status  int
		want    map[string]string
	}{
		{"oversized", strings.Repeat("x", 17), http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }),
			http.StatusRequestEntityTooLarge, map[string]string{"error": "invalid_request", "error_description": "request body too large"}},
		{"panic", "", http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }),
			http.StatusInternalServerError, map[string]string{"error": "server_error"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			guard(tc.handler).ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/oauth2/acme/token", strings.NewReader(tc.body)))
			var got map[string]string
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || w.Code != tc.status {
				t.Fatalf("got %d %q (%v)", w.Code, w.Body.String(), err)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q (%v)", k, got[k], v, got)
				}
			}
			if len(got) != len(tc.want) || !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") ||
				w.Header().Get("Cache-Control") != "no-store" {
				t.Errorf("body %v, headers %v", got, w.Header())
			}
		})
	}
}
